"""What the infra tests share: the definitions filled with example values, deploy.py as a module,
and each definition with the API call that takes it."""

from __future__ import annotations

import contextlib
import html
import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.support.aws_model import problems
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


QUEUE_MODE_ONLY = {name for name, only in deploy.ALERTS if only == "queue"}


def dashboard_params(mode: str) -> dict[str, Any]:
    return {"DashboardName": deploy.DASHBOARD, "DashboardBody": json.dumps(deploy.dashboard_body(VALUES, mode))}


def monitoring_calls() -> list[tuple[str, str, str, Any]]:
    """The operations definitions (alarms, dashboard, saved queries, repository lifecycle) with their calls."""
    calls: list[tuple[str, str, str, Any]] = []
    for name, only in deploy.ALERTS:
        mode = only or "task"
        calls.append(
            (name, "cloudwatch", "PutMetricAlarm", lambda n=name, m=mode: load(n, deploy.monitoring_values(VALUES, m)))
        )
    calls.append(
        (
            deploy.DEAD_LETTER_ALARM,
            "cloudwatch",
            "PutMetricAlarm",
            lambda: load(
                deploy.DEAD_LETTER_ALARM, {**deploy.monitoring_values(VALUES, "queue"), "QUEUE_NAME": "surroundyou-dlq"}
            ),
        )
    )
    for name, mode in (
        ("monitoring/dashboard.json", "task"),
        *((files[-1], m) for m, files in deploy.DASHBOARD_FILES.items()),
    ):
        calls.append((name, "cloudwatch", "PutDashboard", lambda m=mode: dashboard_params(m)))
    calls += [(deploy.QUERIES, "logs", "PutQueryDefinition", lambda q=query: q) for query in deploy.query_definitions()]
    calls.append(
        (
            deploy.LIFECYCLE,
            "ecr",
            "PutLifecyclePolicy",
            lambda: {"repositoryName": "surroundyou", "lifecyclePolicyText": json.dumps(load(deploy.LIFECYCLE))},
        )
    )
    return calls


CALLS += monitoring_calls()


class SavedQueries:
    """A logs client whose saved queries (query definitions), which moto 5.2.5 does not implement, live here
    as the CloudWatch Logs API documents them; every other call goes to the client. Each request is checked
    against botocore's model first, as AWS would."""

    def __init__(self, logs: Any) -> None:
        self._logs = logs
        self.saved: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)

    def _checked(self, operation: str, params: dict[str, Any]) -> None:
        found = problems("logs", operation, params)
        if found:
            raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": "; ".join(found)}}, operation)

    def put_query_definition(self, **params: Any) -> dict[str, Any]:
        self._checked("PutQueryDefinition", params)
        query_id = params.get("queryDefinitionId") or str(uuid.uuid4())
        if "queryDefinitionId" in params and query_id not in self.saved:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": query_id}}, "PutQueryDefinition"
            )
        self.saved[query_id] = {**params, "queryDefinitionId": query_id, "lastModified": 0}
        return {"queryDefinitionId": query_id}

    def describe_query_definitions(self, **params: Any) -> dict[str, Any]:
        self._checked("DescribeQueryDefinitions", params)
        prefix = params.get("queryDefinitionNamePrefix", "")
        return {"queryDefinitions": [dict(q) for q in self.saved.values() if q["name"].startswith(prefix)]}

    def delete_query_definition(self, **params: Any) -> dict[str, Any]:
        self._checked("DeleteQueryDefinition", params)
        if self.saved.pop(params["queryDefinitionId"], None) is None:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no such query"}}, "DeleteQueryDefinition"
            )
        return {"success": True}


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


# -- deploy.py against moto, and as a process ---------------------------------------------------------


def deploy_values(bucket: str, tag: str = "0.1.0") -> dict[str, Any]:
    """The example values for a test's own bucket, and its own repository in the region moto's clients use."""
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{bucket}:{tag}"
    return {
        **VALUES,
        "BUCKET": bucket,
        "REGION": "us-east-1",
        "IMAGE_URI": image,
        "IMAGE_REPOSITORY_ARN": deploy.repository_arn(image),
    }


def moto_bucket_sends_to_eventbridge(bucket: str) -> bool:
    """Read the moto server's own state (it runs in this process)."""
    from moto.backends import get_backend

    config = get_backend("s3")["123456789012"]["global"].buckets[bucket].notification_configuration
    return config is not None and config.event_bridge is not None


def moto_clients(bucket: str) -> Callable[[str], Any]:
    """deploy.py's client factory, with S3's answer about ``bucket``'s notifications made whole."""

    def report_eventbridge(parsed: dict[str, Any], **_: Any) -> None:
        # moto 5.2.5 stores EventBridgeConfiguration but leaves it out of GetBucketNotificationConfiguration;
        # S3 returns it as {}. Fill it in from the server's own state, as S3 would.
        if moto_bucket_sends_to_eventbridge(bucket):
            parsed["EventBridgeConfiguration"] = {}

    saved_queries: list[SavedQueries] = []  # one for every deployer of this bucket's test

    def client(service: str) -> Any:
        made = deploy.make_client(service, "us-east-1")
        if service == "s3":
            made.meta.events.register("after-call.s3.GetBucketNotificationConfiguration", report_eventbridge)
        if service == "logs":
            saved_queries[:] = saved_queries or [SavedQueries(made)]
            return saved_queries[0]
        return made

    return client


SCRIPT = INFRA / "deploy.py"
NOWHERE = "http://127.0.0.1:9"  # a port where nothing listens: any AWS call would fail
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def deploy_cli(
    *args: str, aws: dict[str, str] | None = None, python: str = sys.executable, script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    """infra/deploy.py as a user runs it (from any directory: it imports the installed package, no
    sys.path edits) with only the AWS settings in ``aws`` (default: throwaway keys and NOWHERE): no
    configuration files, no instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
            **({"AWS_ENDPOINT_URL": NOWHERE, **CREDENTIALS} if aws is None else aws),
        }
    )
    return subprocess.run([python, str(script), *args], capture_output=True, text=True, env=env, timeout=60, cwd="/")


DRY_RUN = ("--dry-run", "--account", "123456789012", "--region", "eu-west-1")
NETWORK = ("--subnets", ",".join(VALUES["SUBNETS"]), "--security-groups", ",".join(VALUES["SECURITY_GROUPS"]))


IMAGE = ("--image", VALUES["IMAGE_URI"])
DEPLOY = ("--bucket", "songs-bucket", *NETWORK, *IMAGE, "--account", "123456789012", "--region", "eu-west-1")


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """stderr, checked to be exactly one line (and so no traceback)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deploy.py: "), result.stderr
    return lines[0]
