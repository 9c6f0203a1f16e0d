"""The tenant context: decided once at the edge, then passed explicitly to every data access.

There is no global or default tenant. Constructing a context from a missing, empty or malformed
id raises, and every repository refuses to work without one, before any I/O happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from wabot.errors import TenantContextError

if TYPE_CHECKING:  # only the type: the tenant context is built before any model is needed
    from wabot.models.principal import Role

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)


def is_slug(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(_SLUG.fullmatch(value))


@dataclass(frozen=True, slots=True)
class TenantContext:
    """Who the data belongs to. `principal_id` and `role` are set for admin API callers."""

    tenant_id: str
    principal_id: str | None = None
    role: Role | None = None

    def __post_init__(self) -> None:
        if not is_slug(self.tenant_id):
            raise TenantContextError("a valid tenant id is required")


def require_tenant(tenant: object) -> TenantContext:
    """Guard for data-access entry points: the caller must hand over a real TenantContext."""
    if not isinstance(tenant, TenantContext):
        raise TenantContextError("tenant context required for tenant data access")
    return tenant


def require_instance_id(instance_id: object) -> str:
    if not is_slug(instance_id):
        raise TenantContextError("a valid instance id is required")
    return instance_id
