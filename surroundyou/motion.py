"""Circular motion around the head: the azimuth path and the equal-power panner.

Pure DSP on float32 ``(channels, frames)`` arrays. Every gain is a closed-form
function of the absolute frame index, evaluated on an absolute grid of
``GRID`` frames and linearly interpolated, so the output never depends on how
the stream is cut into blocks. Memory: one block.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

GRID = 16  # frames between exactly evaluated gain points (interpolation error < 2e-5)
_SQRT2 = np.sqrt(2.0)


def azimuth(frames: np.ndarray, rate: float, period_s: float) -> np.ndarray:
    """Azimuth in radians at absolute frame indices.

    0 is in front, pi/2 right, pi behind, 3pi/2 left: clockwise seen from above,
    one full circle every ``period_s`` seconds, starting in front.
    """
    period_frames = period_s * rate
    # The modulo keeps the phase exact on long songs (float64 indices).
    return 2.0 * np.pi * (np.mod(frames, period_frames) / period_frames)


def equal_power_gains(theta: np.ndarray) -> np.ndarray:
    """(2, n) left/right gains for pan position sin(theta); gL² + gR² = 1."""
    quarter = 0.25 * np.pi * (1.0 + np.sin(theta))
    return np.stack((np.cos(quarter), np.sin(quarter)))


class Spatializer(Protocol):
    """A stateful renderer fed consecutive stereo blocks; returns stereo blocks."""

    def process(self, block: np.ndarray) -> np.ndarray: ...


class CircularPanner:
    """Equal-power amplitude panning of the mid signal along the circle.

    The mono-compatible mid (L+R)/2 is panned; at the front each ear gets the
    mid at unity gain. ``position`` is the absolute index of the next frame:
    the only state, so block N+1 continues exactly where block N stopped.
    Blocks of any length, including one frame, are accepted.
    """

    def __init__(self, rate: float, period_s: float) -> None:
        self.rate = rate
        self.period_s = period_s
        self.position = 0

    def gains(self, start: int, frames: int) -> np.ndarray:
        """(2, frames) float32 gains for absolute frames [start, start + frames)."""
        first = start // GRID
        last = -(-(start + frames) // GRID)  # ceil
        grid = np.arange(first, last + 1, dtype=np.float64) * GRID
        at_grid = equal_power_gains(azimuth(grid, self.rate, self.period_s)) * _SQRT2
        n = np.arange(start, start + frames, dtype=np.float64)
        out = np.empty((2, frames), dtype=np.float32)
        out[0] = np.interp(n, grid, at_grid[0])
        out[1] = np.interp(n, grid, at_grid[1])
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        mid = 0.5 * (block[0] + block[1])
        out = self.gains(self.position, frames)
        out *= mid
        self.position += frames
        return out
