"""Queue mode's messages, worker runs and queue checks, for the tests that run the worker against moto's SQS
(the ``queues`` fixture in conftest.py makes the bucket, the queues and the worker's environment)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from tests.support.audio import pink_noise, write

EVENT = json.loads((Path(__file__).parent.parent / "events" / "s3-object-created.json").read_text())


def bridge_event(bucket: str, key: str) -> str:
    """The body EventBridge gives SQS for an S3 upload."""
    body = json.loads(json.dumps(EVENT))
    body["detail"]["bucket"]["name"] = bucket
    body["detail"]["object"]["key"] = key
    return json.dumps(body)


def notification(bucket: str, key: str) -> str:
    """The body of an S3 event notification sent straight to SQS (S3 form-encodes its keys)."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/"), "size": 1}},
    }
    return json.dumps({"Records": [record]})


def put_song(q: dict[str, Any], key: str, tmp_path: Path, seconds: float = 2.0, seed: int = 0) -> None:
    path = write(tmp_path / f"song{seed}.mp3", pink_noise(seconds, 44100, seed=seed), quality="V2")
    q["s3"].put_object(Bucket=q["bucket"], Key=key, Body=path.read_bytes())


def send(q: dict[str, Any], body: str) -> None:
    q["sqs"].send_message(QueueUrl=q["url"], MessageBody=body)


def finish(worker: subprocess.Popen[str], timeout: float = 120) -> tuple[int, list[dict[str, Any]]]:
    """Wait for a worker; (exit code, its JSON log records)."""
    _, stderr = worker.communicate(timeout=timeout)
    return worker.returncode, [json.loads(line) for line in stderr.splitlines() if line.strip()]


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == name]


def queue_is_empty(q: dict[str, Any], url: str | None = None) -> bool:
    attributes = q["sqs"].get_queue_attributes(QueueUrl=url or q["url"], AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def outputs(q: dict[str, Any]) -> list[str]:
    listing = q["s3"].list_objects_v2(Bucket=q["bucket"], Prefix="processed/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def read_until(worker: subprocess.Popen[str], name: str) -> list[dict[str, Any]]:
    """The worker's log records up to and including the first ``name`` event."""
    assert worker.stderr is not None
    records = []
    for line in worker.stderr:
        records.append(json.loads(line))
        if records[-1].get("event") == name:
            return records
    raise AssertionError(f"the worker ended before logging {name!r}: {records[-3:]}")
