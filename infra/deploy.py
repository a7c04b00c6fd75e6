#!/usr/bin/env python3
"""Create or update every AWS resource SurroundYou needs, from the JSON files beside this script.

Idempotent: each resource is read first and written only when it is missing
or differs, so a second run changes nothing. --dry-run makes no AWS call at
all (not even reads) and prints every write it would make on an empty account.

    python infra/deploy.py --bucket my-songs --subnets subnet-0a1b2c3d,subnet-4e5f6a7b \\
        --security-groups sg-0123456789abcdef0 --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou:0.1.0

Resources: three IAM roles with inline policies, the log group, the dead-letter
and failed-task queues, the cluster (with --create-cluster; Container Insights
on), the ECR repository --image names (made when missing: scan on push, a
lifecycle policy keeping the newest 10 images), the task definition, the
bucket's EventBridge notification (merged into the existing notification
configuration, never replacing it), and two rules with targets. The execution
role may pull exactly that repository.

Operations: an SNS topic (--alarm-email subscribes an address), alarms on the
worker's metrics (success rate under 95 % over an hour, p90 processing time
over 180 s, more than 5 failures an hour), on memory over 90 % and on anything
waiting in a dead-letter or failed queue, a CloudWatch dashboard, and saved
Logs Insights queries on the log group. The bucket's versioning, default
encryption and public-access block are checked: each one off is a warning,
and --harden-bucket turns it on.

--mode queue deploys the queue-fed service instead of a task per upload: the
upload rule sends its events to the work queue (which only that rule may write
to, with a redrive policy into its own DLQ after 5 receives), an ECS service of
workers in queue mode (S3_BUCKET set to --bucket: the one bucket they convert)
that prefers FARGATE_SPOT (4 Spot tasks to 1 on-demand, stopTimeout 120 s) and
Application Auto Scaling from 0 to --max-tasks on the queue's backlog (a
CloudWatch alarm per direction: tasks are added while songs wait, and all
removed after 5 minutes with nothing waiting or in progress). The
task role may then also receive, delete and renew messages of the work queue and
report bad inputs to the failed queue; the events role is not needed. Queue
mode adds an alarm on the age of the oldest waiting upload (over 30 minutes).

--teardown removes all of it again (the cluster only with --create-cluster,
the repository and its images only with --delete-repository; the bucket's
settings stay as they are), and takes EventBridge out of the bucket's
notification configuration while keeping the rest of it; with --dry-run it
prints what it would remove
(the queue mode's resources with --mode queue; a real teardown removes them
whenever it finds them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
CHECKOUT = INFRA.parent
NEEDS = ("boto3", "surroundyou")


def _hand_over_without_packages() -> None:
    """Started by a Python without boto3 and the project (python3 infra/deploy.py): hand over to the
    checkout's .venv as process_audio.py does (surroundyou/bootstrap.py, loaded by its path)."""
    spec = importlib.util.spec_from_file_location("surroundyou_bootstrap", CHECKOUT / "surroundyou" / "bootstrap.py")
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    bootstrap.hand_over(
        CHECKOUT,
        NEEDS,
        "deploy.py: this Python has no boto3 and surroundyou: run ./dev run once (it installs them into .venv), "
        "then infra/deploy.py",
    )


if __name__ == "__main__" and not all(importlib.util.find_spec(name) is not None for name in NEEDS):
    _hand_over_without_packages()

# The project's one client factory and its checks (installed into .venv by ./dev).
from botocore import exceptions as boto_errors  # noqa: E402

from surroundyou.aws.clients import make_client  # noqa: E402
from surroundyou.errors import UsageError  # noqa: E402
from surroundyou.settings import bucket_name_problem  # noqa: E402

# Exit codes (docs/deploy.md): 1 a bug, 2 a bad value, 4 AWS refused a call or could not be reached.
EXIT_BUG, EXIT_USAGE, EXIT_AWS = 1, 2, 4
EXIT_PIPE = 128 + 13  # stdout closed early (| head): as a shell reports a program ended by SIGPIPE
EXIT_INTERRUPTED = 130

FAMILY = "surroundyou"
LOG_GROUP = "/ecs/surroundyou"
LOG_RETENTION_DAYS = 30
ROLES = (  # name, trust document, permission document
    ("surroundyou-task", "iam/task-trust.json", "iam/task-policy.json"),
    ("surroundyou-execution", "iam/execution-trust.json", "iam/execution-policy.json"),
    ("surroundyou-events", "iam/events-trust.json", "iam/events-policy.json"),
)
QUEUES = (("surroundyou-dlq", "iam/dlq-policy.json"), ("surroundyou-failed", "iam/failed-queue-policy.json"))
RULES = (("event-rule.json", "event-targets.json"), ("failure-rule.json", "failure-targets.json"))
MODES = ("task", "queue")
# Queue mode: what differs, and what it adds.
QUEUE_TASK_POLICY = "iam/task-queue-policy.json"
QUEUE_TARGETS = "queue/targets.json"
WORK_QUEUE = "surroundyou-work"
WORK_DLQ = "surroundyou-work-dlq"
# (name, queue policy): the work DLQ needs none: nothing sends to it, SQS moves messages into it.
WORK_QUEUES: tuple[tuple[str, str | None], ...] = ((WORK_DLQ, None), (WORK_QUEUE, "iam/work-queue-policy.json"))
MAX_RECEIVES = 5  # receives of one message (each a worker's failure) before it moves to the work DLQ
WORK_VISIBILITY_S = 300  # the queue's default; the worker sets its own on every receive and renews it
SERVICE = "surroundyou-worker"
SCALING_POLICIES = (
    ("queue/scale-out-policy.json", "SCALE_OUT_POLICY_ARN"),
    ("queue/scale-in-policy.json", "SCALE_IN_POLICY_ARN"),
)
ALARMS = ("queue/backlog-alarm.json", "queue/idle-alarm.json")
RETENTION = "1209600"  # 14 days: the longest SQS keeps a message
# Monitoring (monitoring/*.json): the worker's metrics (namespace SurroundYou, dimension Mode; see
# surroundyou/aws/metrics.py) and AWS's own, on a dashboard and in alarms that notify one SNS topic.
TOPIC = "surroundyou-alarms"
METRIC_MODE = {"task": "cloud", "queue": "queue"}  # the Mode dimension the worker gives its metrics
ALERTS = (  # (file, mode): the alarms that notify the topic; None: both modes
    ("monitoring/success-rate-alarm.json", None),
    ("monitoring/processing-time-alarm.json", None),
    ("monitoring/failures-alarm.json", None),
    ("monitoring/memory-alarm-task.json", "task"),
    ("monitoring/memory-alarm-queue.json", "queue"),
    ("monitoring/oldest-message-alarm.json", "queue"),
)
DEAD_LETTER_ALARM = "monitoring/dead-letter-alarm.json"  # one per dead-letter or failed queue of the mode
DASHBOARD = "SurroundYou"
DASHBOARD_FILES = {  # the worker's widgets, then the mode's tasks and queues
    "task": ("monitoring/dashboard.json", "monitoring/dashboard-task.json"),
    "queue": ("monitoring/dashboard.json", "monitoring/dashboard-queue.json"),
}
QUERIES = "monitoring/queries.json"
CONTAINER_INSIGHTS = {"name": "containerInsights", "value": "enabled"}
LIFECYCLE = "repository-lifecycle.json"  # keeps the newest KEEP_IMAGES images
KEEP_IMAGES = 10
# The bucket's safeguards: (what, read, what counts as on) -- --harden-bucket writes the missing ones.
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[A-Za-z0-9-]{2,}")
LIST_PLACEHOLDERS = ("SUBNETS", "SECURITY_GROUPS")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def image_repository(image: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI; ValueError if it is not an ECR image."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        raise ValueError(
            f"--image {image}: not an ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG); "
            "the execution role pulls from ECR only"
        )
    return match["account"], match["region"], match["repository"]


def repository_arn(image: str) -> str:
    """The ECR repository an image URI names, as an ARN; ValueError if it is not an ECR image."""
    account, region, repository = image_repository(image)
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def _decoded(value: Any) -> Any:
    """``value`` with the JSON documents inside it that travel as strings (policies) decoded."""
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return _decoded(json.loads(value))
        except ValueError:  # e.g. an EventBridge input template, JSON with <placeholders>
            return value
    return value


def readable(params: Mapping[str, Any]) -> str:
    """A call's parameters one per line, JSON documents (also those passed as strings) as indented JSON."""
    lines = []
    for key in sorted(params):
        value = _decoded(params[key])
        text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
        lines.append(f"    {key}: " + text.replace("\n", "\n    "))
    return "\n".join(lines)


def load(name: str, values: Mapping[str, str | Sequence[str]]) -> Any:
    """Read one JSON definition and fill its ${NAME} placeholders.

    A list element that is exactly "${SUBNETS}" (or another list placeholder)
    expands into that many elements. An unfilled placeholder is an error.
    """

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            out: list[Any] = []
            for item in node:
                whole = _PLACEHOLDER.fullmatch(item) if isinstance(item, str) else None
                if whole and whole.group(1) in LIST_PLACEHOLDERS:
                    out.extend(values[whole.group(1)])
                else:
                    out.append(fill(item))
            return out
        if isinstance(node, str):

            def one(m: re.Match[str]) -> str:
                value = values.get(m.group(1))
                if not isinstance(value, str):
                    raise KeyError(f"{name}: no value for ${{{m.group(1)}}}")
                return value

            return _PLACEHOLDER.sub(one, node)
        return node

    return fill(json.loads((INFRA / name).read_text()))


def contains(existing: Any, wanted: Any) -> bool:
    """True if ``existing`` holds everything in ``wanted`` (AWS adds defaults we did not set)."""
    if isinstance(wanted, dict):
        return isinstance(existing, dict) and all(k in existing and contains(existing[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(wanted)
            and all(contains(e, w) for e, w in zip(existing, wanted, strict=True))
        )
    return bool(existing == wanted)


def mode_roles(mode: str) -> tuple[tuple[str, str, str], ...]:
    """The roles a mode needs: queue mode's task role also takes work from the queue; no events role."""
    if mode == "task":
        return ROLES
    (task, trust, _), execution, _events = ROLES
    return ((task, trust, QUEUE_TASK_POLICY), execution)


def mode_queues(mode: str) -> tuple[tuple[str, str | None], ...]:
    return QUEUES + (WORK_QUEUES if mode == "queue" else ())


def mode_rules(mode: str) -> tuple[tuple[str, str], ...]:
    """(rule, targets) files: in queue mode the upload rule feeds the work queue instead of RunTask."""
    (upload, task_targets), failure = RULES
    return ((upload, QUEUE_TARGETS if mode == "queue" else task_targets), failure)


def topic_arn(values: Mapping[str, Any]) -> str:
    return f"arn:aws:sns:{values['REGION']}:{values['ACCOUNT_ID']}:{TOPIC}"


def monitoring_values(values: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """``values`` with what the monitoring definitions add: the worker's Mode dimension and the topic."""
    return {**values, "MODE": METRIC_MODE[mode], "TOPIC_ARN": topic_arn(values)}


def dead_letter_queues(mode: str) -> tuple[str, ...]:
    """The queues where something waiting means a song was not converted: every queue but the work queue."""
    return tuple(name for name, _ in mode_queues(mode) if name != WORK_QUEUE)


def alarms(values: Mapping[str, Any], mode: str) -> list[dict[str, Any]]:
    """PutMetricAlarm's input for each alarm that notifies the topic in ``mode``."""
    filled = monitoring_values(values, mode)
    found = [load(name, filled) for name, only in ALERTS if only in (None, mode)]
    return found + [load(DEAD_LETTER_ALARM, {**filled, "QUEUE_NAME": q}) for q in dead_letter_queues(mode)]


def alarm_names(values: Mapping[str, Any]) -> list[str]:
    """Every alarm a deploy in either mode makes, for a teardown that finds them all."""
    names = [a["AlarmName"] for mode in MODES for a in alarms(values, mode)]
    return sorted(set(names))


def dashboard_body(values: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """The dashboard: the worker's widgets, then those of the mode's tasks and queues."""
    filled = monitoring_values(values, mode)
    first, *rest = (load(name, filled) for name in DASHBOARD_FILES[mode])
    return {**first, "widgets": first["widgets"] + [w for part in rest for w in part["widgets"]]}


def query_definitions() -> list[dict[str, Any]]:
    """PutQueryDefinition's input for each saved query (without the id of one that exists)."""
    return [{**query, "logGroupNames": [LOG_GROUP]} for query in load(QUERIES, {})]


def task_definition(values: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """RegisterTaskDefinition's input: queue mode's worker adds its variables (the queues, and S3_BUCKET: in
    queue mode the worker converts that bucket's objects only) and the longest stop timeout."""
    task: dict[str, Any] = load("task-definition.json", values)
    if mode == "queue":
        worker = load("queue/worker.json", values)
        container = task["containerDefinitions"][0]
        container["stopTimeout"] = worker["stopTimeout"]
        container["environment"] = container["environment"] + worker["environment"]
    return task


def queue_attributes(name: str, values: Mapping[str, Any], policy: Any) -> dict[str, str]:
    """A queue's attributes: its policy (None: none), retention, and for the work queue its redrive."""
    attributes = {"MessageRetentionPeriod": RETENTION}
    if policy is not None:
        attributes["Policy"] = json.dumps(policy)
    arn = f"arn:aws:sqs:{values['REGION']}:{values['ACCOUNT_ID']}:"
    if name == WORK_QUEUE:
        attributes["VisibilityTimeout"] = str(WORK_VISIBILITY_S)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arn + WORK_DLQ, "maxReceiveCount": MAX_RECEIVES}
        )
    return attributes


def _same_attributes(have: Mapping[str, str], want: Mapping[str, str]) -> bool:
    """Queue attributes compared as SQS returns them: documents as JSON, numbers as text."""

    def normal(name: str, value: str | None) -> Any:
        if value is None or name not in ("Policy", "RedrivePolicy"):
            return value
        return json.loads(value, parse_int=str)

    return all(normal(k, have.get(k)) == normal(k, v) for k, v in want.items())


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {
        "NoSuchEntity",
        "ClusterNotFoundException",  # a teardown's reads when the cluster is gone
        "NotFound",  # SNS: no such topic
        "ResourceNotFound",  # CloudWatch: no such dashboard
        "RepositoryNotFoundException",
        "LifecyclePolicyNotFoundException",
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ClientException",
    }


EXPIRED = {"ExpiredToken", "ExpiredTokenException"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
NO_CREDENTIALS = (  # none found, half a pair, or a profile or SSO login that yields none
    boto_errors.NoCredentialsError,
    boto_errors.PartialCredentialsError,
    boto_errors.CredentialRetrievalError,
    boto_errors.TokenRetrievalError,
    boto_errors.SSOError,
)
# The IAM action where it is not the operation's own name (S3's notification calls).
IAM_ACTIONS = {
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}
_PERFORM = re.compile(r"perform: (?P<action>[\w-]+:\w+)(?: on resource: (?P<resource>\S+))?")
# The parameters that name what a call acts on, most telling first.
_RESOURCE_KEYS: tuple[str, ...] = (
    *("RoleName", "Bucket", "QueueName", "QueueUrl", "Name", "Rule", "logGroupName", "logGroupNamePrefix"),
    *("service", "services", "cluster", "clusters", "clusterName", "taskDefinition", "family", "familyPrefix"),
    *("AlarmNames", "AlarmName", "PolicyName", "PolicyNames", "ResourceId", "ResourceIds"),
    *("TopicArn", "DashboardName", "DashboardNames", "repositoryName", "repositoryNames", "name"),
    *("queryDefinitionNamePrefix", "queryDefinitionId"),
)


class AwsError(Exception):
    """A call AWS refused, or that could not be made (credentials, network): the operator's to fix, exit 4."""


def resource_of(params: Mapping[str, Any]) -> str:
    """What a call acts on, from its parameters ("" if none names it)."""
    for key in _RESOURCE_KEYS:
        value = params.get(key)
        if value:
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return ""


def explain(service: str, operation: str, resource: str, exc: Exception) -> str:
    """One line: the call (service.operation), what it acted on, and what went wrong and how to fix it."""
    api = "".join(part.capitalize() for part in operation.split("_"))  # create_role: IAM's CreateRole
    where = f"{service}.{operation}" + (f" on {resource}" if resource else "")
    if isinstance(exc, NO_CREDENTIALS):
        return (
            f"{where}: no usable AWS credentials ({exc}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run 'aws configure' or 'aws sso login'"
        )
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), " ".join(str(error.get("Message", "")).split())
        if code in EXPIRED:
            return f"{where}: the AWS credentials have expired ({code}): renew them ('aws sso login' or new keys)"
        if code in DENIED:
            said = _PERFORM.search(message)
            action = said["action"] if said else IAM_ACTIONS.get(api, f"{service}:{api}")
            on = f" on {said['resource']}" if said and said["resource"] else ""
            return f"{where}: access denied ({code}): the credentials need the permission {action}{on}"
        if code in THROTTLED:
            tries = 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            return (
                f"{where}: throttled by AWS ({code}) after {tries} attempts: wait a minute and run it again "
                "(a rerun changes only what is still missing)"
            )
        return f"{where}: AWS refused it ({code}): {message or 'no message'}"
    return f"{where}: could not reach AWS: {exc}"  # a connection error or timeout


def call(client: Any, service: str, operation: str, resource: str, params: Mapping[str, Any], absent: Any = ...) -> Any:
    """``client.operation(**params)``. Missing credentials, a refusal or an unreachable endpoint raise
    AwsError; ``absent``, when given, is the answer if the resource does not exist."""
    try:
        return getattr(client, operation)(**params)
    except boto_errors.ClientError as exc:
        if absent is not ... and _missing(exc):
            return absent
        raise AwsError(explain(service, operation, resource, exc)) from exc
    except (*NO_CREDENTIALS, boto_errors.ConnectionError, boto_errors.HTTPClientError) as exc:
        raise AwsError(explain(service, operation, resource, exc)) from exc
    except boto_errors.WaiterError as exc:  # it gave up, or one of its calls failed
        raise AwsError(f"{service}.{operation} for {resource}: {exc}") from exc


class Deployer:
    """Reads, compares and writes; in dry-run mode it only prints the writes."""

    def __init__(
        self,
        values: Mapping[str, Any],
        dry_run: bool,
        client: Callable[[str], Any] = make_client,
        mode: str = "task",
        max_tasks: int = 10,
    ) -> None:
        self.values = dict(values)
        self.dry_run = dry_run
        self.mode = mode
        self.max_tasks = max_tasks
        self._client = client
        self._clients: dict[str, Any] = {}
        self.actions: list[tuple[str, str]] = []  # (verb, resource)
        self.warnings: list[str] = []  # what the operator should know but deploy.py does not change

    def aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client(service)
        return self._clients[service]

    def read(self, service: str, operation: str, /, **params: Any) -> Any:
        """A read; None when the resource does not exist (or in a dry run)."""
        if self.dry_run:
            return None
        return call(self.aws(service), service, operation, resource_of(params), params, absent=None)

    def write(self, verb: str, resource: str, service: str, operation: str, /, **params: Any) -> Any:
        self.actions.append((verb, resource))
        if self.dry_run:
            print(f"would call {service}.{operation}\n{readable(params)}")
            return None
        answer = call(self.aws(service), service, operation, resource, params)
        print(f"{verb} {resource}")  # once done
        return answer

    def unchanged(self, resource: str) -> None:
        self.actions.append(("unchanged", resource))
        print(f"unchanged {resource}")

    def warn(self, text: str) -> None:
        """One line on stderr: something the operator may want to change, left as it is."""
        self.warnings.append(text)
        print(f"deploy.py: warning: {text}", file=sys.stderr)

    # -- resources, in dependency order ---------------------------------------------------------

    def roles(self) -> None:
        for name, trust_file, policy_file in mode_roles(self.mode):
            trust, policy = load(trust_file, self.values), load(policy_file, self.values)
            current = self.read("iam", "get_role", RoleName=name)
            if current is None:
                self.write(
                    "created",
                    f"role {name}",
                    "iam",
                    "create_role",
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description="SurroundYou",
                )
            elif current["Role"]["AssumeRolePolicyDocument"] != trust:
                self.write(
                    "updated",
                    f"role {name} trust",
                    "iam",
                    "update_assume_role_policy",
                    RoleName=name,
                    PolicyDocument=json.dumps(trust),
                )
            else:
                self.unchanged(f"role {name}")
            inline = self.read("iam", "get_role_policy", RoleName=name, PolicyName=name)
            if inline is None or inline["PolicyDocument"] != policy:
                self.write(
                    "created" if inline is None else "updated",
                    f"policy {name}",
                    "iam",
                    "put_role_policy",
                    RoleName=name,
                    PolicyName=name,
                    PolicyDocument=json.dumps(policy),
                )
            else:
                self.unchanged(f"policy {name}")

    def log_group(self) -> None:
        found = self.read("logs", "describe_log_groups", logGroupNamePrefix=LOG_GROUP)
        groups = [g for g in (found or {}).get("logGroups", []) if g["logGroupName"] == LOG_GROUP]
        if not groups:
            self.write("created", f"log group {LOG_GROUP}", "logs", "create_log_group", logGroupName=LOG_GROUP)
        if not groups or groups[0].get("retentionInDays") != LOG_RETENTION_DAYS:
            self.write(
                "updated",
                f"log retention {LOG_RETENTION_DAYS} days",
                "logs",
                "put_retention_policy",
                logGroupName=LOG_GROUP,
                retentionInDays=LOG_RETENTION_DAYS,
            )
        else:
            self.unchanged(f"log group {LOG_GROUP}")

    def queues(self) -> None:
        for name, policy_file in mode_queues(self.mode):  # a redrive target before its source
            policy = load(policy_file, self.values) if policy_file else None
            attributes = queue_attributes(name, self.values, policy)
            url = self.read("sqs", "get_queue_url", QueueName=name)
            if url is None:
                self.write("created", f"queue {name}", "sqs", "create_queue", QueueName=name, Attributes=attributes)
                continue
            current = self.read("sqs", "get_queue_attributes", QueueUrl=url["QueueUrl"], AttributeNames=["All"])
            if not _same_attributes(current.get("Attributes", {}), attributes):
                self.write(
                    "updated",
                    f"queue {name}",
                    "sqs",
                    "set_queue_attributes",
                    QueueUrl=url["QueueUrl"],
                    Attributes=attributes,
                )
            else:
                self.unchanged(f"queue {name}")

    def cluster(self, create: bool) -> None:
        """The cluster (created only if asked); in queue mode with the Fargate capacity providers."""
        name = self.values["CLUSTER"]
        providers = ["FARGATE", "FARGATE_SPOT"] if self.mode == "queue" else []
        found = self.read("ecs", "describe_clusters", clusters=[name], include=["SETTINGS"])
        active = [c for c in (found or {}).get("clusters", []) if c.get("status") == "ACTIVE"]
        if not active and create:
            extra = {"capacityProviders": providers} if providers else {}
            self.write(
                "created",
                f"cluster {name}",
                "ecs",
                "create_cluster",
                clusterName=name,
                settings=[CONTAINER_INSIGHTS],
                **extra,
            )
            return
        insights_changed = bool(active) and self._container_insights(active[0], create)
        # A cluster found, or one the user makes (and a dry run): the providers must be there all the same.
        have = active[0].get("capacityProviders", []) if active else []
        if all(p in have for p in providers):
            if active and create and not insights_changed:
                self.unchanged(f"cluster {name}")
            return
        self.write(
            "updated",
            f"cluster {name} capacity providers",
            "ecs",
            "put_cluster_capacity_providers",
            cluster=name,
            capacityProviders=sorted(set(have) | set(providers)),  # keep the cluster's own
            defaultCapacityProviderStrategy=active[0].get("defaultCapacityProviderStrategy", []) if active else [],
        )

    def _container_insights(self, cluster: Mapping[str, Any], ours: bool) -> bool:
        """The dashboard's task widgets and task mode's memory alarm read Container Insights: turned on in
        the cluster deploy.py manages (--create-cluster), a warning for the user's own. True if it wrote."""
        name = cluster["clusterName"]
        settings = {s.get("name"): s.get("value") for s in cluster.get("settings", [])}
        if settings.get("containerInsights") in ("enabled", "enhanced"):
            return False
        if ours:
            self.write(
                "updated",
                f"cluster {name} Container Insights",
                "ecs",
                "update_cluster",
                cluster=name,
                settings=[CONTAINER_INSIGHTS],
            )
            return True
        self.warn(
            f"cluster {name}: Container Insights is off, so the dashboard shows no task counts"
            + (" or CPU and memory, and the memory alarm has no data" if self.mode == "task" else "")
            + f" (aws ecs update-cluster-settings --cluster {name} --settings name=containerInsights,value=enabled)"
        )
        return False

    def task_definition(self) -> None:
        wanted = task_definition(self.values, self.mode)
        found = self.read("ecs", "describe_task_definition", taskDefinition=FAMILY)
        if found is not None and contains(found["taskDefinition"], wanted):
            self.unchanged(f"task definition {FAMILY}:{found['taskDefinition']['revision']}")
        else:
            self.write("registered", f"task definition {FAMILY}", "ecs", "register_task_definition", **wanted)

    def bucket_notification(self) -> None:
        wanted = load("bucket-notification.json", self.values)
        bucket = wanted["Bucket"]
        current = self.read("s3", "get_bucket_notification_configuration", Bucket=bucket)
        if current is not None and "EventBridgeConfiguration" in current:
            self.unchanged(f"bucket {bucket} sends events to EventBridge")
            return
        # PutBucketNotificationConfiguration replaces the whole configuration: keep what is there.
        keep = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")
        merged = {k: v for k, v in (current or {}).items() if k in keep}
        merged.update(wanted["NotificationConfiguration"])
        self.write(
            "updated",
            f"bucket {bucket} notifications (+EventBridge)",
            "s3",
            "put_bucket_notification_configuration",
            Bucket=bucket,
            NotificationConfiguration=merged,
        )

    def rules(self) -> None:
        for rule_file, targets_file in mode_rules(self.mode):
            rule, targets = load(rule_file, self.values), load(targets_file, self.values)
            params = {**rule, "EventPattern": json.dumps(rule["EventPattern"])}
            current = self.read("events", "describe_rule", Name=rule["Name"])
            same = (
                current is not None
                and json.loads(current.get("EventPattern", "{}")) == rule["EventPattern"]
                and current.get("State") == rule["State"]
                and current.get("Description") == rule["Description"]
            )
            if same:
                self.unchanged(f"rule {rule['Name']}")
            else:
                self.write(
                    "created" if current is None else "updated", f"rule {rule['Name']}", "events", "put_rule", **params
                )
            listed = self.read("events", "list_targets_by_rule", Rule=rule["Name"])
            have = {t["Id"]: t for t in (listed or {}).get("Targets", [])}
            if all(contains(have.get(t["Id"]), t) for t in targets["Targets"]) and len(have) == len(targets["Targets"]):
                self.unchanged(f"targets of {rule['Name']}")
                continue
            self.write("updated", f"targets of {rule['Name']}", "events", "put_targets", **targets)
            stale = sorted(set(have) - {t["Id"] for t in targets["Targets"]})  # the other mode's
            if stale:
                self.write(
                    "removed",
                    f"old targets of {rule['Name']}",
                    "events",
                    "remove_targets",
                    Rule=rule["Name"],
                    Ids=stale,
                )

    def service(self) -> None:
        """Queue mode's ECS service of workers: created at 0 tasks (the scaling sets the count), then
        moved to a new task definition, network or capacity-provider strategy when those change."""
        wanted = load("queue/service.json", self.values)
        cluster = self.values["CLUSTER"]
        found = self.read("ecs", "describe_services", cluster=cluster, services=[SERVICE])
        live = [s for s in (found or {}).get("services", []) if s.get("status") == "ACTIVE"]
        if not live:
            self.write("created", f"service {SERVICE}", "ecs", "create_service", **wanted)
            return
        latest = self.read("ecs", "describe_task_definition", taskDefinition=FAMILY)
        changes: dict[str, Any] = {}
        if latest and live[0].get("taskDefinition") != latest["taskDefinition"]["taskDefinitionArn"]:
            changes["taskDefinition"] = FAMILY
        if not contains(live[0].get("networkConfiguration"), wanted["networkConfiguration"]):
            changes["networkConfiguration"] = wanted["networkConfiguration"]
        strategy = live[0].get("capacityProviderStrategy")  # (moto 5.2 leaves it out: then not compared)
        if strategy is not None and not contains(strategy, wanted["capacityProviderStrategy"]):
            changes.update(capacityProviderStrategy=wanted["capacityProviderStrategy"], forceNewDeployment=True)
        if changes:
            self.write(
                "updated", f"service {SERVICE}", "ecs", "update_service", cluster=cluster, service=SERVICE, **changes
            )
        else:
            self.unchanged(f"service {SERVICE}")

    def scaling(self) -> None:
        """0..max_tasks workers: a step policy per direction, each run by a CloudWatch alarm on the queue."""
        target = {**load("queue/scaling-target.json", self.values), "MaxCapacity": self.max_tasks}
        where = {k: target[k] for k in ("ServiceNamespace", "ScalableDimension")}
        found = self.read(
            "application-autoscaling", "describe_scalable_targets", ResourceIds=[target["ResourceId"]], **where
        )
        have = (found or {}).get("ScalableTargets", [])
        if have and contains(have[0], target):
            self.unchanged(f"scaling of {SERVICE}")
        else:
            verb = "updated" if have else "registered"
            label = f"scaling of {SERVICE} (0 to {self.max_tasks} tasks)"
            self.write(verb, label, "application-autoscaling", "register_scalable_target", **target)
        arns: dict[str, str] = {}
        for policy_file, placeholder in SCALING_POLICIES:
            policy = load(policy_file, self.values)
            name = policy["PolicyName"]
            found = self.read(
                "application-autoscaling",
                "describe_scaling_policies",
                ResourceId=policy["ResourceId"],
                PolicyNames=[name],
                **where,
            )
            have = [p for p in (found or {}).get("ScalingPolicies", []) if p["PolicyName"] == name]
            if have and contains(have[0], policy):
                self.unchanged(f"scaling policy {name}")
                arns[placeholder] = have[0]["PolicyARN"]
                continue
            answer = self.write(
                "updated" if have else "created",
                f"scaling policy {name}",
                "application-autoscaling",
                "put_scaling_policy",
                **policy,
            )
            arns[placeholder] = answer["PolicyARN"] if answer else f"<ARN of scaling policy {name}>"
        for alarm_file in ALARMS:
            alarm = load(alarm_file, {**self.values, **arns})
            found = self.read("cloudwatch", "describe_alarms", AlarmNames=[alarm["AlarmName"]])
            have = [a for a in (found or {}).get("MetricAlarms", []) if a["AlarmName"] == alarm["AlarmName"]]
            if have and contains(have[0], alarm):
                self.unchanged(f"alarm {alarm['AlarmName']}")
            else:
                verb = "updated" if have else "created"
                self.write(verb, f"alarm {alarm['AlarmName']}", "cloudwatch", "put_metric_alarm", **alarm)

    # -- operations: the image repository, the bucket's safeguards, alarms, dashboard, queries ---

    def repository(self) -> None:
        """The ECR repository --image names (when it is in this account and region): made when missing, with
        scan on push and the lifecycle policy that keeps the newest KEEP_IMAGES images."""
        account, region, name = image_repository(self.values["IMAGE_URI"])
        if (account, region) != (self.values["ACCOUNT_ID"], self.values["REGION"]):
            self.warn(f"repository {name} is in account {account}, region {region}: not managed by this deploy")
            return
        found = self.read("ecr", "describe_repositories", repositoryNames=[name])
        have = (found or {}).get("repositories", [])
        if not have:
            self.write(
                "created",
                f"repository {name}",
                "ecr",
                "create_repository",
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
            )
        elif not have[0].get("imageScanningConfiguration", {}).get("scanOnPush"):
            self.write(
                "updated",
                f"repository {name} scan on push",
                "ecr",
                "put_image_scanning_configuration",
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
            )
        else:
            self.unchanged(f"repository {name}")
        wanted = load(LIFECYCLE, {})
        current = self.read("ecr", "get_lifecycle_policy", repositoryName=name) if have else None
        if current is None:
            self.write(
                "created",
                f"lifecycle policy of {name} (keep {KEEP_IMAGES} images)",
                "ecr",
                "put_lifecycle_policy",
                repositoryName=name,
                lifecyclePolicyText=json.dumps(wanted),
            )
        elif json.loads(current["lifecyclePolicyText"]) == wanted:
            self.unchanged(f"lifecycle policy of {name}")
        else:  # the user's own rules: theirs to merge
            self.warn(f"repository {name} has its own lifecycle policy: left as it is (ours: infra/{LIFECYCLE})")

    def bucket_safeguards(self, harden: bool) -> None:
        """Versioning, default encryption and the public-access block of the songs bucket: each one missing
        is a warning, and only --harden-bucket turns it on (the bucket is the user's)."""
        bucket = self.values["BUCKET"]
        if self.dry_run and not harden:
            print(f"would check bucket {bucket}: versioning, default encryption, public-access block (warnings only)")
            return
        versioning = self.read("s3", "get_bucket_versioning", Bucket=bucket)
        encryption = self.read("s3", "get_bucket_encryption", Bucket=bucket)
        block = self.read("s3", "get_public_access_block", Bucket=bucket)
        checks = (
            (
                (versioning or {}).get("Status") == "Enabled",
                "versioning is off (an overwritten or deleted song cannot be recovered)",
                "put_bucket_versioning",
                {"VersioningConfiguration": {"Status": "Enabled"}},
            ),
            (
                bool((encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules")),
                "no default encryption",
                "put_bucket_encryption",
                {"ServerSideEncryptionConfiguration": DEFAULT_ENCRYPTION},
            ),
            (
                contains((block or {}).get("PublicAccessBlockConfiguration"), PUBLIC_ACCESS_BLOCK),
                "the public-access block is not fully on",
                "put_public_access_block",
                {"PublicAccessBlockConfiguration": PUBLIC_ACCESS_BLOCK},
            ),
        )
        for on, problem, operation, params in checks:
            what = operation.removeprefix("put_").replace("_", " ")
            if on:
                self.unchanged(f"{what} ({bucket})")
            elif harden:
                self.write("updated", f"{what} ({bucket})", "s3", operation, Bucket=bucket, **params)
            else:
                self.warn(f"bucket {bucket}: {problem}; --harden-bucket turns it on")

    def topic(self, email: str | None) -> None:
        """The SNS topic the alarms notify, and an e-mail subscription to it (confirmed from the e-mail)."""
        arn = topic_arn(self.values)
        if self.read("sns", "get_topic_attributes", TopicArn=arn) is None:
            self.write("created", f"topic {TOPIC}", "sns", "create_topic", Name=TOPIC)
        else:
            self.unchanged(f"topic {TOPIC}")
        if email is None:
            return
        listed = self.read("sns", "list_subscriptions_by_topic", TopicArn=arn)
        emails = {s["Endpoint"].lower() for s in (listed or {}).get("Subscriptions", []) if s["Protocol"] == "email"}
        if email.lower() in emails:
            self.unchanged(f"subscription of {email}")
            return
        self.write(
            "subscribed", f"{email} to {TOPIC}", "sns", "subscribe", TopicArn=arn, Protocol="email", Endpoint=email
        )
        if not self.dry_run:
            print(f"  AWS sends {email} a message: the alarms reach it once its link is followed")

    def alarms(self) -> None:
        for alarm in alarms(self.values, self.mode):
            name = alarm["AlarmName"]
            found = self.read("cloudwatch", "describe_alarms", AlarmNames=[name])
            have = [a for a in (found or {}).get("MetricAlarms", []) if a["AlarmName"] == name]
            if have and contains(have[0], alarm):
                self.unchanged(f"alarm {name}")
            else:
                self.write("updated" if have else "created", f"alarm {name}", "cloudwatch", "put_metric_alarm", **alarm)
        # The other mode's alarms (its work queue's) would watch nothing: take them away. (Never an empty
        # list of names: DescribeAlarms would answer with every alarm of the account.)
        stale = sorted(set(alarm_names(self.values)) - {a["AlarmName"] for a in alarms(self.values, self.mode)})
        found = self.read("cloudwatch", "describe_alarms", AlarmNames=stale) if stale else None
        present = [a["AlarmName"] for a in (found or {}).get("MetricAlarms", [])]
        if present:
            self.write("deleted", f"alarms {', '.join(present)}", "cloudwatch", "delete_alarms", AlarmNames=present)

    def dashboard(self) -> None:
        wanted = dashboard_body(self.values, self.mode)
        found = self.read("cloudwatch", "get_dashboard", DashboardName=DASHBOARD)
        if found is not None and json.loads(found["DashboardBody"]) == wanted:
            self.unchanged(f"dashboard {DASHBOARD}")
            return
        self.write(
            "updated" if found else "created",
            f"dashboard {DASHBOARD}",
            "cloudwatch",
            "put_dashboard",
            DashboardName=DASHBOARD,
            DashboardBody=json.dumps(wanted),
        )

    def _saved_queries(self) -> dict[str, dict[str, Any]]:
        """The saved queries named as ours, by name (the first of each name, should there be two)."""
        found = self.read("logs", "describe_query_definitions", queryDefinitionNamePrefix=DASHBOARD + "/")
        ours: dict[str, dict[str, Any]] = {}
        for query in (found or {}).get("queryDefinitions", []):
            ours.setdefault(query["name"], query)
        return ours

    def queries(self) -> None:
        """Saved Logs Insights queries on the worker's log group, found by name and updated in place."""
        have = self._saved_queries()
        for query in query_definitions():
            current = have.get(query["name"])
            if current is not None and contains(current, query):
                self.unchanged(f"query {query['name']}")
                continue
            where = {"queryDefinitionId": current["queryDefinitionId"]} if current else {}
            verb = "updated" if current else "created"
            self.write(verb, f"query {query['name']}", "logs", "put_query_definition", **query, **where)

    def _operations_teardown(self, delete_repository: bool) -> None:
        """The queries, dashboard, alarms and topic (its subscriptions go with it); the repository only when
        asked, since it holds the images."""
        have = self._saved_queries()
        for query in query_definitions():
            current = have.get(query["name"])
            if current is not None or self.dry_run:
                query_id = current["queryDefinitionId"] if current else f"<id of {query['name']}>"
                self.write(
                    "deleted", f"query {query['name']}", "logs", "delete_query_definition", queryDefinitionId=query_id
                )
        found = self.read("cloudwatch", "get_dashboard", DashboardName=DASHBOARD)
        if found is not None or self.dry_run:
            self.write(
                "deleted", f"dashboard {DASHBOARD}", "cloudwatch", "delete_dashboards", DashboardNames=[DASHBOARD]
            )
        names = (
            alarm_names(self.values) if not self.dry_run else [a["AlarmName"] for a in alarms(self.values, self.mode)]
        )
        listed = self.read("cloudwatch", "describe_alarms", AlarmNames=names)
        present = [a["AlarmName"] for a in (listed or {}).get("MetricAlarms", [])] or (names if self.dry_run else [])
        if present:
            self.write("deleted", f"alarms {', '.join(present)}", "cloudwatch", "delete_alarms", AlarmNames=present)
        arn = topic_arn(self.values)
        if self.dry_run or self.read("sns", "get_topic_attributes", TopicArn=arn) is not None:
            self.write("deleted", f"topic {TOPIC}", "sns", "delete_topic", TopicArn=arn)
        else:
            self.absent(f"topic {TOPIC}")
        if delete_repository:
            name = image_repository(self.values["IMAGE_URI"])[2]
            found = self.read("ecr", "describe_repositories", repositoryNames=[name])
            if self.dry_run or (found or {}).get("repositories"):
                self.write(
                    "deleted",
                    f"repository {name} and its images",
                    "ecr",
                    "delete_repository",
                    repositoryName=name,
                    force=True,
                )
            else:
                self.absent(f"repository {name}")

    # -- teardown, in reverse dependency order ---------------------------------------------------

    def _queue_mode_teardown(self) -> None:
        """The alarms, the scaling and the service, wherever found (in a dry run: with --mode queue)."""
        listed = self.dry_run and self.mode == "queue"
        names = [
            load(f, {**self.values, "SCALE_OUT_POLICY_ARN": "", "SCALE_IN_POLICY_ARN": ""})["AlarmName"] for f in ALARMS
        ]
        found = self.read("cloudwatch", "describe_alarms", AlarmNames=names)
        present = [a["AlarmName"] for a in (found or {}).get("MetricAlarms", [])] or (names if listed else [])
        if present:
            self.write("deleted", f"alarms {', '.join(present)}", "cloudwatch", "delete_alarms", AlarmNames=present)
        target = load("queue/scaling-target.json", self.values)
        where = {k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        for policy_file, _ in SCALING_POLICIES:
            name = load(policy_file, self.values)["PolicyName"]
            policies = self.read("application-autoscaling", "describe_scaling_policies", PolicyNames=[name], **where)
            if (policies or {}).get("ScalingPolicies") or listed:
                self.write(
                    "deleted",
                    f"scaling policy {name}",
                    "application-autoscaling",
                    "delete_scaling_policy",
                    PolicyName=name,
                    **where,
                )
        targets = self.read(
            "application-autoscaling",
            "describe_scalable_targets",
            ResourceIds=[where["ResourceId"]],
            ServiceNamespace="ecs",
        )
        if (targets or {}).get("ScalableTargets") or listed:
            self.write(
                "deregistered",
                f"scaling of {SERVICE}",
                "application-autoscaling",
                "deregister_scalable_target",
                **where,
            )
        cluster = self.values["CLUSTER"]
        services = self.read("ecs", "describe_services", cluster=cluster, services=[SERVICE])
        if any(s.get("status") == "ACTIVE" for s in (services or {}).get("services", [])) or listed:
            self.write(
                "deleted", f"service {SERVICE}", "ecs", "delete_service", cluster=cluster, service=SERVICE, force=True
            )
            if not self.dry_run:  # the cluster can go only once the service's tasks have stopped
                waiter = self.aws("ecs").get_waiter("services_inactive")
                call(waiter, "ecs", "wait", f"service {SERVICE} to stop", {"cluster": cluster, "services": [SERVICE]})

    def absent(self, resource: str) -> None:
        self.actions.append(("absent", resource))
        print(f"absent {resource}")

    def teardown(self, delete_cluster: bool, delete_repository: bool = False) -> list[tuple[str, str]]:
        self._operations_teardown(delete_repository)
        self._queue_mode_teardown()
        for rule_file, _ in RULES:
            name = load(rule_file, self.values)["Name"]
            listed = self.read("events", "list_targets_by_rule", Rule=name)
            ids = [t["Id"] for t in (listed or {}).get("Targets", [])]
            if ids or self.dry_run:
                self.write("removed", f"targets of {name}", "events", "remove_targets", Rule=name, Ids=ids or ["*"])
            if self.read("events", "describe_rule", Name=name) is not None or self.dry_run:
                self.write("deleted", f"rule {name}", "events", "delete_rule", Name=name)
            else:
                self.absent(f"rule {name}")
        bucket = self.values["BUCKET"]
        current = self.read("s3", "get_bucket_notification_configuration", Bucket=bucket)
        if self.dry_run or (current is not None and "EventBridgeConfiguration" in current):
            keep = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")
            rest: Any = {k: v for k, v in (current or {}).items() if k in keep}
            if self.dry_run:  # nothing read: say what it keeps rather than print {}
                rest = f"<the bucket's configuration without EventBridgeConfiguration: its {', '.join(keep)} kept>"
            self.write(
                "updated",
                f"bucket {bucket} notifications (-EventBridge)",
                "s3",
                "put_bucket_notification_configuration",
                Bucket=bucket,
                NotificationConfiguration=rest,
            )
        else:
            self.absent(f"EventBridge notifications of bucket {bucket}")
        listed = self.read("ecs", "list_task_definitions", familyPrefix=FAMILY, status="ACTIVE")
        arns = (listed or {}).get("taskDefinitionArns", []) or ([f"{FAMILY}:*"] if self.dry_run else [])
        for arn in arns:
            self.write(
                "deregistered", f"task definition {arn}", "ecs", "deregister_task_definition", taskDefinition=arn
            )
        if not arns:
            self.absent(f"task definition {FAMILY}")
        if delete_cluster:
            name = self.values["CLUSTER"]
            found = self.read("ecs", "describe_clusters", clusters=[name])
            if self.dry_run or any(c.get("status") == "ACTIVE" for c in (found or {}).get("clusters", [])):
                self.write("deleted", f"cluster {name}", "ecs", "delete_cluster", cluster=name)
            else:
                self.absent(f"cluster {name}")
        ours = {name for name, _ in mode_queues(self.mode)}
        for name, _ in (*QUEUES, *WORK_QUEUES):  # the work queues wherever found
            url = self.read("sqs", "get_queue_url", QueueName=name)
            if url is not None or (self.dry_run and name in ours):
                queue = url["QueueUrl"] if url else f"<url of {name}>"
                self.write("deleted", f"queue {name}", "sqs", "delete_queue", QueueUrl=queue)
            elif name in ours:
                self.absent(f"queue {name}")
        found = self.read("logs", "describe_log_groups", logGroupNamePrefix=LOG_GROUP)
        if self.dry_run or any(g["logGroupName"] == LOG_GROUP for g in (found or {}).get("logGroups", [])):
            self.write("deleted", f"log group {LOG_GROUP}", "logs", "delete_log_group", logGroupName=LOG_GROUP)
        else:
            self.absent(f"log group {LOG_GROUP}")
        for name, _, _ in ROLES:
            if self.read("iam", "get_role", RoleName=name) is None and not self.dry_run:
                self.absent(f"role {name}")
                continue
            if self.read("iam", "get_role_policy", RoleName=name, PolicyName=name) is not None or self.dry_run:
                self.write("deleted", f"policy {name}", "iam", "delete_role_policy", RoleName=name, PolicyName=name)
            self.write("deleted", f"role {name}", "iam", "delete_role", RoleName=name)
        return self.actions

    def run(
        self, create_cluster: bool, alarm_email: str | None = None, harden_bucket: bool = False
    ) -> list[tuple[str, str]]:
        self.roles()
        self.log_group()
        self.queues()
        self.cluster(create_cluster)
        self.repository()  # before the task definition that names its image
        self.task_definition()
        self.bucket_safeguards(harden_bucket)
        self.bucket_notification()
        self.rules()
        if self.mode == "queue":
            self.service()
            self.scaling()
        self.topic(alarm_email)
        self.alarms()
        self.dashboard()
        self.queries()
        return self.actions


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bucket", required=True, help="the songs bucket (uploads under input/, results under processed/)")
    p.add_argument("--image", help="the worker image URI in ECR (deploy)")
    p.add_argument("--subnets", help="comma-separated subnet IDs for the tasks (deploy)")
    p.add_argument("--security-groups", help="comma-separated security group IDs, egress to S3/ECR (deploy)")
    p.add_argument("--cluster", default="surroundyou", help="ECS cluster name (default surroundyou)")
    p.add_argument(
        "--create-cluster", action="store_true", help="create the cluster if it does not exist (teardown: delete it)"
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="task",
        help="task: one Fargate task per upload (default); queue: uploads queue for a service of workers",
    )
    p.add_argument(
        "--max-tasks", type=int, default=10, metavar="N", help="queue mode: most worker tasks at once (default 10)"
    )
    p.add_argument(
        "--alarm-email", metavar="ADDRESS", help="subscribe this e-mail address to the alarms' topic (deploy)"
    )
    p.add_argument(
        "--harden-bucket",
        action="store_true",
        help="turn on the bucket's versioning, default encryption and public-access block where off (deploy)",
    )
    p.add_argument("--teardown", action="store_true", help="remove everything a deploy made")
    p.add_argument(
        "--delete-repository",
        action="store_true",
        help="teardown: also delete the ECR repository --image names, with its images",
    )
    p.add_argument("--region", help="AWS region (default: AWS_REGION or the configured region)")
    p.add_argument("--account", help="AWS account ID (default: the caller's; required with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="print every call that would be made; make none")
    return p.parse_args(argv)


# The shapes AWS gives these values; checked before any call, so that a typo is not written into policies.
SHAPES = {
    "subnets": (re.compile(r"subnet-[0-9a-f]{8,17}"), "subnet IDs (subnet- and 8 or 17 hex digits)"),
    "security_groups": (re.compile(r"sg-[0-9a-f]{8,17}"), "security group IDs (sg- and 8 or 17 hex digits)"),
    "account": (re.compile(r"\d{12}"), "a 12-digit AWS account ID"),
    "region": (re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}"), "an AWS region name such as eu-west-1"),
    "cluster": (re.compile(r"[A-Za-z0-9_-]{1,255}"), "an ECS cluster name (letters, digits, - and _)"),
}
LISTS = ("subnets", "security_groups")


def value_problem(args: argparse.Namespace) -> str | None:
    """The first value that cannot be right, as one line; None if all can. Makes no AWS call."""
    if args.dry_run and not (args.account and args.region):
        return "--dry-run needs --account and --region (it makes no AWS calls)"
    missing = [flag for flag in ("image", "subnets", "security_groups") if not getattr(args, flag)]
    if missing and not args.teardown:
        return f"a deploy needs --{missing[0].replace('_', '-')}"
    if args.image:
        try:
            repository_arn(args.image)
        except ValueError as exc:
            return str(exc)
    problem = bucket_name_problem(args.bucket)
    if problem:  # the queue-mode workers would refuse it at every start
        return f"--bucket must be a valid S3 bucket name ({problem}), got {args.bucket!r}"
    for name, (shape, what) in SHAPES.items():
        given = getattr(args, name)
        if given is None:
            continue
        items = given.split(",") if name in LISTS else [given]
        if not all(shape.fullmatch(item) for item in items):
            flag = "--" + name.replace("_", "-")
            return f"{flag} must be {'comma-separated ' if name in LISTS else ''}{what}, got {given!r}"
    if args.alarm_email is not None and not _EMAIL.fullmatch(args.alarm_email):
        return f"--alarm-email must be one e-mail address such as ops@example.com, got {args.alarm_email!r}"
    if args.delete_repository and not (args.teardown and args.image):
        return "--delete-repository goes with --teardown and --image (the image names the repository)"
    if not 1 <= args.max_tasks <= 1000:
        return f"--max-tasks must be from 1 to 1000, got {args.max_tasks}"
    return None


def configured_region() -> str:
    """AWS_REGION or the configured region (a client's; making one calls nothing); UsageError if none."""
    try:
        region = str(make_client("ecs").meta.region_name)
    except boto_errors.NoRegionError:
        raise UsageError("no AWS region: pass --region or set AWS_REGION") from None
    if not SHAPES["region"][0].fullmatch(region):
        raise UsageError(f"the configured AWS region {region!r} is not a region name such as eu-west-1")
    return region


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    problem = value_problem(args)
    if problem:
        print(f"deploy.py: {problem}", file=sys.stderr)
        return EXIT_USAGE
    region = args.region or configured_region()
    sts = make_client("sts", region)
    account = args.account or call(sts, "sts", "get_caller_identity", "", {})["Account"]
    values = {
        "ACCOUNT_ID": account,
        "REGION": region,
        "BUCKET": args.bucket,
        "CLUSTER": args.cluster,
        "IMAGE_URI": args.image or "",
        "IMAGE_REPOSITORY_ARN": repository_arn(args.image) if args.image else "",
        "SUBNETS": [s for s in (args.subnets or "").split(",") if s],
        "SECURITY_GROUPS": [s for s in (args.security_groups or "").split(",") if s],
    }
    deployer = Deployer(values, args.dry_run, lambda service: make_client(service, region), args.mode, args.max_tasks)
    if args.teardown:
        actions = deployer.teardown(args.create_cluster, args.delete_repository)
    else:
        actions = deployer.run(args.create_cluster, args.alarm_email, args.harden_bucket)
    changed = sum(verb != "unchanged" for verb, _ in actions)
    print(f"{'would change' if args.dry_run else 'changed'} {changed}, unchanged {len(actions) - changed}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """main() as the shell runs it: every failure one line on stderr and its exit code, never a traceback."""
    try:
        code = main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:  # | head: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        return EXIT_PIPE
    except UsageError as exc:  # AWS_MAX_ATTEMPTS and the like, or no region
        print(f"deploy.py: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AwsError as exc:
        print(f"deploy.py: {exc}", file=sys.stderr)
        return EXIT_AWS
    except KeyboardInterrupt:
        print("deploy.py: interrupted; run it again to finish (it changes only what is still missing)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        print(f"deploy.py: internal error: {type(exc).__name__}: {exc} (a bug: please report it)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(cli())
