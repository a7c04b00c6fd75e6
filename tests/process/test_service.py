"""Queue mode end to end: moto's S3 and SQS over HTTP, the worker as one or two subprocesses."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from surroundyou.errors import InputError
from surroundyou.run.service import targets
from tests.support.audio import decode, sine, write
from tests.support.faults import FaultProxy
from tests.support.hostile import hanging_ffmpeg, m4a, running
from tests.support.processes import start_cli, wait_until
from tests.support.queue import (
    bridge_event,
    events,
    finish,
    notification,
    outputs,
    put_song,
    queue_is_empty,
    read_until,
    send,
)


def test_message_bodies_name_their_objects() -> None:
    assert targets(bridge_event("b", "input/a b.mp3")) == [("b", "input/a b.mp3", False)]  # either encoding
    assert targets(notification("b", "input/a b.mp3")) == [("b", "input/a+b.mp3", True)]  # locate() decodes it
    removed = json.dumps({"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {}}]})
    assert targets(removed) == []
    assert targets(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    for bad in ("not json", "[1, 2]", json.dumps({"source": "aws.s3", "detail-type": "Object Created"}), "{}"):
        with pytest.raises(InputError):
            targets(bad)


def test_queued_songs_are_each_converted_once_and_the_queue_drains(queues, tmp_path: Path) -> None:
    q = queues
    keys = [f"input/song {i}.mp3" for i in range(4)]
    for i, key in enumerate(keys):
        put_song(q, key, tmp_path, seed=i)
        send(q, bridge_event(q["bucket"], key) if i % 2 == 0 else notification(q["bucket"], key))
    send(q, json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0, records[-3:]
    assert outputs(q) == sorted(k.replace("input/", "processed/") for k in keys)
    converted = Counter(r["key"] for r in events(records, "converted"))
    assert converted == Counter(keys)  # each once
    received = events(records, "received")
    assert len(received) == 5 and all(r["queue_wait_seconds"] >= 0 for r in received)
    assert queue_is_empty(q) and queue_is_empty(q, q["failed"])
    body = q["s3"].get_object(Bucket=q["bucket"], Key="processed/song 0.mp3")["Body"].read()
    (tmp_path / "out.mp3").write_bytes(body)
    audio, rate = decode(tmp_path / "out.mp3")
    assert rate == 44100 and 1.95 < audio.shape[1] / rate < 6.1 and np.abs(audio).max() > 0.01  # + the room's tail
    assert events(records, "service_stopped")[-1]["counts"] == {"converted": 4}


def test_bad_messages_go_to_the_failed_queue_once(queues, tmp_path: Path) -> None:
    q = queues
    q["s3"].put_object(Bucket=q["bucket"], Key="input/broken.mp3", Body=b"\x00" * 5000)
    send(q, bridge_event(q["bucket"], "input/broken.mp3"))
    send(q, "this is not an S3 event")
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    failed = events(records, "failed")
    assert len(failed) == 2 and {r["exit_code"] for r in failed} == {3}
    assert all(r["receive_count"] == 1 for r in events(records, "received"))  # not retried
    assert queue_is_empty(q) and outputs(q) == []
    sent = q["sqs"].receive_message(QueueUrl=q["failed"], MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    reports = sorted((json.loads(m["Body"]) for m in sent), key=lambda r: r["key"] or "")
    assert [r["key"] for r in reports] == [None, "input/broken.mp3"]
    assert all(r["reason"] and r["exit_code"] == 3 for r in reports)


def test_a_transient_s3_fault_leaves_the_message_to_come_back_and_convert(queues, tmp_path: Path) -> None:
    q = queues
    put_song(q, "input/flaky.mp3", tmp_path)

    def plan(method: str, path: str, attempt: int) -> str:
        return "500" if method == "GET" and path.endswith("/input/flaky.mp3") and attempt <= 2 else "pass"

    proxy = FaultProxy(q["env"]["AWS_ENDPOINT_URL"], plan)
    with proxy:
        send(q, bridge_event(q["bucket"], "input/flaky.mp3"))
        env = {**q["env"], "AWS_ENDPOINT_URL_S3": proxy.url, "AWS_MAX_ATTEMPTS": "2", "VISIBILITY_SECONDS": "3"}
        env["IDLE_EXIT_SECONDS"] = "4"  # longer than the 3 s the message stays hidden after its receive
        code, records = finish(start_cli(env=env))
    assert code == 0
    failed = events(records, "failed")
    assert len(failed) == 1 and failed[0]["exit_code"] == 4
    done = events(records, "converted")
    assert len(done) == 1 and done[0]["receive_count"] == 2
    assert outputs(q) == ["processed/flaky.mp3"] and queue_is_empty(q) and queue_is_empty(q, q["failed"])


def test_two_workers_on_one_queue_write_each_output_once(queues, tmp_path: Path) -> None:
    q = queues
    keys = [f"input/track{i}.mp3" for i in range(6)]
    for i, key in enumerate(keys):
        put_song(q, key, tmp_path, seed=i)
        send(q, bridge_event(q["bucket"], key))
        send(q, bridge_event(q["bucket"], key))  # S3 and EventBridge deliver at least once
    workers = [start_cli(env=q["env"]) for _ in range(2)]
    results = [finish(w) for w in workers]
    assert [code for code, _ in results] == [0, 0]
    records = [r for _, log in results for r in log]
    assert Counter(r["key"] for r in events(records, "converted")) == Counter(keys)
    assert len(events(records, "skipped")) == len(keys)  # each duplicate recognised
    assert all(events(log, "received") for _, log in results)  # both workers took messages
    assert outputs(q) == sorted(k.replace("input/", "processed/") for k in keys) and queue_is_empty(q)


@pytest.fixture(scope="module")
def long_song(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Eight minutes of chords (cheap to make, slow enough to convert to outlast a 3 s visibility)."""
    seconds = 480.0
    chord = sum(sine(hz, seconds, amplitude=0.15) for hz in (220.0, 277.2, 329.6))
    path = write(tmp_path_factory.mktemp("long") / "long.mp3", np.repeat(chord, 2, axis=0), quality="V9")
    return path.read_bytes()


def sigterm_mid_song(q: dict[str, Any], long_song: bytes, stop_timeout_s: str, waiting: int = 0) -> list[str]:
    """Queue the long song (and ``waiting`` more messages for it), SIGTERM the worker once the song is
    located; the worker must exit 143. Returns what became of the song: "returned" or "converted"."""
    q["s3"].put_object(Bucket=q["bucket"], Key="input/long.mp3", Body=long_song)
    for _ in range(1 + waiting):
        send(q, bridge_event(q["bucket"], "input/long.mp3"))
    worker = start_cli(env={**q["env"], "STOP_TIMEOUT_SECONDS": stop_timeout_s, "IDLE_EXIT_SECONDS": "0"})
    before = read_until(worker, "located")
    worker.send_signal(signal.SIGTERM)
    code, after = finish(worker)
    assert code == 143
    return [r["event"] for r in before + after if r["event"] in ("returned", "converted")]


def test_sigterm_mid_song_returns_the_message_and_writes_nothing(queues, long_song: bytes) -> None:
    q = queues
    # A stop timeout too short for any song: the one under way must go back to the queue.
    assert sigterm_mid_song(q, long_song, "1") == ["returned"]
    assert outputs(q) == []
    again = q["sqs"].receive_message(QueueUrl=q["url"], WaitTimeSeconds=1, MessageSystemAttributeNames=["All"])
    assert len(again["Messages"]) == 1  # visible again at once, not after its visibility timeout
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_song_longer_than_the_visibility_timeout_keeps_its_message(queues, long_song: bytes) -> None:
    q = queues
    q["s3"].put_object(Bucket=q["bucket"], Key="input/long.mp3", Body=long_song)
    send(q, bridge_event(q["bucket"], "input/long.mp3"))
    worker = start_cli(env={**q["env"], "VISIBILITY_SECONDS": "3"})
    read_until(worker, "received")
    stolen: list[Any] = []
    done = threading.Event()

    def other_worker() -> None:  # polls the queue while the song converts
        while not done.is_set():
            stolen.extend(q["sqs"].receive_message(QueueUrl=q["url"], WaitTimeSeconds=1).get("Messages", []))

    thief = threading.Thread(target=other_worker)
    thief.start()
    try:
        code, records = finish(worker)
    finally:
        done.set()
        thief.join()
    assert code == 0 and stolen == []
    converted = events(records, "converted")
    # Held longer than its visibility timeout, and never seen by the other poller: renewed.
    assert len(converted) == 1 and converted[0]["conversion_seconds"] > 3
    assert outputs(q) == ["processed/long.mp3"] and queue_is_empty(q)


def test_sigterm_lets_a_song_finish_that_can_within_the_stop_timeout(queues, long_song: bytes) -> None:
    q = queues
    # One more message for the song waits: taken by no one after the stop, it stays in the queue untouched.
    assert sigterm_mid_song(q, long_song, "90", waiting=1) == ["converted"]
    assert outputs(q) == ["processed/long.mp3"]
    left = q["sqs"].get_queue_attributes(QueueUrl=q["url"], AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_jobs_converts_several_messages_at_once(queues, tmp_path: Path) -> None:
    q = queues
    keys = [f"input/set{i}.mp3" for i in range(4)]
    for i, key in enumerate(keys):
        put_song(q, key, tmp_path, seconds=6.0, seed=i)
        send(q, bridge_event(q["bucket"], key))
    code, records = finish(start_cli("--jobs", "2", env={**q["env"], "S3_READ_TIMEOUT_SECONDS": "5"}))
    assert code == 0
    assert events(records, "service_started")[0]["jobs"] == 2
    order = [r["event"] for r in records if r["event"] in ("received", "converted")]
    assert order[:2] == ["received", "received"]  # the second taken before the first was done
    assert Counter(r["key"] for r in events(records, "converted")) == Counter(keys) and queue_is_empty(q)


def test_a_decoder_hung_at_the_stop_deadline_is_killed_and_its_message_returned(queues, tmp_path: Path) -> None:
    """A song whose decoder never makes progress gives the stop no progress call to act on: the worker
    waited for it forever. At the deadline (STOP_TIMEOUT_SECONDS less 5 s) its process group is killed
    and the message returned, not reported as bad input."""
    q = queues
    q["s3"].put_object(Bucket=q["bucket"], Key="input/song.m4a", Body=m4a(tmp_path / "song.m4a").read_bytes())
    send(q, bridge_event(q["bucket"], "input/song.m4a"))
    path, marker = hanging_ffmpeg(tmp_path / "bin")
    worker = start_cli(env={**q["env"], **path, "STOP_TIMEOUT_SECONDS": "7", "IDLE_EXIT_SECONDS": "0"})
    try:
        assert wait_until(lambda: bool(running(marker))), "the stand-in decoder never started"
        worker.send_signal(signal.SIGTERM)
        code, records = finish(worker, timeout=30)
    finally:
        worker.kill()
        left = running(marker)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert code == 143 and left == []
    assert [r["event"] for r in records if r["event"] in ("returned", "converted", "failed")] == ["returned"]
    assert q["sqs"].receive_message(QueueUrl=q["failed"], WaitTimeSeconds=1).get("Messages", []) == []
    again = q["sqs"].receive_message(QueueUrl=q["url"], WaitTimeSeconds=1, MessageSystemAttributeNames=["All"])
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
