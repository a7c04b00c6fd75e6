"""The meters' filter-and-square loop (weighted_energy.py, _energy.c) against scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from surroundyou.dsp.loudness import k_weighting
from surroundyou.dsp.native import _energy
from surroundyou.dsp.weighted_energy import WeightedEnergy, highpass_pair
from tests.support.audio import noise

RATE = 44100


@pytest.mark.parametrize("rate", [8000, 44100, 96000])
@pytest.mark.parametrize("hz", [38.0, 200.0])
def test_highpass_pair_is_two_scipy_butterworth_high_passes_per_channel(rate: int, hz: float) -> None:
    # The motion meter's filter, per channel, over blocks of any size (the state carries across them).
    x = noise(30_000, seed=rate)
    b, a = butter(1, hz, btype="high", fs=rate)
    expected = lfilter(b, a, lfilter(b, a, x.astype(np.float64), axis=1), axis=1) ** 2
    weighted = WeightedEnergy(highpass_pair(hz, rate), 2)
    edges = [0, 1, 100, 4097, 30_000]
    ours = np.concatenate([weighted.per_channel(x[:, a:b]) for a, b in itertools.pairwise(edges)], axis=1)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 1e-6 * expected.max()


def test_summed_is_the_sum_of_the_channels() -> None:
    x = noise(10_000)
    per_channel = WeightedEnergy(k_weighting(RATE), 2).per_channel(x)
    summed = WeightedEnergy(k_weighting(RATE), 2).summed(x)
    assert np.allclose(summed, per_channel.sum(axis=0), rtol=1e-6, atol=0)


def test_energy_refuses_what_it_cannot_compute() -> None:
    block = np.zeros((2, 100), np.float32)
    with pytest.raises(ValueError, match="inconsistent"):  # state for one channel, a stereo block
        _energy.energy(np.empty(100, np.float32), block, k_weighting(RATE), np.zeros((1, 8)))
    with pytest.raises(ValueError, match="inconsistent"):  # neither one value per frame nor per sample
        _energy.energy(np.empty(150, np.float32), block, k_weighting(RATE), np.zeros((2, 8)))
    with pytest.raises(ValueError, match="channels, frames"):
        _energy.energy(np.empty(100, np.float32), block[0], k_weighting(RATE), np.zeros((1, 8)))
    with pytest.raises(TypeError, match="float32"):
        _energy.energy(np.empty(100, np.float32), block.astype(np.float64), k_weighting(RATE), np.zeros((2, 8)))
