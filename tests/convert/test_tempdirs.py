"""One temporary folder per run: made locked, removed at exit, and removed by a later run only once
no live process holds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from surroundyou.convert.tempdirs import LOCK, PREFIX, UNLOCKED_AGE_S, remove_stale
from tests.support.processes import ROOT, wait_until

# A process that makes its run folder, says where, and waits (or exits at once with "exit").
_HOLDER = """
import sys
from surroundyou.convert.tempdirs import run_folder
print(run_folder(), flush=True)
if sys.argv[1] != "exit":
    sys.stdin.read()
"""


def _holder(tmp: Path, how: str = "wait") -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_run_folder_is_locked_named_for_its_process_and_removed_when_the_run_ends(tmp_path: Path) -> None:
    proc, folder = _holder(tmp_path, "exit")
    assert folder.parent == tmp_path and folder.name.startswith(f"{PREFIX}{proc.pid}-")
    assert proc.wait(timeout=30) == 0
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []  # nor a half-made one


def test_a_live_runs_folder_is_kept_and_a_killed_runs_folder_is_removed(tmp_path: Path) -> None:
    live, kept = _holder(tmp_path)
    killed, stale = _holder(tmp_path)
    try:
        (stale / "song-x").mkdir()
        (stale / "song-x" / "input.f32").write_bytes(b"\0" * 4096)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert stale.exists()  # nothing could remove it as the run died
        assert remove_stale(tmp_path) == [stale.name]
        assert not stale.exists() and kept.exists() and (kept / LOCK).exists()
        assert remove_stale(tmp_path) == []  # the live one, again
    finally:
        live.kill()
        live.wait(timeout=30)
        killed.kill()


def test_a_new_run_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    killed, stale = _holder(tmp_path)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    proc, folder = _holder(tmp_path, "exit")
    proc.wait(timeout=30)
    assert not stale.exists() and not folder.exists()


def test_folders_without_a_lock_are_removed_only_when_untouched_for_a_day(tmp_path: Path) -> None:
    old, fresh = tmp_path / f"{PREFIX}old", tmp_path / f"{PREFIX}fresh"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "scratch").write_bytes(b"x")
    then = time.time() - UNLOCKED_AGE_S - 60
    for path in (old / "scratch", old):
        os.utime(path, (then, then))
    half_made = tmp_path / f".{PREFIX}new-abc"  # a run killed while making its folder
    half_made.mkdir()
    (half_made / LOCK).touch()
    os.utime(half_made, (time.time(), time.time()))
    assert remove_stale(tmp_path) == [old.name]
    assert fresh.exists() and half_made.exists()


def test_only_plain_folders_with_the_prefix_are_judged(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / LOCK).touch()  # an unheld lock: removable, were it a run folder
    (tmp_path / f"{PREFIX}link").symlink_to(target)
    other = tmp_path / "other-run"
    other.mkdir()
    (other / LOCK).touch()
    (tmp_path / f"{PREFIX}file").write_bytes(b"x")
    assert remove_stale(tmp_path) == []
    assert (target / LOCK).exists() and other.exists() and (tmp_path / f"{PREFIX}file").exists()


def test_a_pool_worker_that_adopts_the_folder_keeps_it_held(tmp_path: Path) -> None:
    owner, folder = _holder(tmp_path)
    adopter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from surroundyou.convert.tempdirs import adopt;"
            "adopt(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
            str(folder),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert adopter.stdout is not None and adopter.stdout.readline().strip() == "held"
        owner.send_signal(signal.SIGKILL)  # the run dies; its worker still works in the folder
        owner.wait(timeout=30)
        assert remove_stale(tmp_path) == [] and folder.exists()
        adopter.kill()
        adopter.wait(timeout=30)
        assert wait_until(lambda: remove_stale(tmp_path) == [folder.name], timeout=10)
    finally:
        owner.kill()
        adopter.kill()
