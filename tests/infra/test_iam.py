"""infra/iam: least privilege, checked by parliament and by reading each statement."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from tests.support.infra import ROLE_FILES, VALUES, deploy, load

PERMISSION_POLICIES = [p for _, _, p in deploy.mode_roles("queue")] + [p for _, _, p in ROLE_FILES]
PERMISSION_POLICIES = sorted(set(PERMISSION_POLICIES)) + [p for _, p in deploy.mode_queues("queue") if p]


@pytest.mark.parametrize("name", PERMISSION_POLICIES)
def test_parliament_finds_nothing(name: str) -> None:
    findings = analyze_policy_string(json.dumps(load(name))).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_parliament_does_flag_a_careless_policy() -> None:
    careless = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"}],
    }
    assert analyze_policy_string(json.dumps(careless)).findings


def statements(name: str) -> list[dict[str, Any]]:
    return load(name)["Statement"]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_task_role_reads_only_inputs_and_writes_only_outputs() -> None:
    grants = {
        (a, statement["Resource"]) for statement in statements("iam/task-policy.json") for a in _actions(statement)
    }
    assert grants == {
        ("s3:GetObject", "arn:aws:s3:::songs-bucket/input/*"),
        ("s3:PutObject", "arn:aws:s3:::songs-bucket/processed/*"),
        ("s3:GetObject", "arn:aws:s3:::songs-bucket/processed/*"),  # HeadObject for the duplicate check
    }
    assert all(
        s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in statements("iam/task-policy.json")
    )


def test_events_role_runs_only_this_family_on_this_cluster_and_passes_only_the_two_roles() -> None:
    run, pass_role = statements("iam/events-policy.json")
    assert _actions(run) == {"ecs:RunTask"}
    assert run["Resource"] == "arn:aws:ecs:eu-west-1:123456789012:task-definition/surroundyou:*"
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/surroundyou"}}
    assert _actions(pass_role) == {"iam:PassRole"}
    task = load("task-definition.json")
    assert set(pass_role["Resource"]) == {task["taskRoleArn"], task["executionRoleArn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_trust_policies_name_the_right_service() -> None:
    for role, trust, _ in ROLE_FILES:
        principal = statements(trust)[0]["Principal"]["Service"]
        assert principal == ("events.amazonaws.com" if role.endswith("events") else "ecs-tasks.amazonaws.com")


def test_queue_mode_task_role_adds_only_taking_work_and_reporting_bad_inputs() -> None:
    grants = {
        (a, statement["Resource"])
        for statement in statements("iam/task-queue-policy.json")
        for a in _actions(statement)
    }
    work = "arn:aws:sqs:eu-west-1:123456789012:surroundyou-work"
    assert grants == {
        ("s3:GetObject", "arn:aws:s3:::songs-bucket/input/*"),
        ("s3:PutObject", "arn:aws:s3:::songs-bucket/processed/*"),
        ("s3:GetObject", "arn:aws:s3:::songs-bucket/processed/*"),
        ("sqs:ReceiveMessage", work),
        ("sqs:DeleteMessage", work),
        ("sqs:ChangeMessageVisibility", work),
        ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:surroundyou-failed"),
    }
    assert [name for name, _, _ in deploy.mode_roles("queue")] == ["surroundyou-task", "surroundyou-execution"]


def test_only_the_upload_rule_writes_to_the_work_queue_and_its_dlq_takes_only_redrives() -> None:
    (send,) = statements("iam/work-queue-policy.json")
    assert send["Principal"] == {"Service": "events.amazonaws.com"} and _actions(send) == {"sqs:SendMessage"}
    rule = "arn:aws:events:eu-west-1:123456789012:rule/surroundyou-input-uploaded"
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": rule}}
    assert "Policy" not in deploy.queue_attributes("surroundyou-work-dlq", VALUES, None)  # nothing sends to it
    assert deploy.mode_queues("queue")[-2:] == (
        (deploy.WORK_DLQ, None),
        (deploy.WORK_QUEUE, "iam/work-queue-policy.json"),
    )
    attributes = deploy.queue_attributes("surroundyou-work", VALUES, {})
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:surroundyou-work-dlq",
        "maxReceiveCount": deploy.MAX_RECEIVES,
    }
