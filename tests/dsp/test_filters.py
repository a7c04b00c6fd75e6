"""pedalboard's filters with carried state against scipy (which the worker never imports)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import butter, freqz, lfilter

from surroundyou.dsp.filters import (
    CHUNK,
    Chain,
    highpass,
    highpass_section,
    lowpass_section,
    matched_lowpass_section,
)
from tests.support.audio import noise

RATE = 44100


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("hz", [38.0, 3000.0])
def test_the_high_pass_is_scipy_butterworth(rate: int, hz: float) -> None:
    x = noise(rate)
    ours = Chain(rate, highpass(hz), 2)(x)
    ref = lfilter(*butter(1, hz, btype="high", fs=rate), x, axis=1)
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize(("kind", "hz"), [("low", 1250.0), ("high", 3000.0), ("low", 186.0)])
def test_the_c_loops_first_order_sections_are_scipy_butterworth(rate: int, kind: str, hz: float) -> None:
    b0, b1, a1 = (lowpass_section if kind == "low" else highpass_section)(hz, rate)
    b, a = butter(1, hz, btype=kind, fs=rate)
    np.testing.assert_allclose([b0, b1, a1], [b[0], b[1], a[1]], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sizes", [[1000, 5000, 100_000], [1, 7, 2 * CHUNK + 3, 11], [CHUNK, CHUNK + 1, 2]])
def test_a_chain_keeps_its_state_across_any_blocks(sizes: list[int]) -> None:
    """pedalboard clears a plugin when a block is larger than any before: Chain must not let it."""
    x = noise(sum(sizes))
    whole = Chain(RATE, highpass(38.0, order=2), 2)(x)
    chain = Chain(RATE, highpass(38.0, order=2), 2)
    edges = np.cumsum([0, *sizes])
    parts = np.concatenate([chain(x[:, a:b]) for a, b in itertools.pairwise(edges)], axis=1)
    assert np.abs(parts - whole).max() < 1e-6


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_matched_lowpass_follows_the_analog_one_pole_to_nyquist_at_any_rate(rate: int) -> None:
    # The head shadow's corner: its level difference must not depend on the song's rate. The bilinear
    # design falls to nothing at Nyquist, 5.5 dB under the analog at 8 kHz for 22.05 kHz.
    hz = 1250.0
    b0, b1, a1 = matched_lowpass_section(hz, rate)
    f = np.linspace(0.0, 0.5 * rate, 2049)
    _, h = freqz([b0, b1], [1.0, a1], worN=f, fs=rate)
    analog = 1.0 / np.abs(1.0 + 1j * f / hz)
    assert np.abs(20 * np.log10(np.abs(h) / analog)).max() < 1.0
    assert abs(h[0]) == pytest.approx(1.0) and abs(h[-1]) == pytest.approx(analog[-1])
