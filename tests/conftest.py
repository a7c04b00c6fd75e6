"""Fixtures: a moto S3 server over HTTP, and running process_audio.py as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto_s3 import moto_s3_server, new_bucket

from surroundyou import settings as settings_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "process_audio.py"
# Every variable the worker reads (settings.OPTIONS declares each one): none may leak in from the shell.
SETTINGS_VARIABLES = settings_module.VARIABLES


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run process_audio.py in a subprocess with a clean S3/config environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "INPUT_", "OUTPUT_"))}
    for name in SETTINGS_VARIABLES:
        base.pop(name, None)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=timeout
    )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_server: str) -> Iterator[tuple[object, str, dict[str, str]]]:
    """(client, bucket, env for the worker): a fresh bucket on the moto server."""
    client, bucket, env = new_bucket(moto_server, "us-east-1", "testing", "testing")
    yield client, bucket, env
