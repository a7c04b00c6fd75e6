"""Pure DSP on arrays: the circle, the meter, the limiter, channel mapping, the room."""

from __future__ import annotations

import math

import numpy as np
import pytest
from audio import balance, drum_mix, frame_energy, loudness_lufs, pink_noise, true_peak_dbtp

from surroundyou.channels import to_stereo
from surroundyou.limiter import TruePeakLimiter
from surroundyou.loudness import LoudnessMeter
from surroundyou.motion import CircularPanner, azimuth
from surroundyou.room import RoomSend

RATE = 44100


def run_blocks(process, x: np.ndarray, block: int) -> np.ndarray:
    return np.concatenate([process(x[:, i : i + block]) for i in range(0, x.shape[1], block)], axis=1)


def test_azimuth_starts_in_front_and_turns_right_first() -> None:
    period = 12.0
    quarter = np.array([0, 3, 6, 9]) * RATE
    np.testing.assert_allclose(np.degrees(azimuth(quarter, RATE, period)), [0, 90, 180, 270], atol=1e-9)


def test_pan_follows_sin_azimuth_on_noise() -> None:
    period = 6.0
    x = pink_noise(2 * period, RATE, channels=1).repeat(2, axis=0)
    y = run_blocks(CircularPanner(RATE, period).process, x, 65536)
    bal, t = balance(y, RATE)
    expected = np.sin(azimuth(t * RATE, RATE, period))
    assert np.corrcoef(bal, expected)[0, 1] > 0.95
    # right ear louder in the first half-turn, left in the second
    assert bal[(t > 0.2 * period) & (t < 0.3 * period)].mean() > 0.5
    assert bal[(t > 0.7 * period) & (t < 0.8 * period)].mean() < -0.5


def test_pan_is_equal_power_around_the_circle() -> None:
    period = 8.0
    x = pink_noise(period, RATE, channels=1).repeat(2, axis=0)
    y = CircularPanner(RATE, period).process(x)
    e_out, _ = frame_energy(y, RATE, 0.5)
    e_in, _ = frame_energy(x, RATE, 0.5)
    level = 10 * np.log10(e_out.sum(axis=0) / e_in.sum(axis=0))
    assert level.max() - level.min() <= 0.5
    assert abs(level.mean()) < 0.2  # a centred mono source keeps its power


@pytest.mark.parametrize("block", [1, 7, 1024, 4097])
def test_panner_does_not_depend_on_block_size(block: int) -> None:
    x = pink_noise(0.5, RATE, seed=3)
    ref = run_blocks(CircularPanner(RATE, 2.0).process, x, 65536)
    out = run_blocks(CircularPanner(RATE, 2.0).process, x, block)
    assert np.abs(out - ref).max() <= 1e-5


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 48000, 96000])
@pytest.mark.parametrize("block", [4410, 65536, 999])
def test_streaming_meter_matches_pyloudnorm(rate: int, block: int) -> None:
    x = pink_noise(6.0, rate, seed=rate)
    x[:, : rate * 2] *= 0.05  # a quiet start exercises the relative gate
    meter = LoudnessMeter(rate)
    for i in range(0, x.shape[1], block):
        meter.add(x[:, i : i + block])
    assert meter.integrated() == pytest.approx(loudness_lufs(x, rate), abs=0.01)


def test_meter_reads_a_full_scale_sine_in_one_channel_as_minus_3_lufs() -> None:
    t = np.arange(5 * 48000) / 48000
    x = np.zeros((2, t.size), np.float32)
    x[0] = np.sin(2 * np.pi * 997 * t)
    meter = LoudnessMeter(48000)
    meter.add(x)
    assert meter.integrated() == pytest.approx(-3.01, abs=0.05)


def test_meter_on_silence_and_short_input_is_minus_infinity() -> None:
    meter = LoudnessMeter(RATE)
    meter.add(np.zeros((2, RATE * 2), np.float32))
    assert meter.integrated() == -math.inf
    short = LoudnessMeter(RATE)
    short.add(pink_noise(0.3, RATE))
    assert short.integrated() == -math.inf


def loud_music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Peaks far over 0 dBFS, band-limited like music after an MP3 low-pass."""
    return drum_mix(seconds, RATE, seed=seed, level=0.4, hits_per_s=4, hit=6.0, hit_hz=4000, top_hz=16000)


@pytest.mark.parametrize("ceiling", [-1.0, -3.0])
def test_limiter_holds_the_true_peak_ceiling(ceiling: float) -> None:
    x = loud_music_like(10.0)
    assert true_peak_dbtp(x) > ceiling + 6  # the test signal really needs limiting
    limiter = TruePeakLimiter(RATE, ceiling)
    y = np.concatenate([run_blocks(limiter.process, x, 65536), limiter.flush()], axis=1)
    assert y.shape == x.shape
    assert true_peak_dbtp(y) <= ceiling + 0.1


def test_limiter_leaves_quiet_audio_untouched() -> None:
    x = pink_noise(3.0, RATE, level=0.05)
    limiter = TruePeakLimiter(RATE, -1.0)
    y = np.concatenate([run_blocks(limiter.process, x, 1000), limiter.flush()], axis=1)
    np.testing.assert_array_equal(y, x)  # latency compensated exactly, gain exactly 1
    assert limiter.max_reduction_db == 0.0


@pytest.mark.parametrize("block", [1, 2, 3, 100, 4097])
def test_limiter_does_not_depend_on_block_size(block: int) -> None:
    x = loud_music_like(0.5, seed=1)
    ref_lim = TruePeakLimiter(RATE, -2.0)
    ref = np.concatenate([run_blocks(ref_lim.process, x, 65536), ref_lim.flush()], axis=1)
    lim = TruePeakLimiter(RATE, -2.0)
    out = np.concatenate([run_blocks(lim.process, x, block), lim.flush()], axis=1)
    assert out.shape == x.shape
    assert np.abs(out - ref).max() <= 1e-5


def test_limiter_shortcut_for_blocks_far_below_the_ceiling_changes_nothing() -> None:
    """Blocks whose every need is 1 take a closed-form path; it must give the same bits as the full one."""
    loud, quiet = loud_music_like(3.0, seed=2), pink_noise(3.0, RATE, level=0.05, seed=3)
    x = np.concatenate((quiet, loud, quiet, loud[:, :20000], quiet), axis=1)  # rests, peaks, releases
    fast = TruePeakLimiter(RATE, -2.0)
    full = TruePeakLimiter(RATE, -2.0)
    outs: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    shortcuts = 0
    for start in range(0, x.shape[1], 8192):
        block = x[:, start : start + 8192]
        shortcuts += fast._at_rest
        outs[0].append(fast.process(block))
        full._at_rest = False  # always the full path
        outs[1].append(full.process(block))
    assert shortcuts >= 10  # the quiet stretches did take the shortcut
    np.testing.assert_array_equal(np.concatenate(outs[0], axis=1), np.concatenate(outs[1], axis=1))
    assert fast.max_reduction_db == full.max_reduction_db > 6.0


def test_limiter_returns_every_frame_of_a_stream_shorter_than_its_latency() -> None:
    x = np.full((2, 5), 0.1, np.float32)
    limiter = TruePeakLimiter(RATE, -1.0)
    y = np.concatenate([run_blocks(limiter.process, x, 1), limiter.flush()], axis=1)
    np.testing.assert_array_equal(y, x)


def test_channel_mapping() -> None:
    mono = np.arange(4, dtype=np.float32)[None, :]
    np.testing.assert_array_equal(to_stereo(mono), np.vstack([mono, mono]))
    six = np.zeros((6, 3), np.float32)
    six[2] = 1.0  # centre
    six[3] = 1.0  # LFE is dropped
    np.testing.assert_allclose(to_stereo(six), np.full((2, 3), math.sqrt(0.5)), atol=1e-6)
    six[:] = 0
    six[4] = 1.0  # back left goes left only
    out = to_stereo(six)
    assert out[0].min() > 0.7 and np.all(out[1] == 0)


def test_room_is_still_and_does_not_depend_on_block_size() -> None:
    x = pink_noise(1.0, RATE, seed=2)
    ref = run_blocks(RoomSend(RATE, 0.2).process, x, 65536)
    out = run_blocks(RoomSend(RATE, 0.2).process, x, 1001)
    assert np.abs(out - ref).max() <= 1e-5
    assert np.abs(ref[:, : int(0.015 * RATE)]).max() < 1e-6  # the pre-delay: no wet before 20 ms
    room = RoomSend(RATE, 0.2)
    room.process(x)
    tail = np.concatenate(list(room.tail()), axis=1)
    assert 0.3 * RATE < tail.shape[1] <= 4.0 * RATE + 8192
    assert np.abs(tail[:, -8192:]).max() < 10 ** (-70 / 20)


def test_room_tail_continues_after_small_blocks() -> None:
    # Regression: pedalboard clears a plugin when a larger block than before arrives.
    x = pink_noise(1.0, RATE, seed=5)
    tails = []
    for block in (65536, 256):
        room = RoomSend(RATE, 0.2, max_block=block)
        run_blocks(room.process, x, block)
        tails.append(np.concatenate(list(room.tail()), axis=1))
    assert tails[0].shape == tails[1].shape
    assert np.abs(tails[0] - tails[1]).max() <= 1e-5
    assert np.abs(tails[1][:, :4410]).max() > 1e-3
