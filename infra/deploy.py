#!/usr/bin/env python3
"""Create or update every AWS resource SurroundYou needs, from the JSON files beside this script.

Idempotent: each resource is read first and written only when it is missing
or differs, so a second run changes nothing. ``--dry-run`` makes no AWS call at
all (not even reads) and prints every write it would make on an empty account.

    python infra/deploy.py --bucket my-songs --subnets subnet-1,subnet-2 \\
        --security-groups sg-1 --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou:0.1.0

Resources: three IAM roles with inline policies, the log group, the dead-letter
and failed-task queues, the cluster (with --create-cluster), the task
definition, the bucket's EventBridge notification (merged into the existing
notification configuration, never replacing it), and two rules with targets.
The execution role may pull exactly the ECR repository that --image names.

``--teardown`` removes all of it again (the cluster only with --create-cluster),
and takes EventBridge out of the bucket's notification configuration while
keeping the rest of it; with ``--dry-run`` it prints what it would remove.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from surroundyou.aws import make_client  # the project's one client factory (the project is installed: ./dev)

INFRA = Path(__file__).resolve().parent

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
LIST_PLACEHOLDERS = ("SUBNETS", "SECURITY_GROUPS")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def repository_arn(image: str) -> str:
    """The ECR repository an image URI names, as an ARN; ValueError if it is not an ECR image."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        raise ValueError(
            f"--image {image}: not an ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG); "
            "the execution role pulls from ECR only"
        )
    return f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


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


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {
        "NoSuchEntity",
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ClientException",
    }


class Deployer:
    """Reads, compares and writes; in dry-run mode it only prints the writes."""

    def __init__(self, values: Mapping[str, Any], dry_run: bool, client: Callable[[str], Any] = make_client) -> None:
        self.values = values
        self.dry_run = dry_run
        self._client = client
        self._clients: dict[str, Any] = {}
        self.actions: list[tuple[str, str]] = []  # (verb, resource)

    def aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client(service)
        return self._clients[service]

    def read(self, service: str, operation: str, **params: Any) -> Any:
        """A read; None when the resource does not exist (or in a dry run)."""
        if self.dry_run:
            return None
        try:
            return getattr(self.aws(service), operation)(**params)
        except Exception as exc:
            if _missing(exc):
                return None
            raise

    def write(self, verb: str, resource: str, service: str, operation: str, **params: Any) -> Any:
        self.actions.append((verb, resource))
        if self.dry_run:
            print(f"would call {service}.{operation}\n{readable(params)}")
            return None
        print(f"{verb} {resource}")
        return getattr(self.aws(service), operation)(**params)

    def unchanged(self, resource: str) -> None:
        self.actions.append(("unchanged", resource))
        print(f"unchanged {resource}")

    # -- resources, in dependency order ---------------------------------------------------------

    def roles(self) -> None:
        for name, trust_file, policy_file in ROLES:
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
        for name, policy_file in QUEUES:
            policy = load(policy_file, self.values)
            attributes = {"Policy": json.dumps(policy), "MessageRetentionPeriod": "1209600"}  # 14 days
            url = self.read("sqs", "get_queue_url", QueueName=name)
            if url is None:
                self.write("created", f"queue {name}", "sqs", "create_queue", QueueName=name, Attributes=attributes)
                continue
            current = self.read("sqs", "get_queue_attributes", QueueUrl=url["QueueUrl"], AttributeNames=["All"])
            have = current.get("Attributes", {})
            if json.loads(have.get("Policy", "{}")) != policy or have.get("MessageRetentionPeriod") != "1209600":
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

    def cluster(self) -> None:
        name = self.values["CLUSTER"]
        found = self.read("ecs", "describe_clusters", clusters=[name])
        active = [c for c in (found or {}).get("clusters", []) if c.get("status") == "ACTIVE"]
        if active:
            self.unchanged(f"cluster {name}")
        else:
            self.write("created", f"cluster {name}", "ecs", "create_cluster", clusterName=name)

    def task_definition(self) -> None:
        wanted = load("task-definition.json", self.values)
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
        for rule_file, targets_file in RULES:
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
            else:
                self.write("updated", f"targets of {rule['Name']}", "events", "put_targets", **targets)

    # -- teardown, in reverse dependency order ---------------------------------------------------

    def absent(self, resource: str) -> None:
        self.actions.append(("absent", resource))
        print(f"absent {resource}")

    def teardown(self, delete_cluster: bool) -> list[tuple[str, str]]:
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
            rest = {k: v for k, v in (current or {}).items() if k in keep}
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
        for name, _ in QUEUES:
            url = self.read("sqs", "get_queue_url", QueueName=name)
            if url is not None or self.dry_run:
                queue = url["QueueUrl"] if url else f"<url of {name}>"
                self.write("deleted", f"queue {name}", "sqs", "delete_queue", QueueUrl=queue)
            else:
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

    def run(self, create_cluster: bool) -> list[tuple[str, str]]:
        self.roles()
        self.log_group()
        self.queues()
        if create_cluster:
            self.cluster()
        self.task_definition()
        self.bucket_notification()
        self.rules()
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
    p.add_argument("--teardown", action="store_true", help="remove everything a deploy made")
    p.add_argument("--region", help="AWS region (default: AWS_REGION or the configured region)")
    p.add_argument("--account", help="AWS account ID (default: the caller's; required with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="print every call that would be made; make none")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.dry_run and not (args.account and args.region):
        print("deploy.py: --dry-run needs --account and --region (it makes no AWS calls)", file=sys.stderr)
        return 2
    missing = [flag for flag in ("image", "subnets", "security_groups") if not getattr(args, flag)]
    if missing and not args.teardown:
        print(f"deploy.py: a deploy needs --{missing[0].replace('_', '-')}", file=sys.stderr)
        return 2
    try:
        image_repository = repository_arn(args.image) if args.image else ""
    except ValueError as exc:
        print(f"deploy.py: {exc}", file=sys.stderr)
        return 2
    region = args.region or make_client("sts").meta.region_name
    account = args.account or make_client("sts").get_caller_identity()["Account"]
    values = {
        "ACCOUNT_ID": account,
        "REGION": region,
        "BUCKET": args.bucket,
        "CLUSTER": args.cluster,
        "IMAGE_URI": args.image or "",
        "IMAGE_REPOSITORY_ARN": image_repository,
        "SUBNETS": [s for s in (args.subnets or "").split(",") if s],
        "SECURITY_GROUPS": [s for s in (args.security_groups or "").split(",") if s],
    }
    deployer = Deployer(values, args.dry_run, lambda service: make_client(service, region))
    actions = deployer.teardown(args.create_cluster) if args.teardown else deployer.run(args.create_cluster)
    changed = sum(verb != "unchanged" for verb, _ in actions)
    print(f"{'would change' if args.dry_run else 'changed'} {changed}, unchanged {len(actions) - changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
