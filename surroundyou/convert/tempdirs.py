"""One temporary folder per run, and the removal of those whose run is gone.

Every temporary file of a run (a song's scratch, cloud mode's download and
output, the demo song) lives in one folder, ``surroundyou-<pid>-<random>`` in the
system's temporary folder (``TMPDIR``). A run that ends in any usual way (done,
an error, Ctrl-C, SIGTERM) removes it; one killed outright (SIGKILL, the OOM
killer) cannot, so each new run removes the folders of runs that are gone.

"Gone" is decided by a lock, not a pid (pids are reused): the run holds a shared
``flock`` on the folder's ``.lock`` file for its whole life, and so do its pool
workers, which work in the same folder; the kernel drops the locks of a process
that dies, however it dies. A folder whose lock can be taken exclusively has no
live user and is removed. A folder is created under a hidden name and renamed
only once it is locked, so no run ever sees a folder of a live run unlocked.
Folders of other users, and entries that are not plain folders, are left alone.
A folder without a lock (made by an earlier version, or by a run killed while
creating its own) has no owner to ask: it is removed once nothing in it has
changed for a day (a live run writes its scratch all the time).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from surroundyou.errors import StorageError, storage_cause, temp_fix

PREFIX = "surroundyou-"
NEW = f".{PREFIX}new-"
LOCK = ".lock"
UNLOCKED_AGE_S = 24 * 3600

_folder: Path | None = None


def run_folder() -> Path:
    """This run's folder, made (and stale ones removed) on first use; removed when the process exits.
    Raises StorageError when the temporary folder refuses it (full, not writable)."""
    global _folder
    if _folder is None:
        root = Path(tempfile.gettempdir())
        remove_stale(root)
        try:
            _folder = _make(root)
        except OSError as exc:
            raise StorageError(
                f"cannot make a folder in the temporary folder {root}: {storage_cause(exc)}; {temp_fix(exc)}"
            ) from None
        atexit.register(_remove_own, _folder, os.getpid())
    return _folder


def _make(root: Path) -> Path:
    """A new folder in ``root``, locked before it gets the name other runs look at."""
    new = Path(tempfile.mkdtemp(prefix=NEW, dir=root))
    try:
        _hold(new)
        folder = root / f"{PREFIX}{os.getpid()}-{new.name.rsplit('-', 1)[-1]}"
        new.rename(folder)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return folder


def adopt(folder: Path) -> None:
    """In a pool worker: work in the parent run's ``folder``, holding its lock too (so the folder stays
    while the worker lives), and leave its removal to the parent."""
    global _folder
    _hold(folder)
    _folder = folder


def _hold(folder: Path) -> None:
    """Take a shared lock on ``folder``'s lock file; its descriptor is never closed, so the lock lasts as
    long as the process."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)


def _remove_own(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that inherited the exit handler
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale(root: Path) -> list[str]:
    """Remove the run folders in ``root`` that no live process holds; returns their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith((PREFIX, NEW)) and _is_stale(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _is_stale(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a run folder of this user that no process holds. The exclusive lock taken to
    find out is released before the folder is removed: a run never takes the lock of an existing folder
    but its own parent's, so no run can start using it meanwhile."""
    try:
        if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
            return False
    except OSError:
        return False
    # Being made (its lock may not be taken yet) or left half-made; or made by an earlier version.
    if entry.name.startswith(NEW) or not os.path.lexists(os.path.join(entry.path, LOCK)):
        return _untouched_for(entry.path, UNLOCKED_AGE_S)
    return not held(Path(entry.path))


def held(folder: Path) -> bool:
    """Whether a live process holds the lock of the run folder ``folder`` (False if it has none; True if
    it cannot be opened: not ours to judge)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _untouched_for(path: str, seconds: float) -> bool:
    """Whether neither the folder ``path`` nor anything directly in it changed in the last ``seconds``."""
    try:
        times = [os.stat(path, follow_symlinks=False).st_mtime]
        times += [entry.stat(follow_symlinks=False).st_mtime for entry in os.scandir(path)]
    except OSError:
        return False
    return time.time() - max(times) > seconds
