"""AWS clients, created once per execution environment and shared by every module.

boto3 honours AWS_ENDPOINT_URL, which is how the local stack points every client at moto.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Short timeouts and standard retries: a Lambda must fail while there is time left to retry.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 3, "mode": "standard"},
)


@cache
def _session() -> boto3.session.Session:
    # One session for every client: each new session loads botocore's data files again.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    return _session().client(service, config=_CONFIG)


def client_with_credentials(service: str, *, aws_access_key_id: str, aws_secret_access_key: str,
                            aws_session_token: str) -> Any:
    """A client signed with other credentials than the function's own (tenant credentials)."""
    return _session().client(service, config=_CONFIG, aws_access_key_id=aws_access_key_id,
                             aws_secret_access_key=aws_secret_access_key, aws_session_token=aws_session_token)


def reset_clients() -> None:
    """Forget every client (tests that start a new AWS mock call this)."""
    client.cache_clear()
    _session.cache_clear()
