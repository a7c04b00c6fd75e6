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
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
sys.path.insert(0, str(INFRA.parent))

from surroundyou.storage import make_client  # noqa: E402 - the project's one client factory

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
            print(f"would call {service}.{operation} {json.dumps(params, sort_keys=True)}")
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
    p.add_argument("--image", required=True, help="the worker image URI in ECR")
    p.add_argument("--subnets", required=True, help="comma-separated subnet IDs for the tasks")
    p.add_argument("--security-groups", required=True, help="comma-separated security group IDs (egress to S3/ECR)")
    p.add_argument("--cluster", default="surroundyou", help="ECS cluster name (default surroundyou)")
    p.add_argument("--create-cluster", action="store_true", help="create the cluster if it does not exist")
    p.add_argument("--region", help="AWS region (default: AWS_REGION or the configured region)")
    p.add_argument("--account", help="AWS account ID (default: the caller's; required with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="print every call that would be made; make none")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.dry_run and not (args.account and args.region):
        print("deploy.py: --dry-run needs --account and --region (it makes no AWS calls)", file=sys.stderr)
        return 2
    region = args.region or make_client("sts").meta.region_name
    account = args.account or make_client("sts").get_caller_identity()["Account"]
    values = {
        "ACCOUNT_ID": account,
        "REGION": region,
        "BUCKET": args.bucket,
        "CLUSTER": args.cluster,
        "IMAGE_URI": args.image,
        "SUBNETS": [s for s in args.subnets.split(",") if s],
        "SECURITY_GROUPS": [s for s in args.security_groups.split(",") if s],
    }
    deployer = Deployer(values, args.dry_run, lambda service: make_client(service, region))
    actions = deployer.run(args.create_cluster)
    changed = sum(verb != "unchanged" for verb, _ in actions)
    print(f"{'would change' if args.dry_run else 'changed'} {changed}, unchanged {len(actions) - changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
