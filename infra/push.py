#!/usr/bin/env python3
"""Build the worker image, push it to its ECR repository, and print the image URI deploy.py takes.

    python infra/push.py --account 123456789012 --region eu-west-1 [--tag 0.1.0] [--repository surroundyou]

Steps: the repository is made when missing, as deploy.py makes it (scan on push, a lifecycle policy keeping
the newest images); the image is built from the checkout's Dockerfile with podman or docker (whichever is
found first, or --engine); the engine logs in to the registry with a token from ECR's GetAuthorizationToken
(passed on stdin, never on the command line); the image is tagged ACCOUNT.dkr.ecr.REGION.amazonaws.com/
REPOSITORY:TAG and pushed. The engine's output goes to stderr; stdout carries only the image URI, so

    IMAGE=$(python infra/push.py --account ... --region ...)

hands it to deploy.py --image "$IMAGE". --dry-run makes no AWS call and runs nothing: it prints each step.
Exit codes: 0 pushed (or printed), 1 a bug, 2 a bad value or no container engine (nothing was done),
3 the container engine failed a step (its output above says why), 4 AWS refused a call or could not be reached.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
CHECKOUT = INFRA.parent


def _load(name: str, path: Path) -> Any:
    """A module of this checkout by its path (standing beside this script, not installed)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":  # started by a Python without boto3 and the project: hand over to .venv
    _load("surroundyou_bootstrap", CHECKOUT / "surroundyou" / "bootstrap.py").hand_over(
        CHECKOUT,
        ("boto3", "surroundyou"),
        "push.py: this Python has no boto3 and surroundyou: run ./dev run once (it installs them into .venv), "
        "then infra/push.py",
    )

deploy = _load("surroundyou_deploy", INFRA / "deploy.py")  # its checks, AWS calls, errors and repository

from surroundyou import __version__  # noqa: E402
from surroundyou.aws.clients import make_client  # noqa: E402
from surroundyou.errors import UsageError  # noqa: E402

EXIT_ENGINE = 3
ENGINES = ("podman", "docker")
LOCAL_NAME = "surroundyou"  # the image's name on this machine, as docs/container.md builds it
PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}  # the task definition's CPU, as engines name it
# Docker's rules for a tag, and ECR's for a repository name.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REPOSITORY = re.compile(r"(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


class EngineError(Exception):
    """A step of the container engine failed: exit 3."""


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--account", help="AWS account ID of the registry (default: the caller's; required with --dry-run)")
    p.add_argument("--region", help="AWS region of the registry (default: AWS_REGION or the configured region)")
    p.add_argument("--repository", default="surroundyou", help="ECR repository name (default surroundyou)")
    p.add_argument("--tag", default=__version__, help=f"image tag (default: the project's version, {__version__})")
    p.add_argument("--engine", choices=ENGINES, help="container engine (default: podman if found, else docker)")
    p.add_argument("--dry-run", action="store_true", help="print every step; make no AWS call and run nothing")
    return p.parse_args(argv)


def value_problem(args: argparse.Namespace) -> str | None:
    """The first value that cannot be right, as one line; None if all can. Makes no AWS call."""
    if args.dry_run and not (args.account and args.region):
        return "--dry-run needs --account and --region (it makes no AWS calls)"
    for name in ("account", "region"):
        given = getattr(args, name)
        shape, what = deploy.SHAPES[name]
        if given is not None and not shape.fullmatch(given):
            return f"--{name} must be {what}, got {given!r}"
    if not _REPOSITORY.fullmatch(args.repository):
        return (
            f"--repository must be an ECR repository name (lowercase letters, digits, . _ - /), got {args.repository!r}"
        )
    if not _TAG.fullmatch(args.tag):
        return f"--tag must be an image tag (letters, digits, _ . -, at most 128), got {args.tag!r}"
    return None


def engine(chosen: str | None, dry_run: bool) -> str:
    """The container engine's command; UsageError if there is none (a dry run names podman all the same)."""
    for name in (chosen,) if chosen else ENGINES:
        if shutil.which(name):
            return name
    if dry_run:
        return chosen or ENGINES[0]
    wanted = chosen or " or ".join(ENGINES)
    raise UsageError(f"no {wanted} on PATH: install one to build and push the image")


def platform() -> str:
    """The platform the task definition runs (an image built on an ARM laptop must still run on Fargate's x86)."""
    task = json.loads((INFRA / "task-definition.json").read_text())
    return PLATFORMS[task["runtimePlatform"]["cpuArchitecture"]]


def run(command: Sequence[str], dry_run: bool, stdin: str | None = None) -> None:
    """One engine step: printed in a dry run; else run with its output on stderr (``stdin``: what it reads,
    the registry password, so that it is never on a command line)."""
    text = " ".join(command)
    if dry_run:
        print(f"would run {text}")
        return
    print(f"running {text}", file=sys.stderr)
    done = subprocess.run(list(command), input=stdin, text=True, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise EngineError(f"{command[0]} {command[1]} failed (exit {done.returncode}); its output is above")


def registry_login(ecr: Any, dry_run: bool) -> tuple[str, str]:
    """(user, password) for the registry, from ECR's token ("AWS:password" in base64)."""
    if dry_run:
        print("would call ecr.get_authorization_token")
        return "AWS", "<password from ecr.get_authorization_token>"
    answer = deploy.call(ecr, "ecr", "get_authorization_token", "", {})
    user, _, password = base64.b64decode(answer["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    return user, password


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    problem = value_problem(args)
    if problem:
        print(f"push.py: {problem}", file=sys.stderr)
        return deploy.EXIT_USAGE
    command = engine(args.engine, args.dry_run)
    region = args.region or deploy.configured_region()
    account = args.account or deploy.call(make_client("sts", region), "sts", "get_caller_identity", "", {})["Account"]
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    image = f"{registry}/{args.repository}:{args.tag}"
    values = {"ACCOUNT_ID": account, "REGION": region, "IMAGE_URI": image}
    # The repository as deploy.py makes it: one definition of it, whichever command runs first.
    repository = deploy.Deployer(values, args.dry_run, lambda service: make_client(service, region))
    with contextlib.redirect_stdout(sys.stdout if args.dry_run else sys.stderr):  # stdout: the image URI only
        repository.repository()
    local = f"{LOCAL_NAME}:{args.tag}"
    run([command, "build", "--platform", platform(), "--tag", local, str(CHECKOUT)], args.dry_run)
    user, password = registry_login(make_client("ecr", region), args.dry_run)
    login = [command, "login", "--username", user, "--password-stdin", registry]
    run(login, args.dry_run, stdin=password)
    run([command, "tag", local, image], args.dry_run)
    run([command, "push", image], args.dry_run)
    print(image)  # the one line of data: deploy.py --image takes it
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """main() as the shell runs it: every failure one line on stderr and its exit code, never a traceback."""
    try:
        return main(argv)
    except UsageError as exc:
        print(f"push.py: {exc}", file=sys.stderr)
        return deploy.EXIT_USAGE
    except EngineError as exc:
        print(f"push.py: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    except deploy.AwsError as exc:
        print(f"push.py: {exc}", file=sys.stderr)
        return deploy.EXIT_AWS
    except KeyboardInterrupt:
        print("push.py: interrupted; run it again (the build reuses its cached layers)", file=sys.stderr)
        return deploy.EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        print(f"push.py: internal error: {type(exc).__name__}: {exc} (a bug: please report it)", file=sys.stderr)
        return deploy.EXIT_BUG


if __name__ == "__main__":
    sys.exit(cli())
