"""infra/: every definition checked offline against AWS's own API models and the Fargate rules."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.aws_model import fargate_problems, problems
from tests.support.infra import CALLS, INFRA, VALUES, deploy, load
from tests.support.processes import ROOT


def test_every_definition_file_is_covered() -> None:
    files = {str(p.relative_to(INFRA)) for p in INFRA.rglob("*.json")}
    assert files == {label for label, *_ in CALLS}


@pytest.mark.parametrize(("label", "service", "operation", "params"), CALLS, ids=[c[0] for c in CALLS])
def test_definitions_match_the_api_model(label: str, service: str, operation: str, params: Any) -> None:
    assert problems(service, operation, params()) == []


def test_no_placeholder_is_left_unfilled() -> None:
    for label, *_rest, params in CALLS:
        assert "${" not in json.dumps(params()), label
    with pytest.raises(KeyError, match="IMAGE_URI"):
        load("task-definition.json", {k: v for k, v in VALUES.items() if k != "IMAGE_URI"})


def test_task_definition_follows_the_fargate_rules() -> None:
    task = load("task-definition.json")
    assert fargate_problems(task) == []
    container = task["containerDefinitions"][0]
    assert container["user"] == "10001"  # the Dockerfile's non-root user
    assert container["name"] == "worker"
    assert container["readonlyRootFilesystem"] is True  # writable: only /tmp, on the task's ephemeral storage
    assert 'VOLUME ["/tmp"]' in (ROOT / "Dockerfile").read_text()  # so /tmp keeps its permissions in the volume


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()
BROKEN = [
    ("ecs", "RegisterTaskDefinition", "task-definition.json", "networkMode", "host", "networkMode"),
    ("ecs", "RegisterTaskDefinition", "task-definition.json", "requiresCompatibilities", ["FARGATES"], "FARGATES"),
    ("ecs", "RegisterTaskDefinition", "task-definition.json", "containerDefinitions.0.essential", "yes", "essential"),
    (
        "ecs",
        "RegisterTaskDefinition",
        "task-definition.json",
        "containerDefinitions.0.logConfiguration.logDriver",
        "cloudwatch",
        "logDriver",
    ),
    ("ecs", "RegisterTaskDefinition", "task-definition.json", "containerDefinitions.0.cpuShares", 1, "cpuShares"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.EcsParameters.LaunchType", "LAMBDA", "LaunchType"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.RetryPolicy.MaximumRetryAttempts", 186, "maximum"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.RetryPolicy.MaximumEventAgeInSeconds", 30, "minimum"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.Id", "has spaces", "Id"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.EcsParameters.TaskCount", 0, "minimum"),
    ("events", "PutTargets", "event-targets.json", "Targets.0.Arn", _DELETE, "Arn"),
]


@pytest.mark.parametrize(
    ("service", "operation", "file", "path", "value", "hint"), BROKEN, ids=[f"{b[2]}:{b[3]}={b[4]!r}" for b in BROKEN]
)
def test_the_validator_rejects_broken_variants(
    service: str, operation: str, file: str, path: str, value: Any, hint: str
) -> None:
    broken = _set(load(file), path, value)
    found = problems(service, operation, broken) + (fargate_problems(broken) if file == "task-definition.json" else [])
    assert found, f"{path}={value!r} was accepted"
    assert any(hint in p for p in found), found


@pytest.mark.parametrize(
    ("path", "value", "hint"),
    [
        ("cpu", "512", None),
        ("memory", "8192", "not a Fargate size"),
        ("ephemeralStorage", {"sizeInGiB": 20}, "21-200"),
        ("containerDefinitions.0.stopTimeout", 121, "stopTimeout"),
        ("containerDefinitions.0.user", "root", "root"),
        ("executionRoleArn", _DELETE, "execution role"),
        ("networkMode", "bridge", "awsvpc"),
        ("volumes", [], "undefined volume"),
        ("containerDefinitions.0.mountPoints", [], "writable volume at /tmp"),
    ],
)
def test_fargate_rules_reject_broken_variants(path: str, value: Any, hint: str | None) -> None:
    found = fargate_problems(_set(load("task-definition.json"), path, value))
    if hint is None:
        assert found == []  # the unchanged value stays valid: the check is not simply failing everything
    else:
        assert any(hint in p for p in found), found


def test_queue_mode_worker_is_the_same_task_with_its_queues_and_the_longest_stop() -> None:
    task, queued = load("task-definition.json"), deploy.task_definition(VALUES, "queue")
    assert fargate_problems(queued) == []
    container = queued["containerDefinitions"][0]
    assert container["stopTimeout"] == 120  # Fargate's most: a song under way may finish on a scale-in
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["QUEUE_URL"] == "https://sqs.eu-west-1.amazonaws.com/123456789012/surroundyou-work"
    assert env["STOP_TIMEOUT_SECONDS"] == str(container["stopTimeout"])
    assert {k: v for k, v in queued.items() if k != "containerDefinitions"} == {
        k: v for k, v in task.items() if k != "containerDefinitions"
    }


def test_the_service_prefers_spot_and_scales_from_zero() -> None:
    service = load("queue/service.json")
    weights = {s["capacityProvider"]: s["weight"] for s in service["capacityProviderStrategy"]}
    assert weights["FARGATE_SPOT"] > weights["FARGATE"] > 0  # on-demand only when Spot has no capacity
    assert service["desiredCount"] == 0 and load("queue/scaling-target.json")["MinCapacity"] == 0
    out, idle = (load(name) for name in deploy.ALARMS)
    assert (
        out["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and out["ComparisonOperator"] == "GreaterThanThreshold"
    )
    assert idle["Metrics"][-1]["Expression"] == "waiting + taken" and idle["ComparisonOperator"] == "LessThanThreshold"
    assert out["AlarmActions"] == [VALUES["SCALE_OUT_POLICY_ARN"]] and idle["AlarmActions"] == [
        VALUES["SCALE_IN_POLICY_ARN"]
    ]
