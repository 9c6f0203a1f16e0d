"""Signed tenant notifications: POST a small JSON event to the URL a tenant set on an instance.

    notifier = TenantNotifier(GuardedHttp(policy), secrets, logger)
    notifier.send(tenant, config, "instance.health_changed", {"status": "failing", ...})

The body is `{"id", "event", "tenant_id", "instance_id", "at", "data"}`; headers carry
`X-Wabot-Event`, `X-Wabot-Delivery` (the id: receivers deduplicate on it, since a retry after a
lost answer delivers twice) and `X-Wabot-Signature-256: sha256=<hex HMAC-SHA256 of the exact
body bytes with the instance's notify_secret>`, the same scheme as Meta's `X-Hub-Signature-256`.
The URL is tenant-set, so it goes only through the SSRF guard (`wabot.net.GuardedHttp`); the
answer is ignored beyond its status (2xx: delivered), capped, and never logged. Timeouts,
connection failures, 429 and 5xx are retried with backoff; anything else is final.
Without a URL or a secret nothing is sent (unsigned notifications are never sent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from wabot.models.instance import InstanceConfig
from wabot.net import BackendError, GuardedHttp
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext, require_tenant

SIGNATURE_HEADER = "X-Wabot-Signature-256"
ANSWER_MAX_BYTES = 16 * 1024
Outcome = Literal["delivered", "failed", "not_configured"]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): constant-time comparison of the header with the body's HMAC."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


def _retriable(error: BackendError) -> bool:
    if error.reason in ("timeout", "unreachable"):
        return True
    return error.reason == "http_status" and (error.status == 429 or (error.status or 0) >= 500)


@dataclass
class TenantNotifier:
    http: GuardedHttp
    secrets: SecretStore
    logger: Any
    attempts: int = 3
    base_delay: float = 0.5
    timeout: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def send(self, tenant: TenantContext, config: InstanceConfig, event: str, data: dict[str, Any]) -> Outcome:
        require_tenant(tenant)
        if config.tenant_id != tenant.tenant_id:
            raise PermissionError("notification for another tenant's instance")
        secret = self.secrets.get(tenant, config, "notify_secret") if config.notify_url else None
        if not config.notify_url or not secret:
            return "not_configured"
        delivery = uuid.uuid4().hex
        body = json.dumps({"id": delivery, "event": event, "tenant_id": tenant.tenant_id,
                           "instance_id": config.instance_id, "at": datetime.now(UTC).isoformat(),
                           "data": data}, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "X-Wabot-Event": event, "X-Wabot-Delivery": delivery,
                   SIGNATURE_HEADER: sign(secret, body)}
        for attempt in range(self.attempts):
            try:
                self.http.post(config.notify_url, "", content=body, headers=headers, timeout=self.timeout,
                               max_bytes=ANSWER_MAX_BYTES)
                return "delivered"
            except BackendError as error:
                final = not _retriable(error) or attempt == self.attempts - 1
                self.logger.warning("tenant notification failed", extra={
                    "event": event, "reason": error.reason, "status": error.status, "final": final})
                if final:
                    return "failed"
                self.sleep(self.base_delay * 2 ** attempt * (0.5 + random.random() / 2))  # noqa: S311 - jitter
        return "failed"
