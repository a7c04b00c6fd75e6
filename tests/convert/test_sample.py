"""The loudness sample: the mix's loudness it predicts, the limiter's loss it models, the make-up it
solves for, and that it runs the mix chain pass 2 runs. Measured on generated signals."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from surroundyou.convert import mix
from surroundyou.convert.engine import convert
from surroundyou.convert.mix import MixChain, Step
from surroundyou.convert.sample import (
    MAKEUP_TOLERANCE_DB,
    MAX_MAKEUP_DB,
    MIN_SAMPLE_S,
    PARTS,
    STRIDE,
    LimitedLoudness,
    Sample,
    Sampler,
    solve_makeup,
)
from surroundyou.convert.scratch import ScratchFile
from surroundyou.dsp.loudness import LoudnessMeter, integrated_loudness
from surroundyou.dsp.motion import CircularPanner
from surroundyou.settings import Settings
from tests.support.audio import decode, drum_mix, highpass, loudness_lufs, pink_noise, true_peak_dbtp, write

RATE = 44100


def panner(rate: int) -> Callable[[], CircularPanner]:
    return lambda: CircularPanner(rate, 12.0)


@pytest.mark.parametrize("mode", ["binaural", "pan"])
def test_the_predicted_mix_loudness_is_the_whole_renders(tmp_path: Path, mode: str) -> None:
    """The gain comes from the input's loudness, step by step, scaled by what the spatialiser and
    the chain's steps (the room) do on a sample of the song around each step. On a song whose
    sections differ in spectrum (the head shadow dims highs, not bass), level and width (pan mode
    loses 3 dB of a wide section and nothing of a centred one; binaural mode's two halves of a
    centred source interfere, differently at each place on the circle), the prediction must match
    the whole mix, room's decay included: measured on the output, less the gain, at a target low
    enough that the limiter never acts."""
    rng = np.random.default_rng(5)
    sections = [
        highpass(pink_noise(20.0, RATE, seed=1, level=0.15), RATE, 2000.0),  # bright, wide
        np.repeat(pink_noise(25.0, RATE, channels=1, seed=2, level=0.1), 2, axis=0),  # centred, loudest
        drum_mix(30.0, seed=3, level=0.05),
        pink_noise(15.0, RATE, seed=4, level=0.02) * rng.uniform(0.5, 1.0, (2, 1)).astype(np.float32),  # quiet
    ]
    src = write(tmp_path / "song.wav", np.concatenate(sections, axis=1))
    report = convert(src, tmp_path / "out.wav", Settings(renderer=mode, target_lufs=-30.0))
    y, rate = decode(tmp_path / "out.wav")
    assert report.limited_db == 0.0  # the output is the mix times the gain
    assert report.mix_lufs == pytest.approx(loudness_lufs(y, rate) - report.gain_db, abs=0.3)


@pytest.mark.parametrize("seconds", [30.0, 60.0, 320.0])
def test_the_sample_is_an_eighth_of_a_long_song_all_of_a_short_one_and_spread_along_it(
    tmp_path: Path, seconds: float
) -> None:
    rate = 8000
    store = ScratchFile(tmp_path / "in.f32")
    for second in range(int(seconds)):
        store.append(pink_noise(1.0, rate, seed=second))
    sampler = Sampler(MixChain(rate, Settings(), -1.0), store.frames, tmp_path, panner(rate))
    sampler.advance(store, store.frames // 2)  # pass 1 stores the song as it decodes
    sampler.advance(store, store.frames, final=True)
    sample = sampler.sample
    sampled = sum(part.frames for part in sample.parts)
    centres = np.array([centre for centre, _, _ in sample.energies]) / rate
    sample.close()
    store.close()
    if seconds < 2 * MIN_SAMPLE_S:
        assert sampled == store.frames  # all of it, each frame once
    else:
        assert sampled / rate >= 0.95 * max(MIN_SAMPLE_S, seconds / STRIDE)
        assert sampled / store.frames <= 1.05 * max(1 / STRIDE, MIN_SAMPLE_S / seconds)
    spacing = sampler.size * sampler.stride / rate  # seconds from one segment's start to the next's, on average
    assert np.diff(np.concatenate(([0.0], centres, [seconds]))).max() < 2 * spacing  # no stretch unseen


@pytest.mark.parametrize(
    ("loss", "reachable"),
    [
        (lambda m: 2.0 + 0.5 * m, True),  # a limiter that gives back half of each dB: m = 4 meets the target
        (lambda m: 1.83 + 0.6 * m + 0.08 * m * m, False),  # measured shape of a drum loop that needs 13 dB
        (lambda m: 1.0 + 1.1 * m, False),  # each dB of make-up loses more than a dB: best not to try
    ],
)
def test_the_make_up_solve_never_ends_further_from_the_target_than_it_measured(
    loss: Callable[[float], float], reachable: bool
) -> None:
    seen: list[float] = []

    def measured(m: float) -> float:
        seen.append(m)
        return loss(m)

    m = solve_makeup(measured)
    assert 0.0 <= m <= MAX_MAKEUP_DB and m in seen  # a measured point, not an extrapolated guess
    miss = abs(m - loss(m))
    assert miss == min(abs(x - loss(x)) for x in seen)
    if reachable:
        assert miss < MAKEUP_TOLERANCE_DB


@pytest.mark.parametrize(("gain_db", "depth"), [(-10.0, "none"), (-4.0, "some"), (4.0, "deep")])
def test_the_modelled_loudness_after_gain_and_limiter_is_the_chains_output(
    tmp_path: Path, gain_db: float, depth: str
) -> None:
    """The make-up's trials do not limit and K-weight the sample again: they scale its stored peaks,
    run the limiter's gain on them and sum the stored K-weighted energies times the gain squared. That
    must give the loudness of the sample really run through the end of the chain (``Output``: the
    gain, then the limiter) and measured, from no limiting to deep."""
    chain = MixChain(RATE, Settings(), -1.5)
    sample = Sample(chain, tmp_path, panner(RATE))
    song = drum_mix(12.0, seed=7, level=0.25)
    segment = RATE // 2
    for index in range(song.shape[1] // segment):
        sample.add(index, index * segment, song[:, index * segment : (index + 1) * segment])
    with LimitedLoudness(sample, gain_db + MAX_MAKEUP_DB / 2) as limited:
        modelled = limited(gain_db)
    meters, limited_db = [], []
    for part in range(PARTS):
        output, meter = chain.output(gain_db), LoudnessMeter(RATE)
        for audio, _ in sample.stored(part):
            meter.add(output(audio))
        meter.add(output.flush())
        meters.append(meter)
        limited_db.append(output.limiter.max_reduction_db)
    sample.close()
    assert modelled == pytest.approx(integrated_loudness(meters), abs=0.02)
    assert {"none": max(limited_db) < 0.5, "some": 1.0 < max(limited_db) < 6.0, "deep": max(limited_db) > 10.0}[depth]


def test_the_mix_loudness_prediction_takes_little_memory_on_a_long_song(tmp_path: Path) -> None:
    """An hour of 100 ms steps against 900 segments: the weights are made a chunk of steps at a time
    (all at once they took a 30-minute song's conversion to 196 MB). Where the mix has twice the
    input's energy everywhere, the prediction is the input's loudness + 3.01 dB."""
    rate = 8000
    meter = LoudnessMeter(rate)
    for second in range(3600):
        meter.add(pink_noise(1.0, rate, seed=second % 7, level=0.1))
    sample = Sample(MixChain(rate, Settings(), -1.0), tmp_path, panner(rate))
    sample.energies = [
        (start * rate + 0.25 * rate, 1.0 + start % 3, 2.0 * (1.0 + start % 3)) for start in range(0, 3600, 4)
    ]
    sample.reach = 6.0 * rate
    tracemalloc.start()
    predicted = sample.mix_lufs(meter)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    sample.close()
    assert predicted == pytest.approx(meter.integrated() + 10 * math.log10(2), abs=1e-6)
    assert peak < 30e6, f"{peak / 1e6:.0f} MB"


class Louder(Step):
    """6 dB up: pushes the mix's peaks into the limiter."""

    def __init__(self, _chain: MixChain) -> None:
        pass

    def __call__(self, mix: np.ndarray, start: int) -> np.ndarray:
        return mix * np.float32(2.0)


class Muffled(Step):
    """A low-pass at 500 Hz, its state carried across blocks: most of the loudness goes, by however
    much the music has above it."""

    def __init__(self, chain: MixChain) -> None:
        self.sos = butter(2, 500.0, "low", fs=chain.rate, output="sos")
        self.state = np.zeros((self.sos.shape[0], 2, 2))

    def __call__(self, mix: np.ndarray, start: int) -> np.ndarray:
        out, self.state = sosfilt(self.sos, mix, axis=1, zi=self.state)
        return out.astype(np.float32)


@pytest.mark.parametrize("step", [Louder, Muffled])
def test_a_step_added_to_the_mix_chain_is_in_the_gain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: Callable[[MixChain], Step]
) -> None:
    """One edit adds a step to the mix (an entry in ``mix.STEPS``), and the sample runs it as pass 2
    does: the predicted mix moves by what the step does, and the output still meets the target and
    the ceiling. Were it in pass 2 alone, the gain would miss by the step's whole effect."""
    src = write(tmp_path / "in.wav", drum_mix(20.0, seed=2))
    plain = convert(src, tmp_path / "plain.wav", Settings())
    monkeypatch.setattr(mix, "STEPS", (*mix.STEPS, step))
    report = convert(src, tmp_path / "out.wav", Settings())
    y, rate = decode(tmp_path / "out.wav")
    assert abs(report.mix_lufs - plain.mix_lufs) > 3.0
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0
