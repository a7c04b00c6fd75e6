"""Audio on disk between the passes: the decoded input and its room (pass 1), the sample's mix.

Blocks of float32 rows (stereo: two) are stored as they come, each planar (its
left samples, then its right ones): a (2, n) block is written without the
slower interleaving copy and read back contiguous. 4 bytes per frame and row on
disk; in memory, two integers per block. Reads use ``os.pread``, which moves no shared
file offset, so several threads can read at once. A file that cannot be created or written
raises ``ScratchError``, with the system's error number (numpy's ``tofile`` would drop it).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

BYTES_PER_SAMPLE = 4


class ScratchError(OSError):
    """The temporary folder refused a scratch file or a write to one: full, over quota, not writable."""


class ScratchFile:
    def __init__(self, path: Path, channels: int = 2) -> None:
        self.channels = channels
        try:
            self._file = path.open("w+b", buffering=0)
        except OSError as exc:
            raise ScratchError(exc.errno, exc.strerror) from None
        self._starts: list[int] = []  # first frame of each block
        self._sizes: list[int] = []
        self.frames = 0

    def append(self, block: np.ndarray) -> None:
        """Store a (channels, n) block after the others."""
        if block.shape[0] != self.channels:
            raise ValueError(f"a block of {block.shape[0]} rows for a file of {self.channels}")
        if block.shape[1] == 0:
            return
        data = np.ascontiguousarray(block, dtype=np.float32).data.cast("B")
        try:
            while data:  # a write may store part of its bytes (a full disk): the rest, or the error, follows
                data = data[os.write(self._file.fileno(), data) :]
        except OSError as exc:
            raise ScratchError(exc.errno, exc.strerror) from None
        self._starts.append(self.frames)
        self._sizes.append(block.shape[1])
        self.frames += block.shape[1]

    def _pread(self, at: int, count: int) -> np.ndarray:
        """``count`` samples from sample ``at`` of the file."""
        data = os.pread(self._file.fileno(), count * BYTES_PER_SAMPLE, at * BYTES_PER_SAMPLE)
        if len(data) != count * BYTES_PER_SAMPLE:
            raise OSError(f"the scratch file is cut short at sample {at}")
        return np.frombuffer(data, dtype=np.float32)

    def blocks(self) -> Iterator[np.ndarray]:
        """The stored blocks in order, as (channels, n) arrays (one read each: a block is stored whole)."""
        for start, size in zip(self._starts, self._sizes, strict=True):
            yield self._pread(self.channels * start, self.channels * size).reshape(self.channels, size)

    def read(self, start: int, frames: int) -> np.ndarray:
        """Frames [start, start + frames) (clipped to what is stored) as one (channels, n) array."""
        frames = max(0, min(frames, self.frames - start))
        out = np.empty((self.channels, frames), dtype=np.float32)
        index = bisect.bisect_right(self._starts, start) - 1
        done = 0
        while done < frames:
            first, size = self._starts[index], self._sizes[index]
            offset = start + done - first
            count = min(size - offset, frames - done)
            for channel in range(self.channels):
                at = self.channels * first + channel * size + offset
                out[channel, done : done + count] = self._pread(at, count)
            done += count
            index += 1
        return out

    def close(self) -> None:
        self._file.close()
