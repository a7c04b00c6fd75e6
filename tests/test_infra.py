"""infra/: every definition checked offline against AWS's own API models, lint, the event flow, deploy.py."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from audio import pink_noise, write
from aws_model import fargate_problems, input_shape, problems, shape_problems
from conftest import ROOT, run_cli
from moto.events.models import EventPattern
from parliament import analyze_policy_string

INFRA = ROOT / "infra"
EVENTS = Path(__file__).parent / "events"
VALUES: dict[str, Any] = {
    "ACCOUNT_ID": "123456789012",
    "REGION": "eu-west-1",
    "BUCKET": "songs-bucket",
    "CLUSTER": "surroundyou",
    "IMAGE_URI": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou:0.1.0",
    "IMAGE_REPOSITORY_ARN": "arn:aws:ecr:eu-west-1:123456789012:repository/surroundyou",
    "SUBNETS": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    "SECURITY_GROUPS": ["sg-0123456789abcdef0"],
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

# (label, service, operation, params)
CALLS: list[tuple[str, str, str, Any]] = [
    ("task-definition.json", "ecs", "RegisterTaskDefinition", lambda: load("task-definition.json")),
    ("event-rule.json", "events", "PutRule", lambda: put_rule_params("event-rule.json")),
    ("failure-rule.json", "events", "PutRule", lambda: put_rule_params("failure-rule.json")),
    ("event-targets.json", "events", "PutTargets", lambda: load("event-targets.json")),
    ("failure-targets.json", "events", "PutTargets", lambda: load("failure-targets.json")),
    ("bucket-notification.json", "s3", "PutBucketNotificationConfiguration", lambda: load("bucket-notification.json")),
]
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
for _queue, _policy in deploy.QUEUES:
    CALLS.append(
        (
            _policy,
            "sqs",
            "SetQueueAttributes",
            lambda q=_queue, p=_policy: {
                "QueueUrl": f"https://sqs.eu-west-1.amazonaws.com/123456789012/{q}",
                "Attributes": {"Policy": json.dumps(load(p))},
            },
        )
    )


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


PERMISSION_POLICIES = [p for _, _, p in ROLE_FILES] + [p for _, p in deploy.QUEUES]


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


def _deploy_values(bucket: str) -> dict[str, Any]:
    return {**VALUES, "BUCKET": bucket, "REGION": "us-east-1"}


def moto_bucket_sends_to_eventbridge(bucket: str) -> bool:
    """Read the moto server's own state (it runs in this process)."""
    from moto.backends import get_backend

    config = get_backend("s3")["123456789012"]["global"].buckets[bucket].notification_configuration
    return config is not None and config.event_bridge is not None


def test_deploy_creates_everything_and_a_second_run_changes_nothing(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)

    def report_eventbridge(parsed: dict[str, Any], **_: Any) -> None:
        # moto 5.2.5 stores EventBridgeConfiguration but leaves it out of GetBucketNotificationConfiguration;
        # S3 returns it as {}. Fill it in from the server's own state, as S3 would.
        if moto_bucket_sends_to_eventbridge(bucket):
            parsed["EventBridgeConfiguration"] = {}

    def client(service: str) -> Any:
        made = deploy.make_client(service, "us-east-1")
        if service == "s3":
            made.meta.events.register("after-call.s3.GetBucketNotificationConfiguration", report_eventbridge)
        return made

    bucket = f"deploy-{os.urandom(3).hex()}"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    # an existing notification the deploy must keep
    queue_arn = client("sqs").get_queue_attributes(
        QueueUrl=client("sqs").create_queue(QueueName=f"existing-{bucket}")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    existing = {"QueueConfigurations": [{"Id": "keep-me", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=existing)

    values = _deploy_values(bucket)
    first = deploy.Deployer(values, dry_run=False, client=client).run(create_cluster=True)
    assert ("unchanged", f"cluster {VALUES['CLUSTER']}") not in first
    assert all(verb != "unchanged" for verb, _ in first), first

    iam = client("iam")
    for role, _, policy_file in deploy.ROLES:
        assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
        assert iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"] == load(policy_file, values)
    task = client("ecs").describe_task_definition(taskDefinition="surroundyou")["taskDefinition"]
    assert task["cpu"] == "512" and task["containerDefinitions"][0]["user"] == "10001"
    assert moto_bucket_sends_to_eventbridge(bucket)
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert notification["QueueConfigurations"][0]["Id"] == "keep-me"  # not clobbered
    events = client("events")
    for rule_file, _ in deploy.RULES:
        name = load(rule_file, values)["Name"]
        assert json.loads(events.describe_rule(Name=name)["EventPattern"]) == load(rule_file, values)["EventPattern"]
        assert len(events.list_targets_by_rule(Rule=name)["Targets"]) == 1
    assert client("logs").describe_log_groups(logGroupNamePrefix="/ecs/surroundyou")["logGroups"]

    second = deploy.Deployer(values, dry_run=False, client=client).run(create_cluster=True)
    assert [verb for verb, _ in second] == ["unchanged"] * len(second), second
    assert len(second) >= len(first) - 1
    # A real change is seen, and only that change is made.
    newer = {**values, "IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/surroundyou:0.2.0"}
    third = deploy.Deployer(newer, dry_run=False, client=client).run(create_cluster=True)
    assert [a for a in third if a[0] != "unchanged"] == [("registered", "task definition surroundyou")]
    task = client("ecs").describe_task_definition(taskDefinition="surroundyou")["taskDefinition"]
    assert task["containerDefinitions"][0]["image"].endswith(":0.2.0") and task["revision"] == 2

    # Teardown removes all of it, keeps the bucket's other notifications, and a second one finds nothing.
    gone = deploy.Deployer(values, dry_run=False, client=client).teardown(delete_cluster=True)
    assert all(verb != "absent" for verb, _ in gone), gone
    for role, _, _ in deploy.ROLES:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_role(RoleName=role)
    assert not moto_bucket_sends_to_eventbridge(bucket)
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"][0]["Id"] == "keep-me"
    for rule_file, _ in deploy.RULES:
        with pytest.raises(events.exceptions.ResourceNotFoundException):
            events.describe_rule(Name=load(rule_file, values)["Name"])
    ecs = client("ecs")
    assert ecs.list_task_definitions(familyPrefix="surroundyou", status="ACTIVE")["taskDefinitionArns"] == []
    assert not [c for c in ecs.describe_clusters(clusters=[VALUES["CLUSTER"]])["clusters"] if c["status"] == "ACTIVE"]
    queues = client("sqs").list_queues().get("QueueUrls", [])
    assert not [q for q in queues if q.rsplit("/", 1)[-1] in {name for name, _ in deploy.QUEUES}]
    assert not client("logs").describe_log_groups(logGroupNamePrefix="/ecs/surroundyou")["logGroups"]
    again = deploy.Deployer(values, dry_run=False, client=client).teardown(delete_cluster=True)
    assert [verb for verb, _ in again] == ["absent"] * len(again), again


def _deploy_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """infra/deploy.py as a user runs it (from any directory: it imports the installed package, no
    sys.path edits), pointed at a port where nothing listens: any AWS call would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    return subprocess.run(
        [sys.executable, str(INFRA / "deploy.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd="/",
    )


DRY_RUN = ("--dry-run", "--account", "123456789012", "--region", "eu-west-1")


def test_dry_run_makes_no_calls() -> None:
    args = [
        *DRY_RUN,
        "--bucket",
        "songs-bucket",
        "--subnets",
        "subnet-1,subnet-2",
        "--security-groups",
        "sg-1",
        "--image",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou-worker:1",
        "--create-cluster",
    ]
    result = _deploy_cli(*args)
    assert result.returncode == 0, result.stderr
    calls = [line for line in result.stdout.splitlines() if line.startswith("would call ")]
    operations = {line.split()[2] for line in calls}
    assert {
        "iam.create_role",
        "iam.put_role_policy",
        "logs.create_log_group",
        "sqs.create_queue",
        "ecs.create_cluster",
        "ecs.register_task_definition",
        "s3.put_bucket_notification_configuration",
        "events.put_rule",
        "events.put_targets",
    } <= operations
    assert '"subnet-1",' in result.stdout and '"subnet-2"' in result.stdout  # list placeholders expand
    # Readable: one parameter a line, documents (also those passed as strings) as indented JSON; the
    # longest lines left are the failure rule's one-sentence description and the input template.
    assert max(len(line) for line in result.stdout.splitlines()) <= 200
    assert '\\"Statement\\"' not in result.stdout
    assert '          "Action": "ecr:GetAuthorizationToken",' in result.stdout
    # The execution role may pull exactly the repository --image names.
    assert '"Resource": "arn:aws:ecr:eu-west-1:123456789012:repository/surroundyou-worker"' in result.stdout


def test_dry_run_teardown_lists_every_removal_and_makes_no_calls() -> None:
    result = _deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket")
    assert result.returncode == 0, result.stderr
    operations = {line.split()[2] for line in result.stdout.splitlines() if line.startswith("would call ")}
    assert {
        "events.remove_targets",
        "events.delete_rule",
        "s3.put_bucket_notification_configuration",
        "ecs.deregister_task_definition",
        "sqs.delete_queue",
        "logs.delete_log_group",
        "iam.delete_role_policy",
        "iam.delete_role",
    } <= operations
    assert "ecs.delete_cluster" not in operations  # only with --create-cluster


@pytest.mark.parametrize(
    "image", ["docker.io/library/surroundyou:1", "surroundyou:latest", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"]
)
def test_an_image_outside_ecr_is_refused(image: str) -> None:
    result = _deploy_cli(*DRY_RUN, "--bucket", "b", "--subnets", "s", "--security-groups", "g", "--image", image)
    assert result.returncode == 2 and "not an ECR image URI" in result.stderr, result.stderr


def test_dry_run_needs_account_and_region() -> None:
    result = _deploy_cli("--dry-run", "--bucket", "b", "--subnets", "s", "--security-groups", "g", "--image", "i")
    assert result.returncode == 2 and "--account and --region" in result.stderr


def test_boto3_session_for_deploy_is_the_project_factory() -> None:
    assert deploy.make_client("s3", "eu-west-1").meta.region_name == "eu-west-1"
