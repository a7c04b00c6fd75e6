"""The tiers (a marker per folder) and the fixtures: a moto S3 server over HTTP, a fresh bucket on it, and
queues beside it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from surroundyou.convert.tempdirs import PREFIX, held
from tests.support.moto_s3 import moto_s3_server, new_bucket

# The tier of each test folder: the unit tier mirrors the package's layers (one folder per subpackage,
# base for the top-level modules) and runs in-process; process starts the worker as a user does;
# infra checks the AWS definitions and deploy.py against moto.
TIERS = {
    "base": "unit",
    "dsp": "unit",
    "audio": "unit",
    "convert": "unit",
    "aws": "unit",
    "run": "unit",
    "process": "process",
    "infra": "infra",
}
HERE = Path(__file__).parent
# The suite is hermetic: every process it starts has a temporary folder under this one (TMPDIR), not
# the machine's; at the end, no run folder may be left in either (see pytest_sessionfinish).
_TEMP = pytest.StashKey[tuple[Path, Path, set[str]]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    system = Path(tempfile.gettempdir())  # this process's own (cached before TMPDIR changes)
    suite = Path(tempfile.mkdtemp(prefix="suite-", dir=system))
    session.config.stash[_TEMP] = (system, suite, {p.name for p in system.glob(f"{PREFIX}*")})
    os.environ["TMPDIR"] = str(suite)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the session if a run left its folder behind, in the suite's temporary folder or in the
    machine's (there: a run folder, new since the start and held by no live process, so not this
    process's own)."""
    system, suite, before = session.config.stash[_TEMP]
    left = list(suite.rglob(f"{PREFIX}*"))
    left += [p for p in system.glob(f"{PREFIX}[0-9]*-*") if p.name not in before and not held(p)]
    shutil.rmtree(suite, ignore_errors=True)
    if left:
        print(f"\nerror: the suite left temporary folders behind: {', '.join(map(str, left))}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its folder's tier, unless it says otherwise: a unit folder's test that takes
    seconds is marked ``slow`` (it runs with ./dev test, not in the fast tier), one that starts the
    worker as a process is marked ``process``."""
    for item in items:
        if item.get_closest_marker("slow") is None and item.get_closest_marker("process") is None:
            item.add_marker(TIERS[item.path.relative_to(HERE).parts[0]])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_server: str) -> Iterator[tuple[object, str, dict[str, str]]]:
    """(client, bucket, env for the worker): a fresh bucket on the moto server."""
    client, bucket, env = new_bucket(moto_server, "us-east-1", "testing", "testing")
    yield client, bucket, env


@pytest.fixture
def queues(s3, moto_server: str) -> Iterator[dict[str, Any]]:
    """A bucket, a work queue and a failed queue on the moto server, and the worker's environment."""
    client, bucket, env = s3
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    name = f"work-{os.urandom(4).hex()}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    failed = sqs.create_queue(QueueName=f"{name}-failed")["QueueUrl"]
    yield {
        "s3": client,
        "sqs": sqs,
        "bucket": bucket,
        "url": url,
        "failed": failed,
        "env": {**env, "S3_BUCKET": bucket, "QUEUE_URL": url, "FAILED_QUEUE_URL": failed, "IDLE_EXIT_SECONDS": "1.5"},
    }
