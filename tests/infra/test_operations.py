"""infra/deploy.py's operations resources: the image repository, the bucket's safeguards, the alarms' topic,
the alarms, the dashboard and the saved queries, against moto over HTTP, in the dry run and from the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from surroundyou.aws import metrics
from tests.support.infra import (
    CREDENTIALS,
    DRY_RUN,
    IMAGE,
    NETWORK,
    VALUES,
    aws_refusing,
    deploy,
    deploy_cli,
    deploy_values,
    load,
    moto_clients,
    one_line_error,
)

moto = pytest.mark.usefixtures("moto_env")  # deploy.py's clients on the moto server

EMAIL = "ops@example.com"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:surroundyou-alarms"
NO_DATA_IS_FINE = "notBreaching"  # every alarm here: no songs (or no tasks) for an hour is not a failure


def alarms_by_name(client: Any) -> dict[str, dict[str, Any]]:
    found = client("cloudwatch").describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: a for a in found if a["AlarmName"] not in ("surroundyou-backlog", "surroundyou-idle")}


def metric_of(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of each metric an alarm reads (one, or those of its metric math)."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        return [(alarm["Namespace"], alarm["MetricName"], dims)]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    return [(m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]}) for m in stats]


def dashboard_metrics(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric line of the dashboard's widgets (expressions left out)."""
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            names = [part for part in line if isinstance(part, str)]
            if names:
                namespace, metric, *pairs = names
                yield namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))


def new_deployment(mode: str = "task") -> tuple[Any, dict[str, Any], str]:
    """(client factory, values, bucket): a fresh bucket and, in queue mode, a subnet and group moto knows."""
    bucket = f"ops-{mode}-{os.urandom(3).hex()}"
    client = moto_clients(bucket)
    client("s3").create_bucket(Bucket=bucket)
    values = {**deploy_values(bucket), "CLUSTER": f"ops-{bucket}"}
    if mode == "queue":
        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName=f"w-{bucket}", Description="workers", VpcId=vpc)["GroupId"]
        values.update(SUBNETS=[subnet], SECURITY_GROUPS=[group])
    return client, values, bucket


def check_the_worker_metrics(alarms: dict[str, dict[str, Any]], body: dict[str, Any], mode: str) -> None:
    """What the alarms and the dashboard read from the worker is what it emits (surroundyou/aws/metrics.py):
    its namespace and metric names, the Mode dimension of this deploy, FailureClass's values."""
    read = [m for a in alarms.values() for m in metric_of(a)] + list(dashboard_metrics(body))
    ours = [(metric, dims) for namespace, metric, dims in read if namespace == metrics.NAMESPACE]
    assert ours and all(metric in metrics.UNITS for metric, _ in ours), ours
    assert {dims[metrics.MODE] for _, dims in ours} == {mode}
    assert all(set(dims) <= {metrics.MODE, metrics.FAILURE_CLASS} for _, dims in ours)
    classes = {dims[metrics.FAILURE_CLASS] for _, dims in ours if metrics.FAILURE_CLASS in dims}
    assert classes == set(metrics.FAILURE_CLASSES.values())  # every failure class has its line


@moto
def test_task_mode_makes_each_resource_once_and_teardown_removes_them() -> None:
    client, values, bucket = new_deployment()
    first = deploy.Deployer(values, False, client).run(create_cluster=True, alarm_email=EMAIL)
    repository = bucket  # _deploy_values names the test's own repository after its bucket

    ecr = client("ecr")
    (repo,) = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"])
    (rule,) = lifecycle["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan" and rule["selection"]["countNumber"] == 10
    assert rule["selection"]["tagStatus"] == "any" and rule["action"]["type"] == "expire"
    # The execution role pulls exactly the repository made.
    execution = client("iam").get_role_policy(RoleName="surroundyou-execution", PolicyName="surroundyou-execution")
    pulls = [s for s in execution["PolicyDocument"]["Statement"] if s["Sid"] == "PullTheImage"]
    assert [s["Resource"] for s in pulls] == [repo["repositoryArn"]]

    (cluster,) = client("ecs").describe_clusters(clusters=[values["CLUSTER"]], include=["SETTINGS"])["clusters"]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]

    sns = client("sns")
    assert sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["TopicArn"] == TOPIC_ARN
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", EMAIL)

    alarms = alarms_by_name(client)
    assert set(alarms) == {
        "surroundyou-success-rate",
        "surroundyou-processing-time",
        "surroundyou-failures",
        "surroundyou-memory",
        "surroundyou-dlq-not-empty",
        "surroundyou-failed-not-empty",
    }
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [TOPIC_ARN] and alarm["TreatMissingData"] == NO_DATA_IS_FINE, alarm
    rate = alarms["surroundyou-success-rate"]
    assert (rate["Threshold"], rate["ComparisonOperator"]) == (95, "LessThanThreshold")
    (expression,) = [m for m in rate["Metrics"] if m.get("ReturnData")]
    assert "converted" in expression["Expression"] and "failed" in expression["Expression"]
    assert {m["MetricStat"]["Period"] for m in rate["Metrics"] if "MetricStat" in m} == {3600}  # over an hour
    slow = alarms["surroundyou-processing-time"]
    assert (slow["MetricName"], slow["ExtendedStatistic"], slow["Period"]) == ("ProcessingSeconds", "p90", 3600)
    assert (slow["Threshold"], slow["ComparisonOperator"]) == (180, "GreaterThanThreshold")
    failures = alarms["surroundyou-failures"]
    assert (failures["MetricName"], failures["Statistic"], failures["Period"]) == ("Failed", "Sum", 3600)
    assert (failures["Threshold"], failures["ComparisonOperator"]) == (5, "GreaterThanThreshold")
    memory = alarms["surroundyou-memory"]
    assert (memory["Threshold"], memory["ComparisonOperator"]) == (90, "GreaterThanThreshold")
    assert {(ns, m) for ns, m, _ in metric_of(memory)} == {
        ("ECS/ContainerInsights", "MemoryUtilized"),
        ("ECS/ContainerInsights", "MemoryReserved"),
    }
    for queue in ("surroundyou-dlq", "surroundyou-failed"):
        waiting = alarms[f"{queue}-not-empty"]
        assert metric_of(waiting) == [("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue})]
        assert (waiting["Threshold"], waiting["ComparisonOperator"]) == (0, "GreaterThanThreshold")

    body = json.loads(client("cloudwatch").get_dashboard(DashboardName="SurroundYou")["DashboardBody"])
    check_the_worker_metrics(alarms, body, "cloud")
    read = {(ns, m) for ns, m, _ in dashboard_metrics(body)}
    assert {("SurroundYou", "ProcessingSeconds"), ("SurroundYou", "RealtimeFactor")} <= read
    assert {("ECS/ContainerInsights", "TaskCount"), ("ECS/ContainerInsights", "MemoryUtilized")} <= read
    stats = {
        line[-1]["stat"] for w in body["widgets"] for line in w["properties"]["metrics"] if "ProcessingSeconds" in line
    }
    assert stats == {"p50", "p90"}

    queries = {q["name"]: q for q in client("logs").describe_query_definitions()["queryDefinitions"]}
    assert set(queries) == {
        "SurroundYou/failures",
        "SurroundYou/slowest-songs",
        "SurroundYou/conversions-per-hour",
        "SurroundYou/one-key",
    }
    assert all(q["logGroupNames"] == ["/ecs/surroundyou"] for q in queries.values())

    second = deploy.Deployer(values, False, client).run(create_cluster=True, alarm_email=EMAIL)
    assert [a for a in second if a[0] != "unchanged"] == [], second
    assert len(second) >= len([a for a in first if not a[1].startswith(f"{EMAIL} to")])

    gone = deploy.Deployer(values, False, client).teardown(delete_cluster=True)
    assert alarms_by_name(client) == {}
    cloudwatch = client("cloudwatch")
    with pytest.raises(cloudwatch.exceptions.ResourceNotFound):
        cloudwatch.get_dashboard(DashboardName="SurroundYou")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=TOPIC_ARN)
    assert client("logs").describe_query_definitions()["queryDefinitions"] == []
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"]  # the images are the user's
    assert not [a for a in gone if "repository" in a[1]]
    again = deploy.Deployer(values, False, client).teardown(delete_cluster=True, delete_repository=True)
    assert ("deleted", f"repository {repository} and its images") in again
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=[repository])


@moto
def test_queue_mode_watches_its_queue_and_service_and_back_in_task_mode_their_alarms_go() -> None:
    client, values, _ = new_deployment("queue")
    deploy.Deployer(values, False, client, mode="queue").run(create_cluster=True)
    alarms = alarms_by_name(client)
    oldest = alarms["surroundyou-oldest-message"]
    assert metric_of(oldest) == [("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "surroundyou-work"})]
    # Over the time a failing message may take to reach the DLQ (5 receives of 300 s each): it fires only when
    # uploads wait, not while one is being retried.
    assert oldest["Threshold"] > deploy.MAX_RECEIVES * deploy.WORK_VISIBILITY_S
    assert "surroundyou-work-dlq-not-empty" in alarms
    memory = alarms["surroundyou-memory"]
    assert metric_of(memory) == [
        ("AWS/ECS", "MemoryUtilization", {"ClusterName": values["CLUSTER"], "ServiceName": deploy.SERVICE})
    ]
    assert all(a["AlarmActions"] == [TOPIC_ARN] for a in alarms.values())
    body = json.loads(client("cloudwatch").get_dashboard(DashboardName="SurroundYou")["DashboardBody"])
    check_the_worker_metrics(alarms, body, "queue")
    read = {(ns, m) for ns, m, _ in dashboard_metrics(body)}
    assert {("AWS/SQS", "ApproximateAgeOfOldestMessage"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible")} <= read
    assert {("ECS/ContainerInsights", "RunningTaskCount"), ("AWS/ECS", "CPUUtilization")} <= read

    # The scaling alarms are still the scaling policies' (not the topic's).
    scaling = client("cloudwatch").describe_alarms(AlarmNames=["surroundyou-backlog"])["MetricAlarms"]
    assert scaling[0]["AlarmActions"] != [TOPIC_ARN]

    back = deploy.Deployer(values, False, client).run(create_cluster=True)
    assert ("deleted", "alarms surroundyou-oldest-message, surroundyou-work-dlq-not-empty") in back
    assert "surroundyou-oldest-message" not in alarms_by_name(client)
    body = json.loads(client("cloudwatch").get_dashboard(DashboardName="SurroundYou")["DashboardBody"])
    check_the_worker_metrics(alarms_by_name(client), body, "cloud")
    deploy.Deployer(values, False, client, mode="queue").teardown(delete_cluster=True, delete_repository=True)
    assert alarms_by_name(client) == {}


@moto
def test_the_bucket_is_only_warned_about_unless_hardening_is_asked_for() -> None:
    client, values, bucket = new_deployment()
    s3 = client("s3")
    warned = deploy.Deployer(values, False, client)
    warned.bucket_safeguards(harden=False)
    assert len(warned.warnings) == 3 and all("--harden-bucket" in w for w in warned.warnings)
    assert warned.actions == []
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)  # left as it was
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=bucket)

    hardened = deploy.Deployer(values, False, client)
    hardened.bucket_safeguards(harden=True)
    assert [verb for verb, _ in hardened.actions] == ["updated"] * 3 and hardened.warnings == []
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))

    again = deploy.Deployer(values, False, client)
    again.bucket_safeguards(harden=False)
    assert [verb for verb, _ in again.actions] == ["unchanged"] * 3 and again.warnings == []


@moto
def test_a_saved_query_changed_by_hand_is_updated_in_place_and_the_users_lifecycle_policy_is_kept() -> None:
    client, values, bucket = new_deployment()
    logs = client("logs")
    first = logs.put_query_definition(name="SurroundYou/failures", queryString="fields @message", logGroupNames=[])
    ecr = client("ecr")
    ecr.create_repository(repositoryName=bucket)
    theirs = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.put_lifecycle_policy(repositoryName=bucket, lifecyclePolicyText=json.dumps(theirs))
    deployer = deploy.Deployer(values, False, client)
    deployer.queries()
    deployer.repository()
    failures = [q for q in logs.describe_query_definitions()["queryDefinitions"] if q["name"] == "SurroundYou/failures"]
    assert [q["queryDefinitionId"] for q in failures] == [first["queryDefinitionId"]]  # the same one, not a copy
    assert 'filter status in ["failed", "stopped"]' in failures[0]["queryString"]
    assert json.loads(ecr.get_lifecycle_policy(repositoryName=bucket)["lifecyclePolicyText"]) == theirs
    assert any("its own lifecycle policy" in w for w in deployer.warnings)
    assert ("updated", f"repository {bucket} scan on push") in deployer.actions
    deployer.teardown(delete_cluster=False, delete_repository=True)


@moto
def test_a_cluster_of_the_users_own_is_left_alone_with_a_warning_and_one_of_deploys_gets_container_insights() -> None:
    client, values, _ = new_deployment()
    client("ecs").create_cluster(clusterName=values["CLUSTER"])  # moto: Container Insights off
    deployer = deploy.Deployer(values, False, client)
    deployer.cluster(create=False)
    assert deployer.actions == []
    (warning,) = deployer.warnings
    assert "Container Insights is off" in warning and "memory alarm" in warning
    (cluster,) = client("ecs").describe_clusters(clusters=[values["CLUSTER"]], include=["SETTINGS"])["clusters"]
    assert {"name": "containerInsights", "value": "disabled"} in cluster["settings"]
    # With --create-cluster the cluster is deploy.py's to manage: Container Insights is turned on, once.
    managed = deploy.Deployer(values, False, client)
    managed.cluster(create=True)
    assert managed.actions == [("updated", f"cluster {values['CLUSTER']} Container Insights")]
    (cluster,) = client("ecs").describe_clusters(clusters=[values["CLUSTER"]], include=["SETTINGS"])["clusters"]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    again = deploy.Deployer(values, False, client)
    again.cluster(create=True)
    assert again.actions == [("unchanged", f"cluster {values['CLUSTER']}")]
    client("ecs").delete_cluster(cluster=values["CLUSTER"])


# -- the CLI: the dry run (no call at all: the endpoint is one where nothing listens) and the checks ----------

DEPLOY_ARGS = ("--bucket", "songs-bucket", *NETWORK, *IMAGE, *DRY_RUN)


def planned(stdout: str) -> set[str]:
    return {line.split()[2] for line in stdout.splitlines() if line.startswith("would call ")}


def test_the_dry_run_lists_the_operations_resources() -> None:
    result = deploy_cli(*DEPLOY_ARGS, "--alarm-email", EMAIL, "--harden-bucket")
    assert result.returncode == 0, result.stderr
    assert {
        "ecr.create_repository",
        "ecr.put_lifecycle_policy",
        "s3.put_bucket_versioning",
        "s3.put_bucket_encryption",
        "s3.put_public_access_block",
        "sns.create_topic",
        "sns.subscribe",
        "cloudwatch.put_metric_alarm",
        "cloudwatch.put_dashboard",
        "logs.put_query_definition",
    } <= planned(result.stdout)
    assert result.stdout.count("would call cloudwatch.put_metric_alarm") == 6  # task mode: no queue-age alarm
    assert "scanOnPush" in result.stdout and '"countNumber": 10' in result.stdout
    assert "    name: SurroundYou/slowest-songs" in result.stdout
    unhardened = deploy_cli(*DEPLOY_ARGS)
    assert unhardened.returncode == 0, unhardened.stderr
    assert not {"s3.put_bucket_versioning", "sns.subscribe"} & planned(unhardened.stdout)
    assert "would check bucket songs-bucket" in unhardened.stdout


def test_the_dry_run_teardown_lists_the_operations_resources_and_the_repository_only_when_asked() -> None:
    result = deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket")
    assert result.returncode == 0, result.stderr
    assert {
        "logs.delete_query_definition",
        "cloudwatch.delete_dashboards",
        "cloudwatch.delete_alarms",
        "sns.delete_topic",
    } <= planned(result.stdout)
    assert "ecr.delete_repository" not in planned(result.stdout)
    asked = deploy_cli("--teardown", *DRY_RUN, "--bucket", "songs-bucket", *IMAGE, "--delete-repository")
    assert asked.returncode == 0, asked.stderr
    assert "would call ecr.delete_repository\n    force: true\n    repositoryName: surroundyou" in asked.stdout


def test_a_repository_in_another_region_is_not_managed() -> None:
    other = ("--image", "123456789012.dkr.ecr.us-west-2.amazonaws.com/surroundyou:1")
    result = deploy_cli("--bucket", "songs-bucket", *NETWORK, *other, *DRY_RUN)
    assert result.returncode == 0, result.stderr
    assert "ecr." not in " ".join(planned(result.stdout))
    assert "warning: repository surroundyou is in account 123456789012, region us-west-2" in result.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("--alarm-email", "ops"), "--alarm-email must be one e-mail address"),
        (("--alarm-email", "ops@example"), "--alarm-email must be one e-mail address"),
        (("--alarm-email", "a@example.com,b@example.com"), "--alarm-email must be one e-mail address"),
        (("--alarm-email", "ops @example.com"), "--alarm-email must be one e-mail address"),
        (("--delete-repository",), "--delete-repository goes with --teardown and --image"),
    ],
)
def test_a_bad_operations_value_is_refused_before_any_call(args: tuple[str, ...], hint: str) -> None:
    real = ("--bucket", "songs-bucket", *NETWORK, *IMAGE, "--account", "123456789012", "--region", "eu-west-1")
    with aws_refusing(403, "AccessDenied", "no calls expected") as (endpoint, seen):
        result = deploy_cli(*real, *args, aws={"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS})
    line = one_line_error(result)
    assert result.returncode == 2 and hint in line, line
    if args[0] == "--alarm-email":
        assert repr(args[1]) in line
    assert seen == []


def test_every_alarm_notifies_the_topic_and_no_data_is_not_a_failure() -> None:
    """The definitions as filled in, in both modes (no AWS): each alarm's action is the topic."""
    for mode in deploy.MODES:
        for alarm in deploy.alarms(VALUES, mode):
            assert alarm["AlarmActions"] == [deploy.topic_arn(VALUES)], alarm["AlarmName"]
            assert alarm["TreatMissingData"] == NO_DATA_IS_FINE, alarm["AlarmName"]
    assert load("monitoring/oldest-message-alarm.json", deploy.monitoring_values(VALUES, "queue"))["Threshold"] == 1800
