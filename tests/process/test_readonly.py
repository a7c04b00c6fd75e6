"""The worker needs nothing writable but its temporary folder and its output: a read-only root filesystem works.

Runs process_audio.py in a private mount namespace (util-linux ``unshare``, as root)
where / is remounted read-only and only TMPDIR and the output folder stay writable,
as in the container with a read-only root filesystem. Where mount namespaces are not
allowed (a non-root user, an unprivileged container) it is skipped with the reason; CI
runs it as root, and the container test runs the real image with ``--read-only``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio import decode, pink_noise, write
from tests.support.processes import SCRIPT


def can_make_mount_namespaces() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        return False


@pytest.mark.skipif(
    not can_make_mount_namespaces(),
    reason="needs a private mount namespace (root with CAP_SYS_ADMIN), which this machine does not allow; "
    "./dev container runs the image itself with --read-only",
)
def test_converts_with_a_read_only_root_filesystem(tmp_path: Path) -> None:
    src = write(tmp_path / "in.wav", pink_noise(2.0, 44100))
    out, scratch = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    scratch.mkdir()
    script = " && ".join(
        [
            f"mount --bind {shlex.quote(str(out))} {shlex.quote(str(out))}",
            f"mount --bind {shlex.quote(str(scratch))} {shlex.quote(str(scratch))}",
            "mount -o remount,bind,ro /",
            f"! touch {shlex.quote(str(tmp_path / 'probe'))} 2>/dev/null",  # the rest really is read-only
            shlex.join([sys.executable, str(SCRIPT), str(src), "-o", str(out / "x.mp3")]),
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    env.update({"TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"})
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    y, rate = decode(out / "x.mp3")
    assert abs(y.shape[1] / rate - 2.0) < 2.1
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "probe").exists()
