"""Running process_audio.py as a user would, from the repository the tests live in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from surroundyou import settings as settings_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "process_audio.py"
# Every variable the worker reads (settings.OPTIONS declares each one): none may leak in from the shell.
SETTINGS_VARIABLES = settings_module.VARIABLES


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any S3, AWS or worker variable, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "INPUT_", "OUTPUT_"))}
    for name in SETTINGS_VARIABLES:
        base.pop(name, None)
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
