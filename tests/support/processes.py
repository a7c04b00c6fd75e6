"""Running process_audio.py as a user would, from the repository the tests live in."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from surroundyou import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "process_audio.py"
# Every variable the worker reads (settings.OPTIONS declares each one): none may leak in from the shell.
SETTINGS_VARIABLES = settings_module.VARIABLES


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any S3, AWS or worker variable, plus ``env``; a temporary
    folder of its own (in the suite's: see conftest.py) unless ``env`` names one."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "INPUT_", "OUTPUT_"))}
    for name in SETTINGS_VARIABLES:
        base.pop(name, None)
    base["TMPDIR"] = tempfile.mkdtemp(prefix="worker-", dir=os.environ.get("TMPDIR"))
    base.update(env or {})
    return base


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run process_audio.py in a subprocess with a clean S3/config environment."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=cli_env(env), cwd=cwd, timeout=timeout
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start process_audio.py like ``run_cli``, without waiting: its stderr is a pipe of text lines."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
    )


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Whether ``condition`` became true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@dataclass(frozen=True)
class Measured:
    code: int
    stderr: str
    peak_mb: float  # the worker's peak resident memory (wait4's ru_maxrss, waited-for children included)


# Starts the worker and reports its peak memory. Linux counts a process's peak from the memory of
# the process it was forked from (exec takes over the old image's high-water mark), so a worker
# forked straight from pytest (hundreds of MB by the end of the suite) would report pytest's size.
# This launcher is small when it forks: the worker's figure is its own.
_LAUNCHER = """
import os, signal, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.WEXITSTATUS(status))
"""


def run_measured(
    *args: str, env: dict[str, str] | None = None, address_space: int = 3 << 30, timeout: float = 120.0
) -> Measured:
    """process_audio.py as a whole process in a session of its own, under an ``address_space`` limit
    (a worker that tries to allocate gigabytes fails there, sparing the machine), with its peak memory;
    killed with its session's group, and the test failed, if it has not ended within ``timeout``
    (generous: it proves "does not hang", not a speed)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with tempfile.TemporaryDirectory() as scratch:
        report, err_path = Path(scratch) / "peak", Path(scratch) / "stderr"
        with err_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _LAUNCHER, str(report), sys.executable, str(SCRIPT), *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=cli_env({"REVERB_AMOUNT": "0", **(env or {})}),
                start_new_session=True,
                preexec_fn=cap,
            )
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
        text = err_path.read_text("utf-8", "replace")
        assert code is not None, f"the worker was still running after {timeout:.0f} s: {text[-500:]}"
        return Measured(code, text, int(report.read_text()) / 1024)


@dataclass(frozen=True)
class Terminal:
    code: int
    stdout: str
    screen: str  # all that was written to the terminal (stderr): bars with their carriage returns


def run_in_terminal(*args: str, env: dict[str, str] | None = None, columns: int = 150) -> Terminal:
    """Run process_audio.py as ``run_cli`` does, with stderr on a pseudo-terminal ``columns`` wide (as a user
    at a terminal has it: bars are drawn there) and stdout on a pipe."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=side,
        stdin=subprocess.DEVNULL,
        env=cli_env(env),
    )
    os.close(side)
    screen = bytearray()
    while True:  # the terminal must be read as it is written: a full one blocks the writer
        if select.select([main], [], [], 0.1)[0]:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: every writer has closed it
                break
            if not data:
                break
            screen += data
        elif proc.poll() is not None:
            break
    os.close(main)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    return Terminal(proc.wait(timeout=60), stdout, screen.decode(errors="replace"))
