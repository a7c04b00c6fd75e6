"""The energy of each frame after a filter of two biquads, streaming: the meters' first step.

The loudness meter weighs with BS.1770's K-weighting (``loudness.k_weighting``), the motion meter
with a 200 Hz high-pass (``highpass_pair``). The filter runs in double precision in one pass with
the squares (``_energy.c``): a quarter of the time of pedalboard's float32 filters, which take a
pass per first-order section and channel, and numpy for the squares.
"""

from __future__ import annotations

import numpy as np

from surroundyou.dsp.filters import highpass_section
from surroundyou.dsp.native import _energy

STATE = _energy.STATE  # per channel: each biquad's last two inputs and outputs


class WeightedEnergy:
    """``coefficients``: b0 b1 b2 a1 a2 (a0 = 1) of each of the two biquads; the state carries across blocks."""

    def __init__(self, coefficients: np.ndarray, channels: int) -> None:
        self._coefficients = np.ascontiguousarray(coefficients, np.float64)
        self._state = np.zeros((channels, STATE))

    def summed(self, block: np.ndarray) -> np.ndarray:
        """(n,) float32: each frame's filtered square, summed over the channels of ``block`` (channels, n)."""
        out = np.empty(block.shape[1], np.float32)
        _energy.energy(out, np.ascontiguousarray(block, np.float32), self._coefficients, self._state)
        return out

    def per_channel(self, block: np.ndarray) -> np.ndarray:
        """(channels, n) float32: each frame's filtered square in each channel."""
        out = np.empty(block.shape, np.float32)
        _energy.energy(out, np.ascontiguousarray(block, np.float32), self._coefficients, self._state)
        return out


def highpass_pair(hz: float, rate: float) -> np.ndarray:
    """Two first-order high-passes at ``hz`` (bilinear, pre-warped: ``scipy.signal.butter(1, hz, "high")``)."""
    b0, b1, a1 = highpass_section(hz, rate)
    stage = [b0, b1, 0.0, a1, 0.0]
    return np.array(stage + stage)
