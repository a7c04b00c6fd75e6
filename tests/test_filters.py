"""The scipy-free DSP primitives against scipy and pyloudnorm (not imported by the worker); the scratch file."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import minimum_filter1d
from scipy.signal import butter, firwin, freqz, lfilter, upfirdn

from surroundyou.filters import CHUNK, Chain, frequency_response, highpass, lowpass
from surroundyou.limiter import OVERSAMPLE, TAPS_PER_PHASE, TruePeakLimiter, interpolator, running_min
from surroundyou.loudness import k_weighting
from surroundyou.scratch import ScratchFile

RATE = 44100


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, frames)).astype(np.float32)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize(("kind", "hz"), [("low", 1250.0), ("high", 3000.0), ("low", 186.0)])
def test_first_order_filters_are_scipy_butterworth(rate: int, kind: str, hz: float) -> None:
    x = noise(rate)
    plugins = lowpass(hz) if kind == "low" else highpass(hz)
    ours = Chain(rate, plugins, 2)(x)
    ref = lfilter(*butter(1, hz, btype=kind, fs=rate), x, axis=1)
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 96000])
def test_k_weighting_is_pyloudnorms(rate: int) -> None:
    x = noise(rate)
    ref = x.astype(np.float64)
    for stage in pyloudnorm.Meter(rate)._filters.values():
        ref = lfilter(stage.b, stage.a, ref, axis=1) * stage.passband_gain
    ours = Chain(rate, k_weighting(), 2)(x)
    assert np.sqrt(np.mean((ours - ref) ** 2) / np.mean(ref**2)) < 1e-5


@pytest.mark.parametrize("sizes", [[1000, 5000, 100_000], [1, 7, 2 * CHUNK + 3, 11], [CHUNK, CHUNK + 1, 2]])
def test_a_chain_keeps_its_state_across_any_blocks(sizes: list[int]) -> None:
    """pedalboard clears a plugin when a block is larger than any before: Chain must not let it."""
    x = noise(sum(sizes))
    whole = Chain(RATE, highpass(38.0, order=2), 2)(x)
    chain = Chain(RATE, highpass(38.0, order=2), 2)
    edges = np.cumsum([0, *sizes])
    parts = np.concatenate([chain(x[:, a:b]) for a, b in itertools.pairwise(edges)], axis=1)
    assert np.abs(parts - whole).max() < 1e-6


def test_frequency_response_is_scipys() -> None:
    f, h = frequency_response(RATE, lowpass(1250.0))
    _, ref = freqz(*butter(1, 1250.0, fs=RATE), worN=f, fs=RATE)
    assert np.abs(h - ref).max() < 1e-5


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
    samples = np.abs(ext[:, TAPS_PER_PHASE - 6 : TAPS_PER_PHASE - 6 + x.shape[1]]).max(axis=0)
    ref = np.minimum(1.0, limiter.ceiling / np.maximum(inter, samples))
    assert np.abs(need / ref - 1).max() < 1e-5
    if ceiling > -10.0 and frames > 1000:
        assert 0.02 < (ref < 1.0).mean() < 0.5  # both kinds of chunk were there


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_running_min_is_a_trailing_minimum_filter(n: int, window: int, seed: int) -> None:
    x = np.random.default_rng(seed).random(n + window - 1)
    ref = minimum_filter1d(x, window, origin=(window - 1) // 2)[window - 1 :]
    assert np.array_equal(running_min(x, window), ref)


@pytest.mark.parametrize("rows", [2, 3])
def test_scratch_file_gives_back_blocks_and_any_range(tmp_path: Path, rows: int) -> None:
    sizes = [65536 - 247, 65536, 1, 7, 8192, 300]
    blocks = [np.vstack((noise(n, seed=i), noise(n, seed=i + 9)))[:rows] for i, n in enumerate(sizes)]
    whole = np.concatenate(blocks, axis=1)
    with contextlib.closing(ScratchFile(tmp_path / "mix.f32", channels=rows)) as scratch:
        for block in blocks:
            scratch.append(block)
        with pytest.raises(ValueError, match="rows"):
            scratch.append(np.zeros((rows + 1, 5), np.float32))
        assert scratch.frames == whole.shape[1]
        assert (tmp_path / "mix.f32").stat().st_size == 4 * rows * whole.shape[1]
        np.testing.assert_array_equal(np.concatenate(list(scratch.blocks()), axis=1), whole)
        for start, frames in [(0, 10), (65_000, 2_000), (131_000, 5_000), (whole.shape[1] - 5, 100)]:
            np.testing.assert_array_equal(scratch.read(start, frames), whole[:, start : start + frames])
