"""Duplicate and concurrent events, and a killed worker: exactly one complete output, never a partial one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from audio import decode, pink_noise, write
from conftest import SCRIPT

from surroundyou import cloud
from surroundyou.settings import Settings, build_settings


def worker_env(env: dict[str, str], bucket: str, key: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    return {**base, **env, "S3_BUCKET": bucket, "S3_KEY": key}


def final_status(stderr: str) -> str:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()][-1]["status"]


def test_two_workers_on_one_key_give_exactly_one_output(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    client.put_object(
        Bucket=bucket,
        Key="input/song.mp3",
        Body=write(tmp_path / "s.mp3", pink_noise(20.0, 44100), quality="V2").read_bytes(),
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT)],
            env=worker_env(env, bucket, "input/song.mp3"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert sorted(final_status(err) for _, err in results) == ["converted", "skipped"]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="processed/")
    assert [o["Key"] for o in listed["Contents"]] == ["processed/song.mp3"]
    obj = client.get_object(Bucket=bucket, Key="processed/song.mp3")
    path = tmp_path / "out.mp3"
    path.write_bytes(obj["Body"].read())
    y, rate = decode(path)
    assert y.shape[1] / rate >= 20.0


@pytest.fixture
def in_process(s3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run cloud mode in this process against the moto server, with a hook between conversion and upload."""
    client, bucket, env = s3
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client.put_object(
        Bucket=bucket, Key="input/song.wav", Body=write(tmp_path / "s.wav", pink_noise(1.0, 44100)).read_bytes()
    )
    settings = build_settings({}, {"S3_BUCKET": bucket, "S3_KEY": "input/song.wav"})
    real_convert = cloud.convert

    def run(competitor) -> list[dict[str, Any]]:
        def convert_then_compete(*args: Any, **kwargs: Any) -> Any:
            report = real_convert(*args, **kwargs)
            competitor(client, bucket)  # another worker writes while this one was converting
            return report

        monkeypatch.setattr(cloud, "convert", convert_then_compete)
        records: list[dict[str, Any]] = []
        monkeypatch.setattr(
            cloud,
            "event",
            lambda name, message, *a, **fields: records.append({"event": name, "message": message, **fields}),
        )
        cloud.run_cloud(settings)
        return records

    return client, bucket, settings, run


def _output_meta(settings: Settings, etag: str) -> dict[str, str]:
    return {"source-etag": etag, "settings": settings.fingerprint()}


def test_losing_the_race_to_the_same_work_is_a_skip(in_process) -> None:
    client, bucket, settings, run = in_process
    etag = client.head_object(Bucket=bucket, Key="input/song.wav")["ETag"]
    records = run(
        lambda c, b: c.put_object(
            Bucket=b, Key="processed/song.mp3", Body=b"theirs", Metadata=_output_meta(settings, etag)
        )
    )
    assert records[-1]["status"] == "skipped" and "another worker" in records[-1]["message"]
    assert client.get_object(Bucket=bucket, Key="processed/song.mp3")["Body"].read() == b"theirs"


def test_a_stale_output_written_meanwhile_is_replaced(in_process) -> None:
    client, bucket, settings, run = in_process
    records = run(
        lambda c, b: c.put_object(
            Bucket=b, Key="processed/song.mp3", Body=b"stale", Metadata=_output_meta(settings, '"an-older-source"')
        )
    )
    assert records[-1]["status"] == "converted"
    out = client.get_object(Bucket=bucket, Key="processed/song.mp3")
    assert out["Metadata"]["source-etag"] == client.head_object(Bucket=bucket, Key="input/song.wav")["ETag"]
    assert out["ContentLength"] > 1000


def test_a_source_replaced_meanwhile_leaves_the_work_to_its_own_event(in_process, tmp_path: Path) -> None:
    client, bucket, settings, run = in_process

    def newer_upload_and_output(c: Any, b: str) -> None:
        newer = write(tmp_path / "newer.wav", pink_noise(2.0, 44100, seed=9)).read_bytes()
        etag = c.put_object(Bucket=b, Key="input/song.wav", Body=newer)["ETag"]
        c.put_object(Bucket=b, Key="processed/song.mp3", Body=b"newer", Metadata=_output_meta(settings, etag))

    records = run(newer_upload_and_output)
    assert records[-1]["status"] == "skipped" and "replaced meanwhile" in records[-1]["message"]
    assert client.get_object(Bucket=bucket, Key="processed/song.mp3")["Body"].read() == b"newer"


def test_sigkill_mid_conversion_leaves_nothing_under_processed(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    client.put_object(
        Bucket=bucket,
        Key="input/long.wav",
        Body=write(tmp_path / "l.wav", pink_noise(300.0, 22050), rate=22050).read_bytes(),
    )
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        env=worker_env(env, bucket, "input/long.wav"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the first log line: the object was found; the download and work follow
    assert json.loads(line)["event"] == "located"
    time.sleep(1.0)
    assert proc.poll() is None, "the conversion ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert client.list_objects_v2(Bucket=bucket, Prefix="processed/")["KeyCount"] == 0
