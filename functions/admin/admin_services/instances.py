"""Instances: list, read, create, update (secrets rotated), delete.

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

import contextlib
import secrets as random_secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from admin_models import (
    ADMIN_ONLY_FIELDS,
    NON_NULLABLE_FIELDS,
    InstanceCreate,
    InstanceInput,
    InstanceList,
    InstanceOut,
    InstanceUpdate,
)
from admin_service import (
    MAX_SLUG,
    InvalidInput,
    ResourceService,
    slugify,
)

from wabot.errors import ForbiddenError, NotFoundError
from wabot.funnel.templates import template
from wabot.health import CheckResult, check_credentials, store_check
from wabot.models.instance import MAX_LISTS_CHARACTERS, InstanceConfig
from wabot.repositories.health import StaleResult
from wabot.repositories.instances import InstanceIdTaken
from wabot.stt import STT_PROVIDER_KINDS
from wabot.tenancy import TenantContext


def _check_admin_only_fields(caller: TenantContext, data: InstanceInput, old: InstanceConfig | None) -> None:
    if caller.role == "admin":
        return
    for name in sorted(ADMIN_ONLY_FIELDS & data.model_fields_set):
        given = data.config_changes()[name]
        if (old is None and given is None) or (old is not None and given == getattr(old, name)):
            continue  # nothing changes
        raise ForbiddenError(f"only an admin may set {name}")


def _check_list_sizes(config: InstanceConfig) -> None:
    """Both lists live in the instance's one item, which DynamoDB caps at 400 KB."""
    size = sum(len(entry) for entry in (*config.allowed_phones, *config.blocked_phones))
    if size > MAX_LISTS_CHARACTERS:
        field = "allowed_phones" if len(config.allowed_phones) >= len(config.blocked_phones) else "blocked_phones"
        raise InvalidInput(field, f"allowed_phones and blocked_phones together may hold at most "
                                  f"{MAX_LISTS_CHARACTERS} characters")


@dataclass
class InstanceService(ResourceService):
    """Instances: list, read, create, update (secrets rotated), delete."""

    def list_instances(self, caller: TenantContext, base_url: str, limit: int, cursor: str | None) -> InstanceList:
        owner = caller.principal_id if caller.role == "user" else None
        try:
            configs, next_cursor = self.stores.instances.list(caller, limit=limit, cursor=cursor, owner_id=owner)
        except ValueError:
            raise InvalidInput("cursor", "invalid cursor") from None
        return InstanceList(items=self._views(caller, configs, base_url), next=next_cursor)

    def get_instance(self, caller: TenantContext, instance_id: str, base_url: str) -> InstanceOut:
        return self._views(caller, [self._load(caller, instance_id)], base_url)[0]

    def create_instance(self, caller: TenantContext, data: InstanceCreate, base_url: str) -> InstanceOut:
        if caller.role == "guest":
            raise ForbiddenError("read-only access")
        owner = data.owner_id or caller.principal_id
        if caller.role != "admin" and owner != caller.principal_id:
            raise ForbiddenError("only an admin may create an instance for another owner")
        _check_admin_only_fields(caller, data, None)
        now = datetime.now(UTC)
        fields = {k: v for k, v in data.config_changes().items() if v is not None}
        flow = template(data.funnel_template) if data.funnel_template else None
        self._check_backend(caller, fields.get("llm_backend"))
        self._check_backend(caller, fields.get("stt_backend"), "stt_backend")
        secret_changes = data.secret_changes()
        check = self._check_credentials(data.phone_number_id, secret_changes.get("access_token"),
                                        secret_changes.get("app_token"), "access_token")
        generated = self._notify_secret(data, fields.get("notify_url"), None, secret_changes)
        base = slugify(data.name)
        taken = self.stores.instances.ids_starting_with(caller, base)
        for attempt in range(2, 200):
            candidate = base if base not in taken else f"{base[: MAX_SLUG - 4]}-{attempt}"
            if candidate in taken:
                continue
            config = self._validated({**fields, "tenant_id": caller.tenant_id, "instance_id": candidate,
                                      "owner_id": owner, "version": 1, "created_at": now, "updated_at": now})
            _check_list_sizes(config)
            try:
                self.stores.instances.create(caller, config)
                break
            except InstanceIdTaken:  # created concurrently: take the next suffix
                taken.add(candidate)
        else:
            raise InvalidInput("name", "too many instances with this name")
        try:
            for name, value in secret_changes.items():
                self.stores.secrets.put(caller, config.instance_id, name, value)
            if flow is not None:
                self.stores.funnels.put(caller, config.instance_id, flow)
        except Exception:
            self.stores.instances.delete(caller, config)  # nothing half-created stays behind
            raise
        self._store_check(caller, config.instance_id, check)
        self._audit(caller, config.instance_id, "instance created", sorted(data.model_fields_set))
        return self._views(caller, [config], base_url, generated)[0]

    def update_instance(self, caller: TenantContext, instance_id: str, data: InstanceUpdate,
                        base_url: str) -> InstanceOut:
        old = self._load(caller, instance_id, write=True)
        changes = data.config_changes()
        if "owner_id" in changes and changes["owner_id"] != old.owner_id and caller.role != "admin":
            raise ForbiddenError("only an admin may change the owner")
        _check_admin_only_fields(caller, data, old)
        for required in sorted(NON_NULLABLE_FIELDS & set(changes)):
            if changes[required] is None:
                raise InvalidInput(required, "may not be null")
        self._check_backend(caller, changes.get("llm_backend"))
        self._check_backend(caller, changes.get("stt_backend"), "stt_backend")
        secret_changes = data.secret_changes()
        check = None
        new_number = changes.get("phone_number_id") or old.phone_number_id
        if "access_token" in secret_changes or new_number != old.phone_number_id:
            # The credentials change: can the (new) token read the (new) number? Checked before anything is written.
            current = self.stores.secrets.current
            token = secret_changes.get("access_token") or current(caller, instance_id, "access_token")
            app_token = secret_changes.get("app_token") or current(caller, instance_id, "app_token")
            check = self._check_credentials(new_number, token, app_token,
                                            "access_token" if "access_token" in secret_changes else "phone_number_id")
            if check is not None and check.token_status == "valid":  # noqa: S105 - a status word
                changes["sends_paused"] = False  # a working token resumes sends at once
        notify_url = changes.get("notify_url", old.notify_url)
        generated = self._notify_secret(data, notify_url, instance_id, secret_changes)
        # Secrets first: the version bump below makes warm functions re-read them.
        for name, value in secret_changes.items():
            self.stores.secrets.put(caller, instance_id, name, value)
        new = self._validated({**old.model_dump(), **changes, "version": old.version + 1,
                               "updated_at": datetime.now(UTC)})
        _check_list_sizes(new)
        self.stores.instances.replace(caller, old, new)
        self.stores.registry.invalidate(caller, instance_id)
        if check is not None:
            self._store_check(caller, instance_id, check)
        self._audit(caller, instance_id, "instance updated", sorted(data.model_fields_set))
        return self._views(caller, [new], base_url, generated)[0]

    def delete_instance(self, caller: TenantContext, instance_id: str) -> None:
        config = self._load(caller, instance_id, write=True)
        # Data and secrets first, the config last: a failure midway leaves a config the admin
        # can DELETE again, never orphaned data without one.
        self.stores.purger.purge(caller, instance_id)
        self.stores.funnels.delete(caller, instance_id)
        self.stores.secrets.delete_all(caller, instance_id)
        self.stores.instances.delete(caller, config)
        self.stores.registry.invalidate(caller, instance_id)

    def _check_credentials(self, phone_number_id: str, token: str | None, app_token: str | None,
                           field: str) -> CheckResult | None:
        """422 when the Graph API refuses the token for this number (also stops claiming another
        business's number); an unreachable Graph API does not block the change (health: unknown)."""
        if not token:
            return None
        result = check_credentials(self.stores.graph, phone_number_id, token, app_token)
        error = result.error
        if result.token_status == "invalid" or (error is not None and error.code == 100):  # noqa: S105
            raise InvalidInput(field, "the access token cannot read this phone number "
                                      f"(Graph API error {error.code if error else 'unknown'})")
        return result

    def _store_check(self, caller: TenantContext, instance_id: str, result: CheckResult | None) -> None:
        if result is None:
            return
        with contextlib.suppress(StaleResult):  # a newer scheduled check already wrote its result
            store_check(self.stores.health, self.stores.instances, caller, instance_id, result, datetime.now(UTC))

    @staticmethod
    def _notify_secret(data: InstanceInput, notify_url: str | None, instance_id: str | None,
                       secret_changes: dict[str, str]) -> str | None:
        """Generate the notifications' HMAC key when asked, or when a URL is set without any;
        the answer carries it this once (it is stored only in SSM)."""
        if "notify_secret" in secret_changes or not notify_url:
            return None
        if data.rotate_notify_secret or instance_id is None or "notify_url" in data.model_fields_set:
            secret_changes["notify_secret"] = random_secrets.token_urlsafe(32)
            return secret_changes["notify_secret"]
        return None

    def _check_backend(self, caller: TenantContext, backend: str | None, field: str = "llm_backend") -> None:
        if backend and backend.startswith("cloud:"):
            try:
                provider = self.stores.llm_config.provider(caller, backend.removeprefix("cloud:"))
            except NotFoundError:
                raise InvalidInput(field, "no such LLM provider in this tenant") from None
            if field == "stt_backend" and provider.kind not in STT_PROVIDER_KINDS:
                raise InvalidInput(field, "speech to text needs a provider of kind openai or gemini")
