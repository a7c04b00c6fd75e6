"""infra/deploy.py: deploy and teardown against moto, the dry run, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.infra import (
    CREDENTIALS,
    DEPLOY,
    DRY_RUN,
    IMAGE,
    NETWORK,
    NOWHERE,
    SCRIPT,
    VALUES,
    aws_refusing,
    deploy,
    deploy_cli,
    deploy_values,
    load,
    moto_bucket_sends_to_eventbridge,
    moto_clients,
    one_line_error,
)
from tests.support.processes import ROOT


@pytest.mark.usefixtures("moto_env")
def test_deploy_creates_everything_and_a_second_run_changes_nothing() -> None:
    bucket = f"deploy-{os.urandom(3).hex()}"
    client = moto_clients(bucket)
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    # an existing notification the deploy must keep
    queue_arn = client("sqs").get_queue_attributes(
        QueueUrl=client("sqs").create_queue(QueueName=f"existing-{bucket}")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    existing = {"QueueConfigurations": [{"Id": "keep-me", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=existing)

    values = deploy_values(bucket)
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
    newer = deploy_values(bucket, tag="0.2.0")
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


def test_dry_run_makes_no_calls() -> None:
    args = [
        *DRY_RUN,
        "--bucket",
        "songs-bucket",
        *NETWORK,
        "--image",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou-worker:1",
        "--create-cluster",
    ]
    result = deploy_cli(*args)
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
    assert '"subnet-0a1b2c3d",' in result.stdout and '"subnet-4e5f6a7b"' in result.stdout  # lists expand
    # Readable: one parameter a line, documents (also those passed as strings) as indented JSON; the
    # longest lines left are the failure rule's one-sentence description and the input template.
    assert max(len(line) for line in result.stdout.splitlines()) <= 200
    assert '\\"Statement\\"' not in result.stdout
    assert '          "Action": "ecr:GetAuthorizationToken",' in result.stdout
    # The execution role may pull exactly the repository --image names.
    assert '"Resource": "arn:aws:ecr:eu-west-1:123456789012:repository/surroundyou-worker"' in result.stdout


def test_dry_run_teardown_lists_every_removal_and_makes_no_calls() -> None:
    result = deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket")
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
    result = deploy_cli(*DRY_RUN, "--bucket", "songs", *NETWORK, "--image", image)
    assert result.returncode == 2 and "not an ECR image URI" in result.stderr, result.stderr


@pytest.mark.parametrize("bucket", ["My_Songs", "songs..bucket", "192.168.0.1", "xn--songs"])
def test_a_bucket_name_s3_refuses_is_refused_before_any_call(bucket: str) -> None:
    """Queue-mode workers refuse an invalid S3_BUCKET at every start: deploy.py refuses it first."""
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou-worker:1"
    result = deploy_cli(*DRY_RUN, "--bucket", bucket, *NETWORK, "--image", image)
    assert result.returncode == 2 and "--bucket must be a valid S3 bucket name" in result.stderr, result.stderr
    assert "would call" not in result.stdout


def test_dry_run_needs_account_and_region() -> None:
    result = deploy_cli("--dry-run", "--bucket", "b", "--subnets", "s", "--security-groups", "g", "--image", "i")
    assert result.returncode == 2 and "--account and --region" in result.stderr


def test_boto3_session_for_deploy_is_the_project_factory() -> None:
    assert deploy.make_client("s3", "eu-west-1").meta.region_name == "eu-west-1"


@pytest.mark.usefixtures("moto_env")
def test_queue_mode_deploys_the_service_and_its_scaling_and_tears_them_down() -> None:
    bucket = f"queue-{os.urandom(3).hex()}"
    client = moto_clients(bucket)
    client("s3").create_bucket(Bucket=bucket)
    ec2 = client("ec2")  # moto's ECS places a service's tasks only in subnets it knows
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"workers-{bucket}", Description="workers", VpcId=vpc)["GroupId"]
    values = {**deploy_values(bucket), "CLUSTER": f"queue-{bucket}", "SUBNETS": [subnet], "SECURITY_GROUPS": [group]}
    first = deploy.Deployer(values, False, client, mode="queue", max_tasks=7).run(create_cluster=True)
    assert all(verb != "unchanged" for verb, _ in first), first

    ecs = client("ecs")
    (cluster,) = ecs.describe_clusters(clusters=[values["CLUSTER"]])["clusters"]
    assert {"FARGATE", "FARGATE_SPOT"} <= set(cluster["capacityProviders"])
    (service,) = ecs.describe_services(cluster=values["CLUSTER"], services=[deploy.SERVICE])["services"]
    assert service["desiredCount"] == 0  # (moto keeps no capacity-provider strategy: the model check covers it)
    task = ecs.describe_task_definition(taskDefinition="surroundyou")["taskDefinition"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    assert env["QUEUE_URL"].endswith("/surroundyou-work")
    assert env["S3_BUCKET"] == bucket  # the one bucket the workers convert
    sqs = client("sqs")
    work = sqs.get_queue_url(QueueName=deploy.WORK_QUEUE)["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(":surroundyou-work-dlq") and int(redrive["maxReceiveCount"]) == 5
    (target,) = client("events").list_targets_by_rule(Rule="surroundyou-input-uploaded")["Targets"]
    assert target["Arn"].endswith(":surroundyou-work")  # the queue, not RunTask
    scaling = client("application-autoscaling")
    (scalable,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (scalable["MinCapacity"], scalable["MaxCapacity"]) == (0, 7)
    policies = {
        p["PolicyName"]: p["PolicyARN"]
        for p in scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    }
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert alarms["surroundyou-backlog"]["AlarmActions"] == [policies["surroundyou-backlog-out"]]
    assert alarms["surroundyou-idle"]["AlarmActions"] == [policies["surroundyou-idle-in"]]
    assert iam_policy(client, "surroundyou-task") == load("iam/task-queue-policy.json", values)

    second = deploy.Deployer(values, False, client, mode="queue", max_tasks=7).run(create_cluster=True)
    assert [verb for verb, _ in second] == ["unchanged"] * len(second), [a for a in second if a[0] != "unchanged"]
    # Back to a task per upload: the rule's queue target is replaced by RunTask's.
    back = deploy.Deployer(values, False, client).run(create_cluster=True)
    assert ("removed", "old targets of surroundyou-input-uploaded") in back
    (target,) = client("events").list_targets_by_rule(Rule="surroundyou-input-uploaded")["Targets"]
    assert "EcsParameters" in target

    gone = deploy.Deployer(values, False, client, mode="queue").teardown(delete_cluster=True)
    assert ("deleted", f"service {deploy.SERVICE}") in gone
    assert not [
        s
        for s in ecs.describe_services(cluster=values["CLUSTER"], services=[deploy.SERVICE])["services"]
        if s["status"] == "ACTIVE"
    ]
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    names = {q.rsplit("/", 1)[-1] for q in sqs.list_queues().get("QueueUrls", [])}
    assert not names & {deploy.WORK_QUEUE, deploy.WORK_DLQ}


def iam_policy(client: Any, role: str) -> Any:
    return client("iam").get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]


def test_queue_mode_dry_run_prints_the_plan() -> None:
    result = deploy_cli(
        "--bucket",
        "songs",
        "--image",
        VALUES["IMAGE_URI"],
        *NETWORK,
        "--mode",
        "queue",
        *DRY_RUN,
    )
    assert result.returncode == 0, result.stderr
    for call in (
        "ecs.create_service",
        "application-autoscaling.register_scalable_target",
        "cloudwatch.put_metric_alarm",
    ):
        assert f"would call {call}" in result.stdout
    assert "ecs.run_task" not in result.stdout and "surroundyou-events" not in result.stdout
    assert "would change 39, unchanged 0" in result.stdout
    teardown = deploy_cli("--bucket", "songs", "--mode", "queue", "--teardown", *DRY_RUN)
    assert teardown.returncode == 0 and "would call ecs.delete_service" in teardown.stdout


@pytest.mark.parametrize(("account", "first_call"), [((), "sts.get_caller_identity"), (DEPLOY[-4:-2], "iam.get_role")])
def test_without_credentials_a_deploy_says_so_in_one_line(account: tuple[str, ...], first_call: str) -> None:
    args = ("--bucket", "songs-bucket", *NETWORK, *IMAGE, "--region", "eu-west-1", *account)
    result = deploy_cli(*args, aws={"AWS_ENDPOINT_URL": NOWHERE})  # (signing fails before any request)
    line = one_line_error(result)
    assert result.returncode == 4
    assert first_call in line and "no usable AWS credentials" in line and "AWS_PROFILE" in line


DENIED_MESSAGE = (
    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:GetRole on resource: "
    "arn:aws:iam::123456789012:role/surroundyou-task because no identity-based policy allows the iam:GetRole action"
)


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (403, "AccessDenied", DENIED_MESSAGE, ["access denied", "permission iam:GetRole on arn:aws:iam::"]),
        (403, "AccessDenied", "Access Denied", ["access denied", "permission iam:GetRole"]),  # no action named
        (403, "ExpiredToken", "The security token included in the request is expired", ["expired", "renew"]),
        (400, "Throttling", "Rate exceeded", ["throttled", "after 2 attempts", "run it again"]),
        (403, "InvalidClientTokenId", "The security token is invalid", ["InvalidClientTokenId", "is invalid"]),
    ],
)
def test_a_refused_call_is_one_line_naming_the_call_and_the_cause(
    status: int, code: str, message: str, expected: list[str]
) -> None:
    with aws_refusing(status, code, message) as (endpoint, seen):
        aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "2", **CREDENTIALS}
        result = deploy_cli(*DEPLOY, aws=aws)
    line = one_line_error(result)
    assert result.returncode == 4
    assert line.startswith("deploy.py: iam.get_role on surroundyou-task: ") and f"({code})" in line, line
    assert all(part in line for part in expected), line
    assert len(seen) == (2 if code == "Throttling" else 1)  # botocore's retries, then the line


def test_a_closed_pipe_ends_quietly() -> None:
    """`deploy.py --dry-run | head -1`: the reader goes away (here before the first line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "--teardown", *DRY_RUN, "--bucket", "songs"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == ""  # 128 + SIGPIPE, as a shell shows it


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--bucket", "s3://my-songs"),
        ("--subnets", "aaa bbb"),
        ("--subnets", "subnet-0a1b2c3d,subnet-nothex1"),
        ("--security-groups", "ccc"),
        ("--account", "12345"),
        ("--region", "moon"),
        ("--region", "eu_west_1"),
        ("--cluster", "my cluster"),
    ],
)
def test_a_bad_value_is_refused_before_any_call(flag: str, value: str) -> None:
    """A real deploy (no --dry-run): a call would reach the refusing endpoint; none may be made."""
    args = [*DEPLOY, "--cluster", "surroundyou"]
    args[args.index(flag) + 1] = value
    with aws_refusing(403, "AccessDenied", "no calls expected") as (endpoint, seen):
        result = deploy_cli(*args, aws={"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS})
    line = one_line_error(result)
    assert result.returncode == 2 and flag in line and repr(value) in line, line
    assert seen == []


def test_help_is_plain_text() -> None:
    result = deploy_cli("--help")
    assert result.returncode == 0 and "--dry-run" in result.stdout
    assert "``" not in result.stdout


def test_the_teardown_dry_run_shows_the_notifications_it_keeps() -> None:
    result = deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket")
    assert result.returncode == 0, result.stderr
    call = result.stdout.split("would call s3.put_bucket_notification_configuration\n", 1)[1].split("would call")[0]
    assert "NotificationConfiguration: {}" not in call
    kept = call.split("NotificationConfiguration: ", 1)[1]
    assert all(kind in kept for kind in ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations"))
    assert "without EventBridgeConfiguration" in kept and "kept" in kept


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python without boto3 or the project (a venv without pip)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def test_a_python_without_the_packages_hands_over_to_the_virtualenv(bare_python: Path) -> None:
    result = deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket", python=str(bare_python))
    assert result.returncode == 0, result.stderr
    assert "would call iam.delete_role" in result.stdout


def test_without_a_virtualenv_it_says_to_run_dev_run(tmp_path: Path, bare_python: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "surroundyou").mkdir()
    shutil.copy(SCRIPT, tmp_path / "infra" / "deploy.py")
    shutil.copy(ROOT / "surroundyou" / "bootstrap.py", tmp_path / "surroundyou" / "bootstrap.py")
    result = deploy_cli("--help", python=str(bare_python), script=tmp_path / "infra" / "deploy.py")
    assert result.returncode == 2 and "run ./dev run once" in one_line_error(result)


def test_a_bug_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No flag shows a traceback (deploy.py has no --verbose); the line says it is a bug."""

    def broken(_argv: Any = None) -> int:
        raise KeyError("SUBNETS")

    monkeypatch.setattr(deploy, "main", broken)
    assert deploy.cli([]) == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "internal error: KeyError" in line and "a bug" in line
