"""Storage faults between the worker and S3 (moto over HTTP, through a fault-injecting proxy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.audio import pink_noise, write
from tests.support.faults import FaultProxy
from tests.support.processes import run_cli

KEY = "input/song.mp3"


def _song(client, bucket: str, tmp_path: Path) -> bytes:
    data = write(tmp_path / "s.mp3", pink_noise(4.0, 44100), quality="V2").read_bytes()
    client.put_object(Bucket=bucket, Key=KEY, Body=data)
    return data


def _run(env: dict[str, str], proxy: FaultProxy, bucket: str, attempts: int, read_timeout: float = 60):
    return run_cli(
        env={
            **env,
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_MAX_ATTEMPTS": str(attempts),
            "S3_READ_TIMEOUT_SECONDS": str(read_timeout),
            "S3_BUCKET": bucket,
            "S3_KEY": KEY,
        },
        timeout=180,
    )


def test_transient_faults_are_retried_and_the_run_succeeds(s3, moto_server: str, tmp_path: Path) -> None:
    client, bucket, env = s3
    source = _song(client, bucket, tmp_path)
    rotation = ["503", "500", "reset"]

    def first_attempt_fails(method: str, path: str, attempt: int) -> str:
        if attempt > 1:
            return "pass"
        if method == "GET" and path.endswith("song.mp3") and "/input/" in path:
            return "cut"  # the download breaks off halfway
        return rotation[hash((method, path)) % 3]

    with FaultProxy(moto_server, first_attempt_fails) as proxy:
        result = _run(env, proxy, bucket, attempts=4)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["status"] == "converted"
    assert proxy.injected["cut"] == 1 and sum(proxy.injected.values()) >= 4
    assert client.head_object(Bucket=bucket, Key="processed/song.mp3")["ContentLength"] > 10_000
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == source


def _uploads_fail(method: str, path: str, attempt: int) -> str:
    return "500" if method == "PUT" and "/processed/" in path else "pass"


def _downloads_break_off(method: str, path: str, attempt: int) -> str:
    return "cut" if method == "GET" and "/input/" in path else "pass"


@pytest.mark.parametrize(
    ("plan", "fault", "stage", "detail"),
    [(_uploads_fail, "500", "uploading", "InternalError"), (_downloads_break_off, "cut", "downloading", "bytes")],
    ids=["every upload fails", "every download breaks off"],
)
def test_persistent_faults_exit_4_and_leave_nothing(
    s3, moto_server: str, tmp_path: Path, plan, fault: str, stage: str, detail: str
) -> None:
    client, bucket, env = s3
    _song(client, bucket, tmp_path)
    with FaultProxy(moto_server, plan) as proxy:
        result = _run(env, proxy, bucket, attempts=3)
    assert result.returncode == 4, result.stderr
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["status"] == "failed" and stage in record["message"] and detail in record["message"]
    assert proxy.injected[fault] >= 3  # it was retried before giving up
    assert client.list_objects_v2(Bucket=bucket, Prefix="processed/")["KeyCount"] == 0


def test_throttling_on_every_first_try_of_the_duplicate_check(s3, moto_server: str, tmp_path: Path) -> None:
    client, bucket, env = s3
    _song(client, bucket, tmp_path)

    def throttle_heads(method: str, path: str, attempt: int) -> str:
        return "503" if method == "HEAD" and attempt == 1 else "pass"

    with FaultProxy(moto_server, throttle_heads) as proxy:
        result = _run(env, proxy, bucket, attempts=3)
    assert result.returncode == 0, result.stderr
    assert proxy.injected["503"] >= 2


def test_timeouts_are_retried(s3, moto_server: str, tmp_path: Path) -> None:
    client, bucket, env = s3
    _song(client, bucket, tmp_path)

    def first_try_stalls(method: str, path: str, attempt: int) -> str:
        return "stall" if attempt == 1 and method in ("HEAD", "GET", "PUT") else "pass"

    with FaultProxy(moto_server, first_try_stalls, stall_s=2.5) as proxy:
        result = _run(env, proxy, bucket, attempts=3, read_timeout=1.0)
    assert result.returncode == 0, result.stderr
    assert proxy.injected["stall"] >= 3  # the source check, the download, the output check, the upload
    assert client.head_object(Bucket=bucket, Key="processed/song.mp3")["ContentLength"] > 10_000
