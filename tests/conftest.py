"""Fixtures: a moto S3 server over HTTP and a fresh bucket on it (helpers.py runs process_audio.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto_s3 import moto_s3_server, new_bucket


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_server: str) -> Iterator[tuple[object, str, dict[str, str]]]:
    """(client, bucket, env for the worker): a fresh bucket on the moto server."""
    client, bucket, env = new_bucket(moto_server, "us-east-1", "testing", "testing")
    yield client, bucket, env
