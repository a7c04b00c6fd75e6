"""Child processes (ffmpeg, ffprobe): started in one place, each in a process group of its own.

Every child is registered while it lives and has a deadline: a watchdog kills its whole
group when the deadline passes, and its owner kills the group when it is done with it, on
an error or when it stops reading (``Child`` is a context manager). ``kill_all`` kills
every registered group at once, for a stop signal's handler, and every child started
after it. So no child outlives the worker, whatever a file makes ffmpeg do.

A child's stderr goes to an unlinked temporary file (nothing is left behind even on
SIGKILL), of which only the first and last ``ERRORS_KEPT_BYTES`` are read back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

ERRORS_KEPT_BYTES = 16 << 10  # of a child's stderr, this much of its start and of its end is kept
OUTPUT_LIMIT_BYTES = 1 << 20  # what ``run`` reads of a child's stdout at most

_live: dict[int, subprocess.Popen[bytes]] = {}  # pid (= its process group) -> the child, until reaped
_stopping = False  # kill_all was called: children started from now on are killed at once


def kill_all() -> None:
    """Kill the process group of every live child, and of every child started from now on.

    Meant for a stop signal's handler (SIGTERM, SIGINT, queue mode's stop): it takes no lock
    and does not wait; each child's owner reaps it and sees it ended by SIGKILL.
    """
    global _stopping
    _stopping = True
    for proc in list(_live.values()):  # a copy: the owners unregister their children meanwhile
        _kill_group(proc)


def running() -> list[int]:
    """The pids of the live children (each also the id of its process group)."""
    return list(_live)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.returncode is not None:  # reaped: its pid may belong to someone else by now
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while a child is started and registered, then deliver them.

    A stop handler raising inside ``Popen`` (between the fork and its return) would lose the
    child unregistered: an orphan. Python runs signal handlers in the main thread only, so
    other threads need no holding (their children are registered before kill_all can miss
    them, or are killed at once because of ``_stopping``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[signal.Signals, Any] = {}  # the handlers to restore
    for stop in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(stop) is not None:  # None: installed by C code, leave it alone
            previous[stop] = signal.signal(stop, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        for signum in held:
            signal.raise_signal(signum)  # now the real handler runs


class Child:
    """One child process in its own process group, killed with its group at ``timeout_s``.

    Use as a context manager: leaving it kills the group (if still alive) and reaps the
    child. ``stdout``: its output, when started with a pipe for it.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        timeout_s: float,
        stdout: int | IO[bytes] = subprocess.PIPE,
        stdin: int = subprocess.DEVNULL,
    ) -> None:
        self.timeout_s = timeout_s
        self.timed_out = False  # the watchdog killed it
        self.errors: tuple[str, ...] = ()  # its stderr lines, once it has ended (bounded, see module doc)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close(), as the child is reaped
        self.proc = self._start(cmd, stdout, stdin)
        if _stopping:  # a stop came first: the child never gets to run
            _kill_group(self.proc)
        self._watchdog = threading.Timer(timeout_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _start(self, cmd: Sequence[str], stdout: int | IO[bytes], stdin: int) -> subprocess.Popen[bytes]:
        proc = None
        try:
            with signals_held():
                proc = subprocess.Popen(
                    list(cmd), stdin=stdin, stdout=stdout, stderr=self._stderr, start_new_session=True
                )
                _live[proc.pid] = proc
        except BaseException:  # also a stop delivered once the child was registered
            if proc is not None:
                _kill_group(proc)
                _live.pop(proc.pid, None)
                proc.wait()
            self._stderr.close()
            raise
        return proc

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None  # for the type checker: only with a pipe
        return self.proc.stdout

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None  # for the type checker: only with a pipe
        return self.proc.stdin

    def _expire(self) -> None:
        self.timed_out = True
        _kill_group(self.proc)

    def wait(self) -> int:
        """Wait until the child ends (the watchdog ends it at its deadline); returns its exit code."""
        if hasattr(os, "waitid"):  # wait without reaping: its pid stays its own while the group is killed
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)
        else:  # macOS before Python 3.13
            self.proc.wait()
        self.close()
        assert self.proc.returncode is not None  # for the type checker: close() reaped it
        return self.proc.returncode

    def close(self) -> None:
        """Kill the child's group (whatever is left of it), reap the child, keep its stderr."""
        self._watchdog.cancel()
        _kill_group(self.proc)  # also what an exited child may have left in its group
        _live.pop(self.proc.pid, None)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a stdin whose reader died: nothing left to flush
                    pipe.close()
        if not self._stderr.closed:
            self.errors = _head_and_tail_lines(self._stderr)
            self._stderr.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _head_and_tail_lines(fh: IO[bytes]) -> tuple[str, ...]:
    """The non-empty lines of a file's first and last ``ERRORS_KEPT_BYTES`` (its whole text if short)."""
    size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    if size <= 2 * ERRORS_KEPT_BYTES:
        text = fh.read()
    else:
        head = fh.read(ERRORS_KEPT_BYTES)
        fh.seek(size - ERRORS_KEPT_BYTES)
        text = head.rsplit(b"\n", 1)[0] + b"\n...\n" + fh.read().split(b"\n", 1)[-1]
    return tuple(s for ln in text.decode("utf-8", "replace").splitlines() if (s := ln.strip()))


@dataclass(frozen=True)
class Finished:
    """How a child run by ``run`` ended."""

    code: int  # its exit code (negative: killed by that signal)
    output: bytes  # its stdout, at most OUTPUT_LIMIT_BYTES (+1, to tell that there was more)
    errors: tuple[str, ...]  # its stderr lines (bounded)
    timed_out: bool  # killed at its deadline


def run(cmd: Sequence[str], timeout_s: float) -> Finished:
    """Run a child to its end (at most ``timeout_s``), its stdout into an unlinked temporary file."""
    with tempfile.TemporaryFile() as out:
        with Child(cmd, timeout_s, stdout=out) as child:
            code = child.wait()
        out.seek(0)
        return Finished(code, out.read(OUTPUT_LIMIT_BYTES + 1), child.errors, child.timed_out)
