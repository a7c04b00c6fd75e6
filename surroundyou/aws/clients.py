"""The one AWS client factory: the worker's S3 client and infra/deploy.py's IAM, ECS, SQS, ...

Standard AWS configuration is honoured (credential chain, AWS_REGION,
AWS_ENDPOINT_URL), retries in standard mode; AWS_MAX_ATTEMPTS and
S3_READ_TIMEOUT_SECONDS are checked like every other setting (a bad value is a
usage error, exit 2). Small on purpose: deploy.py imports it without the
audio engine.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from surroundyou.settings import ENV_S3_READ_TIMEOUT, positive_from_env

MAX_ATTEMPTS = 5
READ_TIMEOUT_S = 60.0


def max_attempts() -> int:
    """Attempts per call: AWS_MAX_ATTEMPTS wins, as it would without an explicit retry configuration."""
    return positive_from_env("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS, int)


def make_client(service: str = "s3", region: str | None = None, least_read_timeout_s: float = 0.0) -> Any:
    """Every boto3 client comes from here (the worker's and infra/deploy.py's). ``least_read_timeout_s``:
    a floor under the read timeout, for calls that wait on purpose (SQS's long polls)."""
    # botocore reads AWS_DEFAULT_REGION; Fargate and other SDKs set AWS_REGION.
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    config = Config(
        retries={"mode": os.environ.get("AWS_RETRY_MODE") or "standard", "total_max_attempts": max_attempts()},
        connect_timeout=10,
        read_timeout=max(least_read_timeout_s, positive_from_env(ENV_S3_READ_TIMEOUT, READ_TIMEOUT_S, float)),
        user_agent_extra="surroundyou",
    )
    return session.client(service, config=config)
