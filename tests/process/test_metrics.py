"""The worker's CloudWatch metrics end to end: each finished object's last JSON line, as cloud mode (moto's S3)
and queue mode (moto's S3 and SQS) write it, read the way CloudWatch reads the embedded metric format;
local mode's lines carry none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from surroundyou.aws.metrics import NAMESPACE
from tests.support.audio import pink_noise, write
from tests.support.cloud import put_song, run_worker
from tests.support.emf import datapoints, value
from tests.support.processes import run_cli, start_cli
from tests.support.queue import bridge_event, events, finish, send
from tests.support.queue import put_song as queue_song

OUTCOMES = ("Converted", "Skipped", "Failed")


def last_line(stderr: str) -> tuple[dict[str, Any], str]:
    """The worker's last log line, parsed and as written."""
    raw = [line for line in stderr.splitlines() if line.strip()][-1]
    return json.loads(raw), raw


def outcome(points: dict[Any, Any], mode: str) -> dict[str, int]:
    return {name: value(points, NAMESPACE, name, Mode=mode) for name in OUTCOMES}


def snake_case_fields(record: dict[str, Any]) -> set[str]:
    """The log's own fields (the metrics' members are CamelCase, and _aws)."""
    return {name for name in record if name[0].islower()}


def test_cloud_mode_converted_then_skipped_lines_are_metrics_with_the_lines_values(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/song.mp3", tmp_path)
    result = run_worker(env, bucket, "input/song.mp3")
    assert result.returncode == 0, result.stderr
    done, raw = last_line(result.stderr)
    assert done["event"] == "converted"
    points = datapoints(raw)
    assert outcome(points, "cloud") == {"Converted": 1, "Skipped": 0, "Failed": 0}
    assert value(points, NAMESPACE, "ProcessingSeconds", Mode="cloud") == done["processing_seconds"]
    assert value(points, NAMESPACE, "SongSeconds", Mode="cloud") == done["input_seconds"]
    assert value(points, NAMESPACE, "RealtimeFactor", Mode="cloud") == done["realtime_factor"]
    # the log's fields are all still there, and the key is nowhere in the metrics
    expected = {"event", "status", "bucket", "key", "output_key", "processing_seconds", "input_seconds", "decoder"}
    assert expected <= snake_case_fields(done)
    assert all(dimension == (("Mode", "cloud"),) for _, dimension, _ in points)

    again = run_worker(env, bucket, "input/song.mp3")
    assert again.returncode == 0, again.stderr
    skipped, raw = last_line(again.stderr)
    assert skipped["event"] == "skipped"
    points = datapoints(raw)
    assert outcome(points, "cloud") == {"Converted": 0, "Skipped": 1, "Failed": 0}
    assert {name for _, _, name in points} == set(OUTCOMES)  # nothing measured for a skip


@pytest.mark.parametrize(
    ("setup", "code", "failure_class"),
    [
        ({"key": "input/bad.mp3", "body": b"\xff\xfb\x90\x00" + b"\x00garbage" * 100}, 3, "bad-input"),
        ({"key": "input/song.mp3", "extra": {"S3_READ_TIMEOUT_SECONDS": "soon"}}, 2, "usage"),
    ],
    ids=["corrupt-upload", "mistyped-variable"],
)
def test_cloud_mode_failed_task_line_counts_a_failure_by_class(
    s3, setup: dict[str, Any], code: int, failure_class: str
) -> None:
    client, bucket, env = s3
    if "body" in setup:
        client.put_object(Bucket=bucket, Key=setup["key"], Body=setup["body"])
    result = run_worker(env, bucket, setup["key"], **setup.get("extra", {}))
    assert result.returncode == code, result.stderr
    failed, raw = last_line(result.stderr)
    assert failed["event"] == "failed" and failed["exit_code"] == code
    points = datapoints(raw)
    assert outcome(points, "cloud") == {"Converted": 0, "Skipped": 0, "Failed": 1}
    assert value(points, NAMESPACE, "Failed", Mode="cloud", FailureClass=failure_class) == 1


def test_queue_mode_each_objects_line_is_metrics_with_its_queue_wait(queues, tmp_path: Path) -> None:
    q = queues
    queue_song(q, "input/song.mp3", tmp_path)
    send(q, bridge_event(q["bucket"], "input/song.mp3"))
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    [done] = events(records, "converted")
    [received] = events(records, "received")
    points = datapoints(json.dumps(done))
    assert outcome(points, "queue") == {"Converted": 1, "Skipped": 0, "Failed": 0}
    assert value(points, NAMESPACE, "ProcessingSeconds", Mode="queue") == done["processing_seconds"]
    assert value(points, NAMESPACE, "SongSeconds", Mode="queue") == done["input_seconds"]
    wait = value(points, NAMESPACE, "QueueWaitSeconds", Mode="queue")
    assert wait == pytest.approx(received["queue_wait_seconds"], abs=0.002)

    send(q, bridge_event(q["bucket"], "input/song.mp3"))  # converted already: skipped
    send(q, "this is not an S3 event")  # bad input
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    [skipped], [failed] = events(records, "skipped"), events(records, "failed")
    points = datapoints(json.dumps(skipped))
    assert outcome(points, "queue") == {"Converted": 0, "Skipped": 1, "Failed": 0}
    assert value(points, NAMESPACE, "QueueWaitSeconds", Mode="queue") >= 0
    points = datapoints(json.dumps(failed))
    assert outcome(points, "queue") == {"Converted": 0, "Skipped": 0, "Failed": 1}
    assert value(points, NAMESPACE, "Failed", Mode="queue", FailureClass="bad-input") == 1


def test_local_mode_json_lines_carry_no_metrics(tmp_path: Path) -> None:
    song = write(tmp_path / "song.wav", pink_noise(1.0, 44100))
    (tmp_path / "bad.mp3").write_bytes(b"\x00" * 4000)
    ok = run_cli(str(song), "-o", str(tmp_path / "out"), "--log-format", "json")
    bad = run_cli(str(tmp_path / "bad.mp3"), "-o", str(tmp_path / "out"), "--log-format", "json")
    assert ok.returncode == 0, ok.stderr
    assert bad.returncode == 3, bad.stderr
    records = [json.loads(line) for r in (ok, bad) for line in r.stderr.splitlines() if line.strip()]
    assert {"converted", "failed"} <= {r.get("event") for r in records}
    for record in records:
        assert "_aws" not in record and snake_case_fields(record) == set(record), record
