"""Hostile uploads and messages in cloud and queue mode: one output per input and only ours
overwritten, one bucket per queue worker, every check before the download, poison reported once and
never retried, overlapping prefixes refused. Whole worker processes against moto's S3 and SQS over
HTTP; each file and message is made here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from surroundyou.convert.engine import Report, convert
from surroundyou.errors import InputError
from surroundyou.run import cloud
from surroundyou.settings import Settings, build_settings
from tests.support.audio import pink_noise, write
from tests.support.cloud import logs, put_song, run_worker
from tests.support.faults import FaultProxy
from tests.support.processes import run_cli, start_cli
from tests.support.queue import (
    bridge_event,
    events,
    finish,
    notification,
    outputs,
    queue_is_empty,
    send,
)
from tests.support.queue import put_song as queue_song

LINE_BOUND = 4000  # characters: no log line or report may echo a whole hostile key


@pytest.fixture
def q(queues: dict[str, Any]) -> dict[str, Any]:
    """A bucket, a work queue and a failed queue on the moto server, and the worker's environment."""
    return queues


def processed(client: Any, bucket: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix="processed/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def failed_reports(q: dict[str, Any]) -> list[dict[str, Any]]:
    """What the worker sent to FAILED_QUEUE_URL."""
    answer = q["sqs"].receive_message(QueueUrl=q["failed"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def only_line(stderr: str) -> dict[str, Any]:
    (record,) = logs(stderr)
    return record


# Cloud mode: one output per input, and only ours overwritten.


@pytest.mark.parametrize(
    ("first", "second", "same_bytes"),
    [("input/dup.mp3", "input/dup.wav", False), ("input/same.mp3", "input/same.MP3", True)],
    ids=["other-format", "identical-copy"],
)
def test_two_inputs_never_replace_each_others_output(
    s3, tmp_path: Path, first: str, second: str, same_bytes: bool
) -> None:
    client, bucket, env = s3
    data = put_song(client, bucket, first, tmp_path)
    other = data if same_bytes else write(tmp_path / "dup.wav", pink_noise(1.0, 44100, seed=5)).read_bytes()
    client.put_object(Bucket=bucket, Key=second, Body=other)
    out = first.replace("input/", "processed/").rsplit(".", 1)[0] + ".mp3"
    assert run_worker(env, bucket, first).returncode == 0
    made = client.head_object(Bucket=bucket, Key=out)

    result = run_worker(env, bucket, second)
    assert result.returncode == 3, result.stderr
    message = logs(result.stderr)[-1]["message"]
    assert f"{out} holds the output of {first}; not overwritten" in message, message
    assert client.head_object(Bucket=bucket, Key=out)["ETag"] == made["ETag"]  # untouched
    assert processed(client, bucket) == [out]
    again = run_worker(env, bucket, first)  # the first input's own output is still recognised as such
    assert again.returncode == 0 and logs(again.stderr)[-1]["status"] == "skipped"


def test_an_object_not_made_by_surroundyou_is_never_overwritten(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    client.put_object(Bucket=bucket, Key="processed/hand.mp3", Body=b"uploaded by hand")
    put_song(client, bucket, "input/hand.mp3", tmp_path)
    result = run_worker(env, bucket, "input/hand.mp3")
    assert result.returncode == 3, result.stderr
    record = logs(result.stderr)[-1]
    assert record["message"] == "processed/hand.mp3 exists and was not made by SurroundYou; not overwritten"
    assert client.get_object(Bucket=bucket, Key="processed/hand.mp3")["Body"].read() == b"uploaded by hand"


def test_a_key_with_an_empty_segment_is_refused_not_normalised(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input//x.mp3", tmp_path)
    result = run_worker(env, bucket, "input//x.mp3")
    assert result.returncode == 3, result.stderr
    assert "empty segment" in only_line(result.stderr)["message"]  # refused before any S3 call
    assert processed(client, bucket) == []  # never processed/x.mp3, input/x.mp3's output


def test_a_name_without_a_clean_suffix_keeps_its_whole_self(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/x.mp3 ", tmp_path)  # a trailing space
    result = run_worker(env, bucket, "input/x.mp3 ")
    assert result.returncode == 0, result.stderr
    assert processed(client, bucket) == ["processed/x.mp3 .mp3"]  # not input/x.mp3's processed/x.mp3


def test_an_event_key_that_may_name_either_of_two_objects_is_refused(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/a b.mp3", tmp_path)
    client.put_object(
        Bucket=bucket, Key="input/a+b.mp3", Body=write(tmp_path / "ab.wav", pink_noise(1.0, 44100)).read_bytes()
    )
    result = run_worker(env, bucket, "input/a+b.mp3")  # "a b" form-encoded, or "a+b" raw
    assert result.returncode == 3, result.stderr
    message = logs(result.stderr)[-1]["message"]
    assert message.startswith("ambiguous key: both 'input/a b.mp3' and 'input/a+b.mp3' exist"), message
    assert processed(client, bucket) == []


# Cloud mode: what needs no download fails before any.


def test_an_invalid_bucket_name_fails_as_bad_input_before_any_s3_call(s3) -> None:
    _, _, env = s3
    nowhere = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # any S3 call would be a connection error
    result = run_worker(nowhere, "Not_A_Bucket", "input/song.mp3")
    assert result.returncode == 3, result.stderr
    assert "'Not_A_Bucket' is not a valid S3 bucket name" in only_line(result.stderr)["message"]


def test_a_key_that_is_not_utf8_fails_as_bad_input(s3) -> None:
    _, bucket, env = s3
    # A byte that is no UTF-8 reaches Python as a lone surrogate (os.environ's surrogateescape).
    result = run_worker(env, bucket, "input/\udcff.mp3")
    assert result.returncode == 3, result.stderr
    assert "lone surrogate" in only_line(result.stderr)["message"]


# Overlapping prefixes.


@pytest.mark.parametrize(
    ("input_prefix", "output_prefix"), [("input/", "input/out/"), ("processed/new/", "processed/")]
)
@pytest.mark.parametrize("mode", ["cloud", "queue"])
def test_nested_prefixes_are_a_usage_error(
    s3, tmp_path: Path, mode: str, input_prefix: str, output_prefix: str
) -> None:
    client, bucket, env = s3
    key = f"{input_prefix}song.mp3"
    put_song(client, bucket, key, tmp_path)
    mode_env = {"S3_KEY": key} if mode == "cloud" else {"QUEUE_URL": "http://127.0.0.1:9/q", "IDLE_EXIT_SECONDS": "1"}
    prefixes = {"INPUT_PREFIX": input_prefix, "OUTPUT_PREFIX": output_prefix}
    result = run_cli(env={**env, "S3_BUCKET": bucket, **mode_env, **prefixes})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()  # a usage error, found before the log's format is known: text
    assert f"INPUT_PREFIX {input_prefix!r} and OUTPUT_PREFIX {output_prefix!r} overlap" in line, line
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert [o["Key"] for o in listing] == [key]  # nothing written


# Queue mode: one bucket.


def test_queue_mode_needs_its_bucket(q) -> None:
    env = {k: v for k, v in q["env"].items() if k != "S3_BUCKET"}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: QUEUE_URL is set but S3_BUCKET is not: queue mode converts the objects of that one bucket"
    ]


def test_a_message_naming_another_bucket_is_bad_input(q, tmp_path: Path) -> None:
    other = f"other-{os.urandom(4).hex()}"
    q["s3"].create_bucket(Bucket=other)
    song = write(tmp_path / "s.mp3", pink_noise(2.0, 44100), quality="V2").read_bytes()
    q["s3"].put_object(Bucket=other, Key="input/song.mp3", Body=song)
    send(q, bridge_event(other, "input/song.mp3"))
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    assert [r["receive_count"] for r in events(records, "received")] == [1]
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 3 and "this worker converts only S3_BUCKET" in failed["message"]
    assert [(r["bucket"], r["key"]) for r in failed_reports(q)] == [(other, "input/song.mp3")]
    assert processed(q["s3"], other) == [] and outputs(q) == [] and queue_is_empty(q)


# Queue mode: S3 notification keys decoded exactly; EventBridge's ambiguity refused.


def test_notification_keys_name_exactly_one_object(q, tmp_path: Path) -> None:
    long_key = "input/" + "音" * 150 + ".mp3"  # 460 bytes; 1360 once form-encoded, over S3's 1024 for a key
    for seed, key in enumerate(["input/a b.mp3", "input/a+b.mp3", long_key]):
        queue_song(q, key, tmp_path, seed=seed)
    send(q, notification(q["bucket"], "input/a b.mp3"))  # arrives as input/a+b.mp3
    send(q, notification(q["bucket"], "input/a+b.mp3"))  # arrives as input/a%2Bb.mp3
    send(q, notification(q["bucket"], long_key))
    send(q, bridge_event(q["bucket"], "input/a+b.mp3"))  # EventBridge: either object
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    converted = sorted(r["key"] for r in events(records, "converted"))
    assert converted == ["input/a b.mp3", "input/a+b.mp3", long_key]  # each exactly once
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 3 and failed["message"].endswith("rename one"), failed
    assert "ambiguous key" in failed["message"]
    long_output = long_key.replace("input/", "processed/")
    assert outputs(q) == sorted(["processed/a b.mp3", "processed/a+b.mp3", long_output]) and queue_is_empty(q)


# Queue mode: checks before the download, poison fails fast and once.


def test_metadata_over_s3s_limit_fails_before_the_download(q, tmp_path: Path) -> None:
    key = "input/" + "音" * 225 + ".mp3"  # 685 bytes, a valid key; percent-encoded in source-key: 2 KB
    queue_song(q, key, tmp_path)
    proxy = FaultProxy(q["env"]["AWS_ENDPOINT_URL"], lambda *_: "pass")  # passes S3's requests, counting them
    with proxy:
        send(q, bridge_event(q["bucket"], key))
        code, records = finish(start_cli(env={**q["env"], "AWS_ENDPOINT_URL_S3": proxy.url}))
    assert code == 0
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 3 and "over S3's 2048-byte limit for user metadata" in failed["message"]
    assert [r["receive_count"] for r in events(records, "received")] == [1] and len(failed_reports(q)) == 1
    requests = {method for method, path in proxy.attempts if path.startswith(f"/{q['bucket']}/input/")}
    assert requests == {"HEAD"}  # found, then refused: never downloaded
    assert outputs(q) == [] and queue_is_empty(q)


POISON = {
    "nested-100000-deep": (lambda bucket: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "lone-surrogate-key": (lambda bucket: bridge_event(bucket, "input/\ud800.mp3"), "lone surrogate"),
    "invalid-bucket-name": (lambda bucket: bridge_event("Not_A_Bucket!", "input/x.mp3"), "not a valid S3 bucket"),
    "missing-object": (lambda bucket: bridge_event(bucket, "input/missing.mp3"), "no object 'input/missing.mp3'"),
    "missing-bucket": (lambda bucket: bridge_event(f"gone-{bucket}", "input/x.mp3"), "converts only S3_BUCKET"),
    "200-kb-key": (lambda bucket: bridge_event(bucket, "input/" + "k" * 200_000), "over S3's 1024-byte limit"),
}


@pytest.mark.parametrize("poison", POISON, ids=list(POISON))
def test_poison_is_reported_once_and_never_retried(q, poison: str) -> None:
    body, reason = POISON[poison]
    send(q, body(q["bucket"]))
    worker = start_cli(env=q["env"])
    _, stderr = worker.communicate(timeout=120)
    assert max(len(line) for line in stderr.splitlines()) < LINE_BOUND  # no hostile key echoed whole
    records = [json.loads(line) for line in stderr.splitlines()]
    assert worker.returncode == 0
    assert [r["receive_count"] for r in events(records, "received")] == [1]
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 3 and reason in failed["message"], failed["message"]
    (report,) = failed_reports(q)
    assert report["exit_code"] == 3 and reason in report["reason"] and len(json.dumps(report)) < LINE_BOUND
    assert queue_is_empty(q) and outputs(q) == []  # deleted, so never received again


def both(q: dict[str, Any], *keys: str) -> str:
    """One S3 notification naming several objects."""
    return json.dumps({"Records": [r for key in keys for r in json.loads(notification(q["bucket"], key))["Records"]]})


def test_a_missing_object_does_not_block_the_records_after_it(q, tmp_path: Path) -> None:
    queue_song(q, "input/song.mp3", tmp_path)
    send(q, both(q, "input/missing.mp3", "input/song.mp3"))
    code, records = finish(start_cli(env=q["env"]))
    assert code == 0
    assert [r["key"] for r in events(records, "converted")] == ["input/song.mp3"]
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 3 and failed["key"] == "input/missing.mp3"
    assert [r["key"] for r in failed_reports(q)] == ["input/missing.mp3"]
    assert outputs(q) == ["processed/song.mp3"] and queue_is_empty(q)


def test_a_transient_fault_in_one_record_leaves_the_message_and_the_others_convert_once(q, tmp_path: Path) -> None:
    queue_song(q, "input/flaky.mp3", tmp_path, seed=1)
    queue_song(q, "input/fine.mp3", tmp_path, seed=2)

    def plan(method: str, path: str, attempt: int) -> str:
        return "500" if method == "GET" and path.endswith("/input/flaky.mp3") and attempt <= 2 else "pass"

    with FaultProxy(q["env"]["AWS_ENDPOINT_URL"], plan) as proxy:
        send(q, both(q, "input/flaky.mp3", "input/fine.mp3"))
        env = {**q["env"], "AWS_ENDPOINT_URL_S3": proxy.url, "AWS_MAX_ATTEMPTS": "2", "VISIBILITY_SECONDS": "3"}
        code, records = finish(start_cli(env={**env, "IDLE_EXIT_SECONDS": "4"}))
    assert code == 0
    (failed,) = events(records, "failed")
    assert failed["exit_code"] == 4 and failed["key"] == "input/flaky.mp3" and failed["receive_count"] == 1
    converted = {r["key"]: r["receive_count"] for r in events(records, "converted")}
    assert converted == {"input/fine.mp3": 1, "input/flaky.mp3": 2}  # fine.mp3 was not held up by flaky.mp3
    assert [(r["key"], r["receive_count"]) for r in events(records, "skipped")] == [("input/fine.mp3", 2)]
    assert failed_reports(q) == [] and queue_is_empty(q)
    assert outputs(q) == ["processed/fine.mp3", "processed/flaky.mp3"]


# Two inputs racing for one new output key: the converter is the seam, as in test_races.


def test_of_two_inputs_racing_for_one_new_output_the_loser_fails(s3, tmp_path: Path) -> None:
    client, bucket, _ = s3
    song = write(tmp_path / "race.wav", pink_noise(1.0, 44100)).read_bytes()
    client.put_object(Bucket=bucket, Key="input/race.wav", Body=song)
    settings = build_settings({}, {"S3_BUCKET": bucket, "S3_KEY": "input/race.wav"})
    theirs = {"source-key": "input/race.mp3", "source-etag": '"theirs"', "settings": settings.fingerprint()}

    def convert_while_the_other_input_publishes(src: Path, dst: Path, settings: Settings) -> Report:
        report = convert(src, dst, settings)
        client.put_object(Bucket=bucket, Key="processed/race.mp3", Body=b"the other input's", Metadata=theirs)
        return report

    with pytest.raises(InputError, match=r"processed/race\.mp3 holds the output of input/race\.mp3; not overwritten"):
        cloud.convert_object(
            client, settings, bucket, "input/race.wav", converter=convert_while_the_other_input_publishes
        )
    assert client.get_object(Bucket=bucket, Key="processed/race.mp3")["Body"].read() == b"the other input's"
