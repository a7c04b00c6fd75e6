"""The streaming BS.1770 loudness meter, against pyloudnorm and known levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from audio import loudness_lufs, pink_noise

from surroundyou.loudness import LoudnessMeter

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
