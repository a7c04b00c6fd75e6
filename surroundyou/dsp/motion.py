"""Circular motion around the head: the azimuth path and the equal-power panner.

Pure DSP on float32 ``(channels, frames)`` arrays. Every gain is a closed-form
function of the absolute frame index, evaluated on an absolute grid of
``GRID`` frames and linearly interpolated, so the output never depends on how
the stream is cut into blocks. Memory: one block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from surroundyou.dsp.native import _binaural

Params = Callable[[np.ndarray], np.ndarray]  # azimuths -> (rows, points) parameter values
GRID = _binaural.GRID  # frames between exactly evaluated gain points; set in _binaural.c, whose loops walk the grid
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


def depth_gains(theta: np.ndarray, depth_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains adding ``depth_db`` · sin(theta) dB of level difference, right over left."""
    ild = (depth_db / 40.0) * np.sin(theta)  # each ear takes half of it, in dB / 20
    return 10.0**-ild, 10.0**ild


class Spatializer(Protocol):
    """A stateful renderer fed consecutive stereo blocks; returns stereo blocks.

    Over a whole stream, ``process`` + ``flush`` return exactly as many frames
    as went in (a renderer with latency returns fewer at first). ``position``:
    the absolute index of the next input frame, which sets the place on the circle;
    it may be moved between blocks (the sample renders separate segments).
    """

    position: int

    def process(self, block: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


def grid_points(start: int, frames: int) -> np.ndarray:
    """Absolute frame indices of the grid points that frames [start, start + frames) lie between."""
    first = start // GRID
    last = -(-(start + frames) // GRID)  # ceil
    return np.arange(first, last + 1, dtype=np.float64) * GRID


_RAMP = np.arange(GRID, dtype=np.float32) / GRID


class GridCurves:
    """Parameter rows evaluated on the absolute grid around frames [start, start + frames),
    interpolated linearly to those frames one row at a time, when a row is needed."""

    def __init__(self, start: int, frames: int, rate: float, period_s: float, params: Params) -> None:
        grid = grid_points(start, frames)
        self.at_grid = np.atleast_2d(params(azimuth(grid, rate, period_s))).astype(np.float32)
        self.skip = start - int(grid[0])  # frames from the first grid point to the first frame
        self._frames = frames

    def row(self, index: int) -> np.ndarray:
        # The grid is uniform: each cell of GRID frames is its left value plus a ramp towards the next.
        values = self.at_grid[index]
        left = values[:-1]
        cells = np.multiply((values[1:] - left)[:, None], _RAMP)  # written once, added to in place
        cells += left[:, None]
        return cells.ravel()[self.skip : self.skip + self._frames]

    def at_most(self, index: int, value: float) -> bool:
        """Whether the row stays at or below ``value`` over these frames (from its grid values)."""
        return float(self.at_grid[index].max()) <= value


def on_grid(start: int, frames: int, rate: float, period_s: float, params: Params) -> np.ndarray:
    """Evaluate ``params(azimuth)`` (rows x points) every GRID frames on the absolute grid and
    interpolate linearly to frames [start, start + frames): the same value for a frame however the
    stream is cut."""
    curves = GridCurves(start, frames, rate, period_s, params)
    return np.stack([curves.row(i) for i in range(curves.at_grid.shape[0])])


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
        return on_grid(start, frames, self.rate, self.period_s, lambda theta: equal_power_gains(theta) * _SQRT2)

    def process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        mid = 0.5 * (block[0] + block[1])
        out = self.gains(self.position, frames)
        out *= mid
        self.position += frames
        return out

    def flush(self) -> np.ndarray:
        return np.zeros((2, 0), dtype=np.float32)  # no latency
