"""What the infra tests share: the definitions filled with example values, deploy.py as a module,
and each definition with the API call that takes it."""

from __future__ import annotations

import contextlib
import html
import http.server
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT

INFRA = ROOT / "infra"
EVENTS = Path(__file__).parent.parent / "events"
VALUES: dict[str, Any] = {
    "ACCOUNT_ID": "123456789012",
    "REGION": "eu-west-1",
    "BUCKET": "songs-bucket",
    "CLUSTER": "surroundyou",
    "IMAGE_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou:0.1.0",
    "IMAGE_REPOSITORY_ARN": "arn:aws:ecr:eu-west-1:123456789012:repository/surroundyou",
    "SUBNETS": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    "SECURITY_GROUPS": ["sg-0123456789abcdef0"],
    # known only once the scaling policies exist (deploy.py fills them in)
    "SCALE_OUT_POLICY_ARN": "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:0a1b2c3d-4e5f-6a7b-8c9d-"
    "0e1f2a3b4c5d:resource/ecs/service/surroundyou/surroundyou-worker:policyName/surroundyou-backlog-out",
    "SCALE_IN_POLICY_ARN": "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1a1b2c3d-4e5f-6a7b-8c9d-"
    "0e1f2a3b4c5d:resource/ecs/service/surroundyou/surroundyou-worker:policyName/surroundyou-idle-in",
}


def _deploy_module() -> Any:
    spec = importlib.util.spec_from_file_location("deploy", INFRA / "deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy = _deploy_module()


def load(name: str, values: dict[str, Any] = VALUES) -> Any:
    return deploy.load(name, values)


def put_rule_params(name: str) -> dict[str, Any]:
    rule = load(name)
    return {**rule, "EventPattern": json.dumps(rule["EventPattern"])}


ROLE_FILES = [(role, trust, policy) for role, trust, policy in deploy.ROLES]
QUEUE_MODE_ROLE_FILES = [r for r in deploy.mode_roles("queue") if r not in ROLE_FILES]

# (label, service, operation, params)
CALLS: list[tuple[str, str, str, Any]] = [
    ("task-definition.json", "ecs", "RegisterTaskDefinition", lambda: load("task-definition.json")),
    ("event-rule.json", "events", "PutRule", lambda: put_rule_params("event-rule.json")),
    ("failure-rule.json", "events", "PutRule", lambda: put_rule_params("failure-rule.json")),
    ("event-targets.json", "events", "PutTargets", lambda: load("event-targets.json")),
    ("failure-targets.json", "events", "PutTargets", lambda: load("failure-targets.json")),
    ("bucket-notification.json", "s3", "PutBucketNotificationConfiguration", lambda: load("bucket-notification.json")),
]
for _role, _trust, _policy in QUEUE_MODE_ROLE_FILES:
    CALLS.append(
        (
            _policy,
            "iam",
            "PutRolePolicy",
            lambda r=_role, p=_policy: {"RoleName": r, "PolicyName": r, "PolicyDocument": json.dumps(load(p))},
        )
    )
for _role, _trust, _policy in ROLE_FILES:
    CALLS.append(
        (
            _trust,
            "iam",
            "CreateRole",
            lambda r=_role, t=_trust: {"RoleName": r, "AssumeRolePolicyDocument": json.dumps(load(t))},
        )
    )
    CALLS.append(
        (
            _policy,
            "iam",
            "PutRolePolicy",
            lambda r=_role, p=_policy: {"RoleName": r, "PolicyName": r, "PolicyDocument": json.dumps(load(p))},
        )
    )
for _queue, _policy in ((q, p) for q, p in deploy.mode_queues("queue") if p):
    CALLS.append(
        (
            _policy,
            "sqs",
            "SetQueueAttributes",
            lambda q=_queue, p=_policy: {
                "QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/123456789012/{q}",
                "Attributes": deploy.queue_attributes(q, VALUES, load(p)),
            },
        )
    )


def scalable_target() -> dict[str, Any]:
    return {**load("queue/scaling-target.json"), "MaxCapacity": 10}


CALLS += [
    ("queue/targets.json", "events", "PutTargets", lambda: load("queue/targets.json")),
    ("queue/worker.json", "ecs", "RegisterTaskDefinition", lambda: deploy.task_definition(VALUES, "queue")),
    ("queue/service.json", "ecs", "CreateService", lambda: load("queue/service.json")),
    ("queue/scaling-target.json", "application-autoscaling", "RegisterScalableTarget", scalable_target),
    *(
        (name, "application-autoscaling", "PutScalingPolicy", lambda n=name: load(n))
        for name, _ in deploy.SCALING_POLICIES
    ),
    *((name, "cloudwatch", "PutMetricAlarm", lambda n=name: load(n)) for name in deploy.ALARMS),
]


@contextlib.contextmanager
def aws_refusing(status: int, code: str, message: str) -> Iterator[tuple[str, list[str]]]:
    """(endpoint, requests seen): a local HTTP endpoint that answers every call with one AWS error, as
    IAM and STS send them (the query protocol's XML), for what moto cannot play: a refusal or throttling."""
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{html.escape(message)}</Message>"
        "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    seen: list[str] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            seen.append(self.rfile.read(length).decode())
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
