"""moto's S3 as a real HTTP server on loopback, for the worker in subprocesses and containers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """The endpoint URL of a moto server on 127.0.0.1 (a free port), stopped on exit."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str, region: str, key_id: str, secret: str) -> tuple[Any, str, dict[str, str]]:
    """(client, bucket, the worker's AWS variables): a fresh bucket on the server, all from one set of credentials."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": region,
    }
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret
    )
    bucket = f"songs-{os.urandom(4).hex()}"
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client.create_bucket(Bucket=bucket, **location)
    return client, bucket, env
