"""Per-instance secrets in SSM Parameter Store (SecureString), read through Powertools
Parameters with caching. Values never leave this module except to the code that uses them;
`mask()` is the only form in which they may appear anywhere a person can read."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from wabot import keys
from wabot.models.instance import InstanceConfig
from wabot.tenancy import TenantContext, require_tenant
from wabot.tenant_credentials import client_for


def mask(secret: str | None) -> str | None:
    """At most the last 4 characters, and none at all of a short secret."""
    if not secret:
        return None
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


def _is_not_found(exc: BaseException) -> bool:
    """Powertools wraps every SSM error in GetParameterError; find the original one."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "response", {}).get("Error", {}).get("Code")
        if code == "ParameterNotFound":
            return True
        seen = seen.__cause__ or seen.__context__
    return "ParameterNotFound" in str(exc)


class SecretStore:
    def __init__(self, ssm_prefix: str, ssm_client: Any, max_age: float = 300.0) -> None:
        """`ssm_client`: a TenantCredentials (each tenant's own credentials) or one client for all."""
        self._prefix = ssm_prefix.rstrip("/")
        self._ssm = client_for(ssm_client, "ssm")
        # One Powertools provider (and its cache) per tenant, rebuilt when the tenant's client is.
        self._providers: dict[str, tuple[Any, SSMProvider]] = {}
        self._max_age = int(max_age)
        # Config version each secret was last fetched at: a newer version (rotation, restart)
        # bypasses the Powertools cache once.
        self._fetched_version: dict[str, int] = {}

    def _provider(self, tenant: TenantContext) -> SSMProvider:
        client = self._ssm(tenant)
        cached = self._providers.get(tenant.tenant_id)
        if cached is None or cached[0] is not client:
            cached = self._providers[tenant.tenant_id] = (client, SSMProvider(boto3_client=client))
        return cached[1]

    def path(self, tenant: TenantContext, instance_id: str, name: str) -> str:
        return keys.secret_path(self._prefix, tenant, instance_id, name)

    def get(self, tenant: TenantContext, config: InstanceConfig, name: str, force_fetch: bool = False) -> str | None:
        """The secret's value, or None when it is not configured. `force_fetch` bypasses the
        cache (after the Graph API rejected a token that may have been rotated)."""
        if config.tenant_id != require_tenant(tenant).tenant_id:
            raise PermissionError("instance config of another tenant")
        path = self.path(tenant, config.instance_id, name)
        stale = force_fetch or self._fetched_version.get(path, config.version) < config.version
        try:
            value = self._provider(tenant).get(path, decrypt=True, max_age=self._max_age, force_fetch=stale)
        except GetParameterError as exc:
            if _is_not_found(exc):
                return None
            raise  # SSM unreachable or throttled: a transient failure, not "no secret"
        self._fetched_version[path] = config.version
        return value if isinstance(value, str) and value else None  # SSM gives text (no transform asked)

    def put(self, tenant: TenantContext, instance_id: str, name: str, value: str) -> None:
        """Store (or rotate) a secret as SecureString; readers pick it up on the next config version."""
        self._ssm(tenant).put_parameter(
            Name=self.path(tenant, instance_id, name), Value=value, Type="SecureString", Overwrite=True
        )

    def get_tenant_secret(self, tenant: TenantContext, *parts: str, force_fetch: bool = False) -> str | None:
        path = keys.tenant_secret_path(self._prefix, tenant, *parts)
        try:
            value = self._provider(tenant).get(path, decrypt=True, max_age=self._max_age, force_fetch=force_fetch)
            return value if isinstance(value, str) and value else None
        except GetParameterError as exc:
            if _is_not_found(exc):
                return None
            raise

    def put_tenant_secret(self, tenant: TenantContext, value: str, *parts: str) -> None:
        self._ssm(tenant).put_parameter(Name=keys.tenant_secret_path(self._prefix, tenant, *parts), Value=value,
                                Type="SecureString", Overwrite=True)

    def delete_tenant_secret(self, tenant: TenantContext, *parts: str) -> None:
        self._ssm(tenant).delete_parameters(Names=[keys.tenant_secret_path(self._prefix, tenant, *parts)])

    def masked_tenant_secret(self, tenant: TenantContext, *parts: str) -> str | None:
        response = self._ssm(tenant).get_parameters(Names=[keys.tenant_secret_path(self._prefix, tenant, *parts)],
                                            WithDecryption=True)
        found = response.get("Parameters", [])
        return mask(found[0]["Value"]) if found else None

    def current(self, tenant: TenantContext, instance_id: str, name: str) -> str | None:
        """The stored value, uncached (for comparisons by operator tools)."""
        try:
            return self._ssm(tenant).get_parameter(Name=self.path(tenant, instance_id, name), WithDecryption=True)[
                "Parameter"]["Value"]
        except self._ssm(tenant).exceptions.ParameterNotFound:
            return None

    def masked(self, tenant: TenantContext, instance_ids: list[str]) -> dict[str, dict[str, str | None]]:
        """Each instance's secrets masked to their last 4 characters (None when not set)."""
        paths = {self.path(tenant, i, name): (i, name) for i in instance_ids for name in keys.SECRET_NAMES}
        result: dict[str, dict[str, str | None]] = {i: dict.fromkeys(keys.SECRET_NAMES) for i in instance_ids}
        names = list(paths)
        for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
            response = self._ssm(tenant).get_parameters(Names=names[start : start + 10], WithDecryption=True)
            for parameter in response.get("Parameters", []):
                instance_id, name = paths[parameter["Name"]]
                result[instance_id][name] = mask(parameter["Value"])
        return result

    def delete_all(self, tenant: TenantContext, instance_id: str) -> None:
        names = [self.path(tenant, instance_id, name) for name in keys.SECRET_NAMES]
        self._ssm(tenant).delete_parameters(Names=names)  # names that do not exist are ignored

    def clear_cache(self) -> None:
        self._fetched_version.clear()
        for _, provider in self._providers.values():
            provider.clear_cache()
