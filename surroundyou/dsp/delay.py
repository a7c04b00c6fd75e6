"""Whole-frame delays across blocks, and latency compensation for streaming stages.

A stage with ``latency`` frames returns fewer frames at first (``LatencyTrim``)
and the rest when flushed with that many frames of silence, so that over a whole
stream it returns exactly as many frames as went in.
"""

from __future__ import annotations

import numpy as np


class FixedDelay:
    """Delays consecutive (channels, n) blocks by ``frames``; blocks of any length, including 0 and 1."""

    def __init__(self, channels: int, frames: int) -> None:
        self._history = np.zeros((channels, frames), dtype=np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        buf = np.concatenate((self._history, block), axis=1)
        self._history = buf[:, n:]
        return buf[:, :n]


class LatencyTrim:
    """Drops the first ``frames`` frames of a stream of (channels, n) blocks."""

    def __init__(self, frames: int) -> None:
        self._to_skip = frames

    def __call__(self, out: np.ndarray) -> np.ndarray:
        if self._to_skip == 0:
            return out
        skip = min(self._to_skip, out.shape[1])
        self._to_skip -= skip
        return out[:, skip:]
