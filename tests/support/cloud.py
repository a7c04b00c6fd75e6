"""Cloud mode's worker runs and object checks, for the tests that run it against moto's S3 (the ``s3`` fixture)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.audio import pink_noise, write
from tests.support.processes import run_cli


def logs(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line must be one JSON object."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def put_song(client: Any, bucket: str, key: str, tmp_path: Path, seconds: float = 3.0) -> bytes:
    data = write(tmp_path / "song.mp3", pink_noise(seconds, 44100), quality="V2").read_bytes()
    client.put_object(Bucket=bucket, Key=key, Body=data)
    return data


def run_worker(env: dict[str, str], bucket: str, key: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env={**env, "S3_BUCKET": bucket, "S3_KEY": key, **extra})


def fetch(client: Any, bucket: str, key: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    obj = client.get_object(Bucket=bucket, Key=key)
    path = tmp_path / "fetched.mp3"
    path.write_bytes(obj["Body"].read())
    return obj, path
