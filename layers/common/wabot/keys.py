"""DynamoDB and SSM keys. Every key is built here, and only from a TenantContext.

Single-table design (see README, "Data design"): every tenant item's partition key starts
with `TENANT#{tenant_id}`, so no access path can reach another tenant's partition.
"""

from __future__ import annotations

from wabot.tenancy import TenantContext, require_instance_id, require_tenant

SECRET_NAMES = ("access_token", "app_secret", "verify_token")


def tenant_pk(tenant: TenantContext) -> str:
    return f"TENANT#{require_tenant(tenant).tenant_id}"


def instance_key(tenant: TenantContext, instance_id: str) -> dict[str, str]:
    """The instance config item: listed with every other instance of the tenant."""
    return {"pk": tenant_pk(tenant), "sk": f"INSTANCE#{require_instance_id(instance_id)}"}


INSTANCE_SK_PREFIX = "INSTANCE#"


def activity_pk(tenant: TenantContext, instance_id: str) -> str:
    return f"{tenant_pk(tenant)}#INSTANCE#{require_instance_id(instance_id)}#ACTIVITY"


def secret_path(ssm_prefix: str, tenant: TenantContext, instance_id: str, name: str) -> str:
    """SSM parameter name: `{stack prefix}/{tenant}/instances/{instance}/{secret}`."""
    if name not in SECRET_NAMES:
        raise ValueError(f"unknown secret {name!r}")
    tenant_id = require_tenant(tenant).tenant_id
    return f"{ssm_prefix}/{tenant_id}/instances/{require_instance_id(instance_id)}/{name}"
