"""Tenant-scoped AWS credentials: the second wall behind `TenantContext`.

A function that works for a tenant assumes the stack's tenant role with the session tag
`tenant={tenant_id}`. The role's policy opens only DynamoDB items whose partition key starts
with `TENANT#{tag}` (`dynamodb:LeadingKeys`) and SSM parameters under `/{stack}/{tag}/`, so a
bug that builds another tenant's key with these clients is refused by IAM, not only by code.

Credentials and the clients built from them are cached per tenant for the life of the
execution environment, until shortly before they expire: one STS call per tenant per
cache lifetime (about an hour), not one per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wabot import aws
from wabot.tenancy import TenantContext, require_tenant

TENANT_TAG = "tenant"
# Refresh this long before STS's expiry, so no request starts with credentials about to lapse.
REFRESH_MARGIN_SECONDS = 300.0
SESSION_SECONDS = 3600

# A client of one service for one tenant: what every tenant repository asks for per call.
ClientFor = Callable[[TenantContext], Any]


@dataclass
class _TenantSession:
    expires_at: float
    credentials: dict[str, str]
    clients: dict[str, Any] = field(default_factory=dict)


class TenantCredentials:
    """Clients signed with the tenant role's credentials, one set per tenant."""

    def __init__(self, role_arn: str, *, sts: Any | None = None, clock: Callable[[], float] = time.time,
                 refresh_margin: float = REFRESH_MARGIN_SECONDS) -> None:
        if not role_arn:
            raise ValueError("the tenant role's ARN is required")
        self._role_arn = role_arn
        self._sts = sts
        self._clock = clock
        self._margin = refresh_margin
        self._sessions: dict[str, _TenantSession] = {}
        self._lock = threading.Lock()

    def client(self, tenant: TenantContext, service: str) -> Any:
        tenant_id = require_tenant(tenant).tenant_id
        with self._lock:
            session = self._sessions.get(tenant_id)
            if session is None or self._clock() >= session.expires_at - self._margin:
                session = self._sessions[tenant_id] = self._assume(tenant_id)
            if service not in session.clients:
                session.clients[service] = aws.client_with_credentials(service, **session.credentials)
            return session.clients[service]

    def dynamodb(self, tenant: TenantContext) -> Any:
        return self.client(tenant, "dynamodb")

    def ssm(self, tenant: TenantContext) -> Any:
        return self.client(tenant, "ssm")

    def _assume(self, tenant_id: str) -> _TenantSession:
        sts = self._sts or aws.client("sts")  # the function's own role; regional endpoint (template)
        response = sts.assume_role(
            RoleArn=self._role_arn,
            RoleSessionName=f"tenant-{tenant_id}"[:64],
            DurationSeconds=SESSION_SECONDS,
            Tags=[{"Key": TENANT_TAG, "Value": tenant_id}],
        )
        credentials = response["Credentials"]
        return _TenantSession(
            expires_at=credentials["Expiration"].timestamp(),
            credentials={"aws_access_key_id": credentials["AccessKeyId"],
                         "aws_secret_access_key": credentials["SecretAccessKey"],
                         "aws_session_token": credentials["SessionToken"]},
        )

    def forget(self) -> None:
        with self._lock:
            self._sessions.clear()


def client_for(source: Any, service: str) -> ClientFor:
    """How a repository gets its client for a tenant.

    `source` is a `TenantCredentials` (the functions: each tenant's own credentials) or one
    boto3 client used for every tenant (operator tools and tests that run with the operator's
    credentials). Either way the tenant context is checked before any client is handed out.
    """
    if isinstance(source, TenantCredentials):
        return lambda tenant: source.client(tenant, service)

    def shared(tenant: TenantContext) -> Any:
        require_tenant(tenant)
        return source

    return shared
