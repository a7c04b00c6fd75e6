"""The scratch file between the passes: blocks and ranges back as written, any number of rows."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from surroundyou.convert.scratch import ScratchFile
from tests.support.audio import noise


@pytest.mark.parametrize("rows", [2, 3])
def test_scratch_file_gives_back_blocks_and_any_range(tmp_path: Path, rows: int) -> None:
    sizes = [65536 - 247, 65536, 1, 7, 8192, 300]
    blocks = [np.vstack((noise(n, seed=i), noise(n, seed=i + 9)))[:rows] for i, n in enumerate(sizes)]
    whole = np.concatenate(blocks, axis=1)
    with contextlib.closing(ScratchFile(tmp_path / "mix.f32", channels=rows)) as scratch:
        for block in blocks:
            scratch.append(block)
        with pytest.raises(ValueError, match="rows"):
            scratch.append(np.zeros((rows + 1, 5), np.float32))
        assert scratch.frames == whole.shape[1]
        assert (tmp_path / "mix.f32").stat().st_size == 4 * rows * whole.shape[1]
        np.testing.assert_array_equal(np.concatenate(list(scratch.blocks()), axis=1), whole)
        for start, frames in [(0, 10), (65_000, 2_000), (131_000, 5_000), (whole.shape[1] - 5, 100)]:
            np.testing.assert_array_equal(scratch.read(start, frames), whole[:, start : start + frames])
