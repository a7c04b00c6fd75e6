"""IIR filters that carry their state across blocks, run by pedalboard (JUCE).

scipy.signal has the same filters (butter + lfilter), but importing it costs a
process 0.7 s (scipy 1.17, measured on the bench machine): a third of what a
bare decode + encode of a 3-minute song takes. pedalboard is loaded anyway, and
its first-order high-pass is a bilinear design with the same pre-warping as
``scipy.signal.butter(1, ..., "high")``: the outputs agree to float32 rounding
(tests/dsp/test_filters.py), twice as fast. Where a filter is fused with the work
around it in one of the C loops (the renderer's, the meters'), its coefficients
come from here: ``lowpass_section`` and ``highpass_section`` (butter's bilinear
designs), ``matched_lowpass_section`` (the head shadow's, the same at any rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pedalboard import HighpassFilter, Pedalboard, Plugin

# pedalboard processes in chunks of at most ``buffer_size`` frames and clears its
# plugins' state whenever a chunk is larger than any before: priming with one full
# chunk of silence (which leaves every filter at rest) keeps the state for good.
CHUNK = 65536


class Chain:
    """Plugins in series over consecutive (channels, n) float32 blocks; blocks of any length."""

    def __init__(self, rate: float, plugins: Sequence[Plugin], channels: int) -> None:
        self.rate = rate
        self.channels = channels
        self._board = Pedalboard(list(plugins))
        self._board.process(np.zeros((channels, CHUNK), np.float32), rate, buffer_size=CHUNK, reset=True)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if block.shape[-1] == 0:
            return np.zeros((self.channels, 0), np.float32)
        return self._board.process(block, self.rate, buffer_size=CHUNK, reset=False)


def highpass(hz: float, order: int = 1) -> list[Plugin]:
    return [HighpassFilter(cutoff_frequency_hz=hz) for _ in range(order)]


def lowpass_section(hz: float, rate: float) -> tuple[float, float, float]:
    """b0, b1, a1 (a0 = 1) of the first-order low-pass ``butter(1, hz)`` is (bilinear)."""
    k = math.tan(math.pi * hz / rate)
    return k / (1.0 + k), k / (1.0 + k), (k - 1.0) / (k + 1.0)


def matched_lowpass_section(hz: float, rate: float) -> tuple[float, float, float]:
    """b0, b1, a1 (a0 = 1) of a first-order low-pass whose magnitude follows the analog 1/(1 + s/w) up to
    Nyquist, at any rate: the pole matched (exp(-w/rate)), the gains at DC and Nyquist the analog's
    (after Vicanek 2016, "Matched one-pole digital shelving filters"); within 1 dB of the analog
    throughout. The bilinear design's zero at Nyquist drives it to nothing there: at 1.25 kHz, it is
    5.5 dB under the analog at 8 kHz for 22.05 kHz (1.0 dB for 44.1 kHz)."""
    pole = math.exp(-2.0 * math.pi * hz / rate)
    nyquist = 1.0 / math.hypot(1.0, 0.5 * rate / hz)
    # DC: (b0 + b1) / (1 - pole) = 1; Nyquist: (b0 - b1) / (1 + pole) = nyquist.
    total, difference = 1.0 - pole, nyquist * (1.0 + pole)
    return 0.5 * (total + difference), 0.5 * (total - difference), -pole


def highpass_section(hz: float, rate: float) -> tuple[float, float, float]:
    """b0, b1, a1 (a0 = 1) of the first-order high-pass ``HighpassFilter`` and ``butter(1, hz, "high")`` are."""
    k = math.tan(math.pi * hz / rate)
    return 1.0 / (1.0 + k), -1.0 / (1.0 + k), (k - 1.0) / (k + 1.0)


def bandpass_section(hz: float, octaves: float, rate: float) -> tuple[float, float, float, float, float]:
    """b0, b1, b2, a1, a2 (a0 = 1) of a band-pass with 0 dB and no phase shift at ``hz`` and ``octaves``
    between its -3 dB points (Bristow-Johnson's Audio EQ Cookbook, constant 0 dB peak gain): x + g·BP(x)
    is a peak (g > 0) or a dip (-1 < g < 0) of 1 + g at ``hz``."""
    w0 = 2.0 * math.pi * hz / rate
    alpha = math.sin(w0) * math.sinh(0.5 * math.log(2.0) * octaves * w0 / math.sin(w0))
    a0 = 1.0 + alpha
    return alpha / a0, 0.0, -alpha / a0, -2.0 * math.cos(w0) / a0, (1.0 - alpha) / a0


def sections_response(sections: Sequence[Sequence[float]], hz: np.ndarray, rate: float) -> np.ndarray:
    """(sections, len(hz)) complex responses at ``hz`` of biquads given as rows b0, b1, b2, a1, a2 (a0 = 1;
    further fields ignored)."""
    z = np.exp(-2j * np.pi * np.asarray(hz, dtype=np.float64) / rate)
    c = np.asarray(sections, dtype=np.float64)[:, :5, None]
    return (c[:, 0] + c[:, 1] * z + c[:, 2] * z * z) / (1 + c[:, 3] * z + c[:, 4] * z * z)
