"""The true-peak limiter: its ceiling, its transparency below it, its streaming, its detector."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import minimum_filter1d
from scipy.signal import firwin, upfirdn

from surroundyou.dsp.limiter import (
    OVERSAMPLE,
    PHASES,
    TAPS_PER_PHASE,
    WORST_GAIN,
    TruePeakLimiter,
    interpolator,
)
from surroundyou.dsp.native import _limiter
from tests.support.audio import drum_mix, noise, pink_noise, run_blocks, true_peak_dbtp

RATE = 44100


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


@pytest.mark.parametrize("block", [pytest.param(1, marks=pytest.mark.slow), 2, 3, 100, 4097])
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


def test_interpolator_is_firwins_design() -> None:
    ref = firwin(OVERSAMPLE * TAPS_PER_PHASE, 1.0 / OVERSAMPLE, window=("kaiser", 6.0)) * OVERSAMPLE
    assert np.abs(interpolator() - ref).max() < 1e-12


@pytest.mark.parametrize(
    ("ceiling", "frames"),
    [
        (-60.0, 20_000),  # everything is over: the need is ceiling / peak everywhere
        (-3.0, 20_001),  # bursts over quiet: most chunks skip the interpolation; the block ends mid-chunk
        (-3.0, 31),  # shorter than one chunk
    ],
)
def test_true_peak_detection_matches_upfirdn(ceiling: float, frames: int) -> None:
    """The limiter interpolates only chunks whose samples could reach the ceiling in between:
    the need it finds is the one interpolating everywhere gives."""
    envelope = np.where(np.sin(np.arange(frames) / 300.0) > 0.9, 1.2, 0.05).astype(np.float32)
    x = noise(frames) * envelope
    limiter = TruePeakLimiter(RATE, ceiling)
    need = limiter._required_gain(x)
    ext = np.concatenate((np.zeros((2, TAPS_PER_PHASE), np.float32), x), axis=1)
    up = upfirdn(interpolator().astype(np.float32), ext, up=OVERSAMPLE, axis=1)
    up = np.abs(up[:, OVERSAMPLE * TAPS_PER_PHASE : OVERSAMPLE * (TAPS_PER_PHASE + x.shape[1])])
    inter = up.max(axis=0).reshape(-1, OVERSAMPLE).max(axis=1)
    first = TAPS_PER_PHASE - _limiter.DETECT_DELAY
    samples = np.abs(ext[:, first : first + x.shape[1]]).max(axis=0)
    ref = np.minimum(1.0, limiter.ceiling / np.maximum(inter, samples))
    assert np.abs(need / ref - 1).max() < 1e-5
    if ceiling > -10.0 and frames > 1000:
        assert 0.02 < (ref < 1.0).mean() < 0.5  # both kinds of chunk were there


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 3000), min_size=1, max_size=4),
    st.integers(2, 400),
    st.integers(2, 300),
    st.integers(0, 2**32 - 1),
)
def test_hold_is_a_trailing_minimum_then_a_moving_average(
    sizes: list[int], window: int, lookahead: int, seed: int
) -> None:
    # Over blocks of any size, both histories carried: the least need over the window ending at
    # each frame (scipy's minimum filter), then the mean of the last ``lookahead`` of those.
    needs = np.random.default_rng(seed).random(sum(sizes))
    ext = np.concatenate((np.ones(window - 1), needs))
    held = minimum_filter1d(ext, window, origin=(window - 1) // 2)[window - 1 :]
    held = np.concatenate((np.ones(lookahead - 1), held))
    expected = np.convolve(held, np.ones(lookahead) / lookahead, mode="valid")
    need_history, average_history = np.ones(window - 1), np.ones(lookahead - 1)
    out = []
    for a, b in itertools.pairwise(np.cumsum([0, *sizes])):
        out.append(np.empty(b - a))
        _limiter.hold(out[-1], needs[a:b], need_history, average_history)
    assert np.abs(np.concatenate(out) - expected).max() < 1e-12


def test_release_rises_at_most_by_the_ramp() -> None:
    rng = np.random.default_rng(2)
    smooth = -12.0 * rng.random(5000)
    ramp = 0.01 * np.arange(1, 5001)
    gain = smooth.copy()
    last = _limiter.release(gain, ramp, -3.0)
    expected = np.minimum.accumulate(np.minimum(smooth - ramp, -3.0)) + ramp  # what numpy computed before
    assert np.array_equal(gain, expected)
    assert last == gain[-1]
    assert np.all(np.diff(gain) <= 0.01 + 1e-12)


def test_the_detector_refuses_what_it_cannot_compute() -> None:
    out = np.empty(100)
    with pytest.raises(ValueError, match="inconsistent"):  # no 12 frames of history before the block
        _limiter.peaks(out, np.zeros((2, 100), np.float32), PHASES, 0.5, WORST_GAIN)
    with pytest.raises(TypeError, match="float32"):
        _limiter.peaks(out, np.zeros((2, 112)), PHASES, 0.5, WORST_GAIN)
    with pytest.raises(ValueError, match="inconsistent"):  # a window of one frame has no history
        _limiter.hold(np.empty(100), np.ones(100), np.ones(0), np.ones(4))
    with pytest.raises(ValueError, match="inconsistent"):
        _limiter.release(np.zeros(100), np.zeros(99), 0.0)
    assert not _limiter.peaks(out, np.zeros((2, 112), np.float32), PHASES, 0.5, WORST_GAIN)  # silence
