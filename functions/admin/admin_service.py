"""What every admin service shares: the stores, access rules, input errors, the audit log.

One service per resource lives in admin_services/ (instances, lifecycle, stats, funnels, inbox,
settings, keys); admin_routes/ maps each to HTTP. Every method takes the caller (a TenantContext
with principal and role, decided by the authorizer) first. Another tenant's things are never
reachable: every key is built from the caller's tenant, so they answer "not found" exactly like
things that do not exist.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from admin_models import (
    InstanceOut,
    MaskedSecrets,
)
from pydantic import ValidationError

from wabot.errors import ForbiddenError, NotFoundError
from wabot.models.instance import InstanceConfig
from wabot.queue import EventPublisher
from wabot.repositories.activity import ActivityLog
from wabot.repositories.apikeys import ApiKeyRepository
from wabot.repositories.conversations import ConversationStore, InstanceDataPurger
from wabot.repositories.funnels import FunnelRepository
from wabot.repositories.health import HealthRepository
from wabot.repositories.instances import InstanceRegistry, InstanceRepository
from wabot.repositories.llm_config import LlmConfigRepository
from wabot.repositories.messages import MessageLog
from wabot.repositories.secrets import SecretStore
from wabot.repositories.stats import StatsRepository
from wabot.tenancy import TenantContext, is_slug
from wabot.whatsapp.graph import GraphClient

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu", "ya"],
    strict=True,
))
MAX_SLUG = 48


def slugify(name: str) -> str:
    """"Support Bot" -> "support-bot"; Cyrillic is transliterated ("Бот продаж" -> "bot-prodazh")."""
    text = "".join(_CYRILLIC.get(char, char) for char in name.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:MAX_SLUG].strip("-")
    return slug or "instance"


class InvalidInput(Exception):
    """Input that passed the model but breaks a rule only the service knows (422).
    `problems` are (dotted field path, message) pairs."""

    def __init__(self, field: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = [(field, message), *(more or [])]


def _can_read(caller: TenantContext, config: InstanceConfig) -> bool:
    return caller.role in ("admin", "guest") or config.owner_id == caller.principal_id


def _can_write(caller: TenantContext, config: InstanceConfig) -> bool:
    return caller.role == "admin" or (caller.role == "user" and config.owner_id == caller.principal_id)


def require_admin(caller: TenantContext) -> None:
    if caller.role != "admin":
        raise ForbiddenError("admin role required")


@dataclass
class AdminStores:
    """Where the admin API's data lives, and the outside services it calls."""

    instances: InstanceRepository
    registry: InstanceRegistry
    secrets: SecretStore
    activity: ActivityLog
    stats: StatsRepository
    purger: InstanceDataPurger
    api_keys: ApiKeyRepository
    funnels: FunnelRepository
    conversations: ConversationStore
    inbound: EventPublisher
    llm_config: LlmConfigRepository
    messages: MessageLog
    graph: GraphClient
    health: HealthRepository


@dataclass
class ResourceService:
    """Base of the per-resource services (admin_services/): the stores and the shared rules."""

    stores: AdminStores

    def _load(self, caller: TenantContext, instance_id: str, write: bool = False) -> InstanceConfig:
        if not is_slug(instance_id):
            raise NotFoundError(instance_id)
        config = self.stores.instances.get(caller, instance_id)
        if not _can_read(caller, config):
            raise ForbiddenError("not your instance")
        if write and not _can_write(caller, config):
            raise ForbiddenError("read-only access" if caller.role == "guest" else "not your instance")
        return config

    def _views(self, caller: TenantContext, configs: list[InstanceConfig], base_url: str,
               generated_notify_secret: str | None = None) -> list[InstanceOut]:
        masked = self.stores.secrets.masked(caller, [c.instance_id for c in configs])
        return [
            InstanceOut(
                id=c.instance_id,
                webhook_url=f"{base_url}/webhook/{c.tenant_id}/{c.instance_id}",
                secrets=MaskedSecrets(**masked[c.instance_id]),
                generated_notify_secret=generated_notify_secret,
                **c.model_dump(exclude={"tenant_id", "instance_id"}),
            )
            for c in configs
        ]

    @staticmethod
    def _validated(data: dict) -> InstanceConfig:
        try:
            return InstanceConfig.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidInput(".".join(str(p) for p in error["loc"]), error["msg"]) from None

    def _audit(self, caller: TenantContext, instance_id: str, summary: str, fields: list[str]) -> None:
        """Who changed what (field names only: never values, never secrets)."""
        self.stores.activity.record(caller, instance_id, "admin_change", summary, {"fields": fields},
                                    actor=caller.principal_id)
