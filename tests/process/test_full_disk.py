"""A full disk met by the whole worker on a real filesystem: exit 4, one line naming the place and the fix.

Nothing is left behind: no output, no partial one, no scratch.
Each test mounts a small tmpfs (as root) and fills it with the conversion itself: the output's
folder (pedalboard's writers, ffmpeg's for Opus) or the temporary folder (the scratch files).
Where mounting is not allowed (a non-root user, an unprivileged container) they are skipped
with the reason; CI runs them as root.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.audio import pink_noise, write
from tests.support.checks import one_line
from tests.support.processes import run_cli

RATE = 44100


def _mount(folder: Path, size: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True, timeout=30
    )


def can_mount_tmpfs() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        try:
            if _mount(Path(folder), "64k").returncode != 0:
                return False
        except FileNotFoundError:  # no mount(8)
            return False
        subprocess.run(["umount", folder], check=True, timeout=30)
        return True


pytestmark = pytest.mark.skipif(
    not can_mount_tmpfs(),
    reason="needs to mount a tmpfs (root with CAP_SYS_ADMIN), which this machine does not allow",
)


@contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size`` bytes (mount's notation), unmounted on the way out."""
    folder.mkdir()
    result = _mount(folder, size)
    assert result.returncode == 0, result.stderr
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# 256 KiB: less than each format's output of a 20 s song (the smallest, Opus at 160 kbps, is about 400 KB).
@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".opus"])
def test_a_full_output_disk_is_a_storage_error_naming_the_output(tmp_path: Path, suffix: str) -> None:
    src = write(tmp_path / "in.wav", pink_noise(20.0, RATE))
    before = _digest(src)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with tiny_disk(tmp_path / "tiny", "256k") as tiny:
        out = tiny / f"x{suffix}"
        result = run_cli(str(src), "-o", str(out), env={"TMPDIR": str(scratch)})
        left = sorted(p.name for p in tiny.iterdir())  # hidden .part files included
    assert result.returncode == 4, result.stderr
    line = one_line(result.stderr)
    assert str(out) in line
    assert "no space" in line
    assert "choose another -o" in line
    assert left == []  # no output, no partial one
    assert list(scratch.iterdir()) == []
    assert _digest(src) == before


def test_a_full_temporary_folder_names_it_the_space_needed_and_tmpdir(tmp_path: Path) -> None:
    seconds = 60.0
    src = write(tmp_path / "in.wav", pink_noise(seconds, RATE))
    before = _digest(src)
    out = tmp_path / "out" / "x.mp3"
    with tiny_disk(tmp_path / "tiny", "3m") as tiny:
        result = run_cli(str(src), "-o", str(out), env={"TMPDIR": str(tiny)})
        left = sorted(p.name for p in tiny.iterdir())  # no surroundyou-* scratch folder
    assert result.returncode == 4, result.stderr
    line = one_line(result.stderr)
    assert str(tiny) in line
    assert "no space" in line
    assert "TMPDIR=" in line
    needed = re.search(r"needs about (\d+) MB", line)
    assert needed is not None, line
    # At least the input and its room, two float32 rows a frame each; not wildly more.
    stored_mb = 16 * seconds * RATE / 1e6
    assert stored_mb <= int(needed[1]) <= 2 * stored_mb
    assert left == []
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert _digest(src) == before
