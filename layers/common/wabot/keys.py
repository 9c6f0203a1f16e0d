"""DynamoDB and SSM keys. Every tenant key is built here, and only from a TenantContext.

Single-table design (see README, "Data design"): every tenant item's partition key starts
with `TENANT#{tenant_id}` (exactly, or followed by `#`), so no access path can reach another
tenant's partition, and the tenant roles' `dynamodb:LeadingKeys` condition can say so in IAM. The one
platform-level item is the phone-number claim (`PHONE#{id}`), which only maps a WhatsApp
number to its owning (tenant, instance) so that a number belongs to one instance platform-wide.
"""

from __future__ import annotations

import re

from wabot.tenancy import TenantContext, require_instance_id, require_tenant

# An instance's secrets, the one list of them (SSM paths, the admin API's write-only fields, the
# migration). The WhatsApp app's own credentials first (the legacy platform had these three);
# app_token: optional, for /debug_token; notify_secret: signs the tenant's health notifications.
META_SECRET_NAMES = ("access_token", "app_secret", "verify_token")
SECRET_NAMES = (*META_SECRET_NAMES, "app_token", "notify_secret")
INSTANCE_SK_PREFIX = "INSTANCE#"
APIKEY_SK_PREFIX = "APIKEY#"
DAY_SK_PREFIX = "DAY#"
STATE_SK = "STATE"
TENANT_SK = "TENANT"
HEALTH_SK = "HEALTH"
# The sparse index of running instances (the dispatcher's only view of the table): its partition
# key is a platform value, never a tenant's, so the dispatcher's own role can be limited to it.
RUNNING_INDEX = "RunningInstances"
RUNNING_PK = "RUNNING#INSTANCES"


def tenant_pk(tenant: TenantContext) -> str:
    return f"TENANT#{require_tenant(tenant).tenant_id}"


def tenant_key(tenant: TenantContext) -> dict[str, str]:
    return {"pk": tenant_pk(tenant), "sk": TENANT_SK}


def instance_key(tenant: TenantContext, instance_id: str) -> dict[str, str]:
    """The instance config item: listed with every other instance of the tenant."""
    return {"pk": tenant_pk(tenant), "sk": f"{INSTANCE_SK_PREFIX}{require_instance_id(instance_id)}"}


def api_key_key(tenant: TenantContext, key_id: str) -> dict[str, str]:
    if not re.fullmatch(r"[0-9a-f]{12}", key_id or ""):
        raise ValueError("malformed key id")
    return {"pk": tenant_pk(tenant), "sk": f"{APIKEY_SK_PREFIX}{key_id}"}


def instance_pk(tenant: TenantContext, instance_id: str, kind: str) -> str:
    """Per-instance partitions: ACTIVITY, STATS, USERS (index of users), USER#{key}."""
    return f"{tenant_pk(tenant)}#INSTANCE#{require_instance_id(instance_id)}#{kind}"


def activity_pk(tenant: TenantContext, instance_id: str) -> str:
    return instance_pk(tenant, instance_id, "ACTIVITY")


def stats_pk(tenant: TenantContext, instance_id: str) -> str:
    return instance_pk(tenant, instance_id, "STATS")


def users_pk(tenant: TenantContext, instance_id: str) -> str:
    return instance_pk(tenant, instance_id, "USERS")


def inbox_pk(tenant: TenantContext, instance_id: str) -> str:
    """Partition key of the inbox index (a GSI over user profiles): starts with the tenant's key,
    so the tenant roles' LeadingKeys condition covers a Query on the index too."""
    return instance_pk(tenant, instance_id, "INBOX")


def user_pk(tenant: TenantContext, instance_id: str, user_key: str) -> str:
    if not user_key:
        raise ValueError("user key required")
    return instance_pk(tenant, instance_id, f"USER#{user_key}")


def idempotency_key_prefix(tenant: TenantContext, consumer: str) -> str:
    """Powertools idempotency record ids read `{this}#{hash}`: the tenant's key first, so the
    tenant role's LeadingKeys condition covers the idempotency table too."""
    if not re.fullmatch(r"[a-z-]{1,32}", consumer):
        raise ValueError("malformed consumer name")
    return f"{tenant_pk(tenant)}#{consumer}"


def health_key(tenant: TenantContext, instance_id: str) -> dict[str, str]:
    """The instance's health record, beside its runtime state (deleted with the instance)."""
    return {"pk": stats_pk(tenant, instance_id), "sk": HEALTH_SK}


def running_index_attributes(tenant: TenantContext, instance_id: str) -> dict[str, str]:
    """Set on a running instance's config item only: the sparse index lists exactly those."""
    tenant_id = require_tenant(tenant).tenant_id
    return {"running_pk": RUNNING_PK, "running_sk": f"{tenant_id}#{require_instance_id(instance_id)}"}


def phone_claim_key(phone_number_id: str) -> dict[str, str]:
    return {"pk": f"PHONE#{phone_number_id}", "sk": "CLAIM"}


def secret_path(ssm_prefix: str, tenant: TenantContext, instance_id: str, name: str) -> str:
    """SSM parameter name: `{stack prefix}/{tenant}/instances/{instance}/{secret}`."""
    if name not in SECRET_NAMES:
        raise ValueError(f"unknown secret {name!r}")
    tenant_id = require_tenant(tenant).tenant_id
    return f"{ssm_prefix}/{tenant_id}/instances/{require_instance_id(instance_id)}/{name}"


def tenant_secret_path(ssm_prefix: str, tenant: TenantContext, *parts: str) -> str:
    """Tenant-level secrets (provider API keys): `{stack prefix}/{tenant}/{parts...}`."""
    if not parts or not all(re.fullmatch(r"[a-z0-9_-]{1,64}", part) for part in parts):
        raise ValueError("malformed secret path")
    return "/".join([ssm_prefix, require_tenant(tenant).tenant_id, *parts])
