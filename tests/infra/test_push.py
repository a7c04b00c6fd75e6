"""infra/push.py as a user runs it: the dry run, the checks before any call, and the steps in order with a
stand-in container engine against moto's ECR over HTTP (no image is built or pushed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest

from tests.support.infra import CREDENTIALS, INFRA, aws_refusing, deploy, deploy_cli

PUSH = INFRA / "push.py"
ACCOUNT = ("--account", "123456789012", "--region", "eu-west-1")
URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/surroundyou:0.1.0"
# A stand-in for podman (shell built-ins only: PATH holds nothing else): it writes down each command, and what
# login reads on stdin; FAIL names a step that fails.
ENGINE = """#!/bin/sh
echo "$*" >> "$ENGINE_LOG"
if [ "$1" = login ]; then read -r secret; echo "stdin: $secret" >> "$ENGINE_LOG"; fi
echo "podman: $1 done"
if [ "$1" = "$FAIL" ]; then exit 7; fi
"""


def push(*args: str, aws: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return deploy_cli(*args, aws=aws, script=PUSH)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("push.py: "), result.stderr
    return lines[0]


def test_the_dry_run_prints_each_step_and_the_image_uri_last() -> None:
    result = push("--dry-run", *ACCOUNT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line for line in lines if line.startswith("would ")]
    assert [s.split()[3] if s.startswith("would run") else s.split()[2] for s in steps] == [
        "ecr.create_repository",
        "ecr.put_lifecycle_policy",
        "build",
        "ecr.get_authorization_token",
        "login",
        "tag",
        "push",
    ]
    assert "--platform linux/amd64" in steps[2]  # the task definition's X86_64, whatever this machine is
    assert steps[4].endswith("--password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert steps[-1].endswith(f" push {URI}")
    assert lines[-1] == URI
    assert deploy.repository_arn(lines[-1]) == "arn:aws:ecr:eu-west-1:123456789012:repository/surroundyou"


def test_the_tag_and_repository_name_the_image() -> None:
    result = push("--dry-run", *ACCOUNT, "--tag", "2026-12-05.1", "--repository", "team/surroundyou")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/surroundyou:2026-12-05.1"
    )


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("--account", "12345", "--region", "eu-west-1"), "--account must be a 12-digit AWS account ID"),
        (("--account", "123456789012", "--region", "moon"), "--region must be an AWS region name"),
        ((*ACCOUNT, "--tag", "bad tag"), "--tag must be an image tag"),
        ((*ACCOUNT, "--tag", ".hidden"), "--tag must be an image tag"),
        ((*ACCOUNT, "--repository", "SurroundYou"), "--repository must be an ECR repository name"),
        (("--region", "eu-west-1", "--dry-run"), "--dry-run needs --account and --region"),
    ],
)
def test_a_bad_value_is_refused_before_any_call(args: tuple[str, ...], hint: str) -> None:
    with aws_refusing(403, "AccessDenied", "no calls expected") as (endpoint, seen):
        result = push(*args, aws={"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS})
    assert result.returncode == 2 and hint in one_line(result), result.stderr
    assert seen == []


def test_without_a_container_engine_it_says_so_before_any_call(tmp_path: Path) -> None:
    with aws_refusing(403, "AccessDenied", "no calls expected") as (endpoint, seen):
        result = push(*ACCOUNT, aws={"AWS_ENDPOINT_URL": endpoint, **CREDENTIALS, "PATH": str(tmp_path)})
    assert result.returncode == 2 and "no podman or docker on PATH" in one_line(result)
    assert seen == []


@pytest.fixture
def engine(tmp_path: Path) -> tuple[Path, Path]:
    """(folder for PATH holding a stand-in podman, its log)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "podman").write_text(ENGINE)
    (folder / "podman").chmod(0o755)
    return folder, tmp_path / "engine.log"


def test_it_makes_the_repository_logs_in_with_the_token_on_stdin_tags_and_pushes(
    moto_server: str, engine: tuple[Path, Path]
) -> None:
    folder, log = engine
    aws = {"AWS_ENDPOINT_URL": moto_server, **CREDENTIALS, "PATH": str(folder), "ENGINE_LOG": str(log)}
    result = push(*ACCOUNT, "--repository", "push-test", "--tag", "7", aws=aws)
    assert result.returncode == 0, result.stderr
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/push-test:7"
    assert result.stdout == image + "\n"  # stdout is the data only: IMAGE=$(infra/push.py ...)
    assert "podman: push done" in result.stderr and "created repository push-test" in result.stderr
    commands = log.read_text().splitlines()
    assert [c.split()[0] for c in commands] == ["build", "login", "stdin:", "tag", "push"]
    assert commands[0].endswith(f"--tag surroundyou:7 {INFRA.parent}")
    assert commands[2] == "stdin: 123456789012-auth-token"  # moto's password, from the token, not on a command line
    assert not [c for c in commands if "auth-token" in c and not c.startswith("stdin:")]
    assert commands[3:] == [f"tag surroundyou:7 {image}", f"push {image}"]
    ecr = boto3.client(
        "ecr", endpoint_url=moto_server, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    (repo,) = ecr.describe_repositories(repositoryNames=["push-test"])["repositories"]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    ecr.delete_repository(repositoryName="push-test", force=True)


def test_a_failed_engine_step_is_one_line_and_exit_3(moto_server: str, engine: tuple[Path, Path]) -> None:
    folder, log = engine
    aws = {"AWS_ENDPOINT_URL": moto_server, **CREDENTIALS, "PATH": str(folder), "ENGINE_LOG": str(log), "FAIL": "push"}
    result = push(*ACCOUNT, "--repository", "push-fails", aws=aws)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == "push.py: podman push failed (exit 7); its output is above"
    boto3.client(
        "ecr", endpoint_url=moto_server, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).delete_repository(repositoryName="push-fails", force=True)
