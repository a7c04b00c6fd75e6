"""Checks on what a run leaves behind: inputs untouched, errors as one line."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(folder: Path) -> dict[str, str]:
    """Each file's digest by name: compare before and after a run to show the inputs were not touched."""
    return {p.name: digest(p) for p in folder.iterdir()}


def one_line(stderr: str) -> str:
    """The single non-empty stderr line of a failed run (and no traceback)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]
