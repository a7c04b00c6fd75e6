"""The streaming BS.1770 loudness meter, against pyloudnorm and known levels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import lfilter

from surroundyou.dsp.loudness import LoudnessMeter, k_weighting
from tests.support.audio import loudness_lufs, noise, pink_noise

RATE = 44100


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 48000, 96000])
@pytest.mark.parametrize("block", [4410, 65536, 999])
def test_streaming_meter_matches_pyloudnorm(rate: int, block: int) -> None:
    x = pink_noise(6.0, rate, seed=rate)
    x[:, : rate * 2] *= 0.05  # a quiet start exercises the relative gate
    meter = LoudnessMeter(rate)
    for i in range(0, x.shape[1], block):
        meter.add(x[:, i : i + block])
    assert meter.integrated() == pytest.approx(loudness_lufs(x, rate), abs=0.01)


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 96000])
def test_k_weighting_is_pyloudnorms(rate: int) -> None:
    stages = list(pyloudnorm.Meter(rate)._filters.values())
    ours = k_weighting(rate).reshape(2, 5)
    for stage, coefficients in zip(stages, ours, strict=True):
        b, a = np.asarray(stage.b) * stage.passband_gain, np.asarray(stage.a)
        assert np.allclose(coefficients, [*(b / a[0]), *(a[1:] / a[0])], rtol=1e-12, atol=0)


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("sizes", [[1000, 5000, 100_000], [1, 7, 2049, 4096, 11]])
def test_per_frame_energy_is_the_k_weighted_square_summed_over_channels(channels: int, sizes: list[int]) -> None:
    # pyloudnorm's two stages by scipy in float64 over the whole signal, against the meter's C loop
    # over blocks of any size (its state carried across them; 2048 frames is its inner chunk).
    x = noise(sum(sizes))[:1].repeat(channels, axis=0) * np.linspace(0.2, 1.0, channels, dtype=np.float32)[:, None]
    ref = x.astype(np.float64)
    for stage in pyloudnorm.Meter(RATE)._filters.values():
        ref = lfilter(stage.b, stage.a, ref, axis=1) * stage.passband_gain
    expected = (ref**2).sum(axis=0)
    meter = LoudnessMeter(RATE, channels)
    edges = np.cumsum([0, *sizes])
    ours = np.concatenate([meter.weigh(x[:, a:b]) for a, b in itertools.pairwise(edges)])
    assert np.abs(ours - expected).max() <= 1e-6 * expected.max()


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
