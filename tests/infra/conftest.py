"""The infra tests' fixture: deploy.py's clients pointed at the session's moto server."""

from __future__ import annotations

import pytest


@pytest.fixture
def moto_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy.py's clients pointed at the moto server, with throwaway credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
