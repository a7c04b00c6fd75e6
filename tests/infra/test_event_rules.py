"""infra/: the upload and failure rules against real event shapes, and the event flow end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto.events.models import EventPattern

from tests.support.audio import pink_noise, write
from tests.support.aws_model import input_shape, shape_problems
from tests.support.infra import EVENTS, VALUES, deploy, load
from tests.support.processes import ROOT, run_cli


def flatten_arrays_of_objects(node: Any) -> Any:
    """EventBridge matches fields inside arrays of objects as if each field held an array of values.

    moto's matcher handles arrays of values but not arrays of objects; this does
    the flattening EventBridge documents, and moto does all the matching.
    """
    if isinstance(node, dict):
        return {k: flatten_arrays_of_objects(v) for k, v in node.items()}
    if isinstance(node, list) and node and all(isinstance(i, dict) for i in node):
        keys = {k for item in node for k in item}
        return {k: [flatten_arrays_of_objects(item[k]) for item in node if k in item] for k in keys}
    return node


def matches(rule_file: str, event: dict[str, Any]) -> bool:
    pattern = EventPattern.load(json.dumps(load(rule_file)["EventPattern"]))
    return bool(pattern.matches_event(flatten_arrays_of_objects(event)))


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "s3-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    return event


@pytest.mark.parametrize(
    ("bucket", "key", "expected"),
    [
        ("songs-bucket", "input/song.mp3", True),
        ("songs-bucket", "input/a/b c+d.wav", True),
        ("songs-bucket", "processed/song.mp3", False),
        ("songs-bucket", "inputs/song.mp3", False),
        ("other-bucket", "input/song.mp3", False),
    ],
)
def test_upload_rule_matches_only_inputs_of_this_bucket(bucket: str, key: str, expected: bool) -> None:
    assert matches("event-rule.json", s3_event(bucket, key)) is expected


def test_upload_rule_ignores_other_event_types() -> None:
    event = s3_event("songs-bucket", "input/song.mp3")
    event["detail-type"] = "Object Deleted"
    assert not matches("event-rule.json", event)


def ecs_event(**changes: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "ecs-task-stopped.json").read_text())
    detail = event["detail"]
    for key, value in changes.items():
        if key == "exitCode":
            if value is None:
                detail["containers"][0].pop("exitCode")
            else:
                detail["containers"][0]["exitCode"] = value
        else:
            detail[key] = value
    return event


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"exitCode": 143}, True),
        ({"exitCode": 0}, False),
        ({"exitCode": None, "stopCode": "TaskFailedToStart", "stoppedReason": "CannotPullContainerError"}, True),
        ({"lastStatus": "RUNNING"}, False),
        ({"group": "family:other"}, False),
        ({"clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/other"}, False),
    ],
)
def test_failure_rule_matches_failed_tasks_of_this_family_only(changes: dict[str, Any], expected: bool) -> None:
    assert matches("failure-rule.json", ecs_event(**changes)) is expected


def render_input_template(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """What EventBridge does with an InputTransformer: unquoted <name> becomes a JSON string."""

    def resolve(path: str) -> Any:
        node: Any = event
        for part in path.removeprefix("$.").split("."):
            node = node[part]
        return node

    values = {name: resolve(path) for name, path in transformer["InputPathsMap"].items()}
    return re.sub(r"<(\w+)>", lambda m: json.dumps(values[m.group(1)]), transformer["InputTemplate"])


HOSTILE_KEY = 'input/Beyoncé & "friends" + 1\'s song.mp3'


@pytest.mark.parametrize("encode", [False, True], ids=["raw key", "url-encoded key"])
def test_upload_to_processed_object_offline_end_to_end(s3, tmp_path: Path, encode: bool) -> None:
    client, bucket, env = s3
    source = write(tmp_path / "song.mp3", pink_noise(2.0, 44100), quality="V2").read_bytes()
    client.put_object(Bucket=bucket, Key=HOSTILE_KEY, Body=source)
    values = {**VALUES, "BUCKET": bucket}
    # the event as AWS delivers it, matched against the rule
    event = s3_event(bucket, quote_plus(HOSTILE_KEY, safe="/") if encode else HOSTILE_KEY)
    rule = EventPattern.load(json.dumps(deploy.load("event-rule.json", values)["EventPattern"]))
    assert rule.matches_event(event)
    # the target's InputTransformer, rendered as EventBridge does, must be a valid RunTask `overrides`
    target = deploy.load("event-targets.json", values)["Targets"][0]
    overrides = json.loads(render_input_template(target["InputTransformer"], event))
    assert shape_problems(overrides, input_shape("ecs", "RunTask").members["overrides"]) == []
    task = deploy.load("task-definition.json", values)
    container = task["containerDefinitions"][0]
    (override,) = overrides["containerOverrides"]
    assert override["name"] == container["name"]
    # run the container's command with exactly the environment ECS would give it
    dockerfile = (ROOT / "Dockerfile").read_text()
    image_env = dict(re.findall(r"(INPUT_DIR|OUTPUT_DIR)=(\S+)", dockerfile))
    container_env = {e["name"]: e["value"] for e in container["environment"] + override["environment"]}
    result = run_cli(env={**env, **image_env, **container_env})
    assert result.returncode == 0, result.stderr
    out = client.get_object(Bucket=bucket, Key='processed/Beyoncé & "friends" + 1\'s song.mp3')
    assert out["ContentType"] == "audio/mpeg" and len(out["Body"].read()) > 10_000
    assert client.get_object(Bucket=bucket, Key=HOSTILE_KEY)["Body"].read() == source
