"""Duplicate and concurrent events, and a killed worker: exactly one complete output, never a partial one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from surroundyou.convert.engine import Report, convert
from surroundyou.run import cloud
from surroundyou.settings import Settings, build_settings
from tests.support.audio import decode, pink_noise, write
from tests.support.processes import SCRIPT


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
def in_process(s3, tmp_path: Path):
    """Convert one object in this process against the moto server, with another worker's write
    between conversion and upload (the converter is the seam: no monkeypatching)."""
    client, bucket, _ = s3
    client.put_object(
        Bucket=bucket, Key="input/song.wav", Body=write(tmp_path / "s.wav", pink_noise(1.0, 44100)).read_bytes()
    )
    settings = build_settings({}, {"S3_BUCKET": bucket, "S3_KEY": "input/song.wav"})

    def run(competitor: Callable[[Any, str], object]) -> cloud.Outcome:
        def convert_then_compete(src: Path, dst: Path, settings: Settings) -> Report:
            report = convert(src, dst, settings)
            competitor(client, bucket)  # another worker writes while this one was converting
            return report

        return cloud.convert_object(client, settings, bucket, "input/song.wav", converter=convert_then_compete)

    return client, bucket, settings, run


def _output_meta(settings: Settings, etag: str) -> dict[str, str]:
    return {"source-key": "input/song.wav", "source-etag": etag, "settings": settings.fingerprint()}


def test_losing_the_race_to_the_same_work_is_a_skip(in_process) -> None:
    client, bucket, settings, run = in_process
    etag = client.head_object(Bucket=bucket, Key="input/song.wav")["ETag"]
    outcome = run(
        lambda c, b: c.put_object(
            Bucket=b, Key="processed/song.mp3", Body=b"theirs", Metadata=_output_meta(settings, etag)
        )
    )
    assert outcome.status == "skipped" and "another worker" in outcome.message
    assert client.get_object(Bucket=bucket, Key="processed/song.mp3")["Body"].read() == b"theirs"


def test_a_stale_output_written_meanwhile_is_replaced(in_process) -> None:
    client, bucket, settings, run = in_process
    outcome = run(
        lambda c, b: c.put_object(
            Bucket=b, Key="processed/song.mp3", Body=b"stale", Metadata=_output_meta(settings, '"an-older-source"')
        )
    )
    assert outcome.status == "converted"
    out = client.get_object(Bucket=bucket, Key="processed/song.mp3")
    assert out["Metadata"]["source-etag"] == client.head_object(Bucket=bucket, Key="input/song.wav")["ETag"]
    assert out["ContentLength"] > 1000


def test_a_source_replaced_meanwhile_leaves_the_work_to_its_own_event(in_process, tmp_path: Path) -> None:
    client, bucket, settings, run = in_process

    def newer_upload_and_output(c: Any, b: str) -> None:
        newer = write(tmp_path / "newer.wav", pink_noise(2.0, 44100, seed=9)).read_bytes()
        etag = c.put_object(Bucket=b, Key="input/song.wav", Body=newer)["ETag"]
        c.put_object(Bucket=b, Key="processed/song.mp3", Body=b"newer", Metadata=_output_meta(settings, etag))

    outcome = run(newer_upload_and_output)
    assert outcome.status == "skipped" and "replaced meanwhile" in outcome.message
    assert client.get_object(Bucket=bucket, Key="processed/song.mp3")["Body"].read() == b"newer"


def test_an_output_that_keeps_changing_is_a_storage_error_not_a_lost_write(in_process, tmp_path: Path) -> None:
    """Another writer changes the output before each of the conditional writes: publish gives up
    after UPLOAD_RACES attempts with a StorageError (exit 4, the event is retried), never overwriting."""
    from surroundyou.aws.storage import existing_output, locate
    from surroundyou.errors import StorageError

    client, bucket, settings, _ = in_process
    obj = locate(client, bucket, "input/song.wav")
    attempts: list[int] = []

    class Meddling:  # the real client over HTTP; before each PUT of ours, someone else's stale one
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def put_object(self, **kwargs: Any) -> Any:
            attempts.append(1)
            client.put_object(
                Bucket=bucket,
                Key="processed/song.mp3",
                Body=f"stale {len(attempts)}".encode(),
                Metadata=_output_meta(settings, f'"older-{len(attempts)}"'),
            )
            return client.put_object(**kwargs)

    output = write(tmp_path / "o.wav", pink_noise(0.5, 44100))
    previous = existing_output(client, bucket, "processed/song.mp3")
    with pytest.raises(StorageError, match="kept changing"):
        cloud.publish(Meddling(), bucket, obj, "processed/song.mp3", output, _output_meta(settings, obj.etag), previous)
    assert len(attempts) == cloud.UPLOAD_RACES
    assert (
        client.get_object(Bucket=bucket, Key="processed/song.mp3")["Body"].read() == f"stale {len(attempts)}".encode()
    )


def test_sigkill_mid_conversion_leaves_nothing_under_processed(s3, tmp_path: Path) -> None:
    """A task killed outright writes no output; its temporary files stay until the next run on the
    same temporary folder, which removes them."""
    client, bucket, env = s3
    client.put_object(
        Bucket=bucket,
        Key="input/long.wav",
        Body=write(tmp_path / "l.wav", pink_noise(300.0, 22050), rate=22050).read_bytes(),
    )
    client.put_object(
        Bucket=bucket, Key="input/short.wav", Body=write(tmp_path / "s.wav", pink_noise(2.0, 22050)).read_bytes()
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**env, "TMPDIR": str(scratch)}
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
    (left,) = scratch.glob("surroundyou-*")  # the download, at least
    assert sum(f.stat().st_size for f in left.rglob("*") if f.is_file()) > 0
    after = subprocess.run(
        [sys.executable, str(SCRIPT)], env=worker_env(env, bucket, "input/short.wav"), capture_output=True, timeout=120
    )
    assert after.returncode == 0, after.stderr
    assert list(scratch.iterdir()) == []  # the killed run's folder removed, the new run's own too
