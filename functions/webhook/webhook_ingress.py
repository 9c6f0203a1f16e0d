"""Webhook ingress: verify Meta's subscription handshake and signatures, and turn each
notification into queued events. Knows nothing of HTTP or Lambda events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from pydantic import ValidationError

from wabot.errors import PlatformError
from wabot.models.activity import ActivityKind
from wabot.models.events import InboundEvent
from wabot.models.health import ACCOUNT_FIELDS, AccountEvent
from wabot.models.instance import InstanceConfig
from wabot.models.webhook import (
    MESSAGES_FIELD,
    WHATSAPP_OBJECT,
    Change,
    ChangeValue,
    Contact,
    Entry,
    MessageEnvelope,
    Status,
    WebhookPayload,
)
from wabot.queue import EventPublisher, HealthQueue
from wabot.repositories.activity import ActivityLog
from wabot.repositories.instances import InstanceRegistry
from wabot.repositories.secrets import SecretStore
from wabot.tenancy import TenantContext

SIGNATURE_PREFIX = "sha256="


class VerificationFailed(PlatformError):
    """GET handshake refused: wrong mode or verify token."""


class SignatureRejected(PlatformError):
    """POST refused before reading the body: missing, malformed or wrong signature."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadTooLarge(PlatformError):
    pass


class InvalidPayload(PlatformError):
    """Correctly signed, but not a JSON webhook notification."""


@dataclass
class Notification:
    """What one webhook POST contained, after routing it to the instance."""

    events: list[InboundEvent] = field(default_factory=list)
    account_events: list[AccountEvent] = field(default_factory=list)
    ignored_changes: int = 0
    foreign_phone_number_ids: list[str] = field(default_factory=list)
    value_error_codes: list[int] = field(default_factory=list)
    unreadable_items: int = 0

    @property
    def message_count(self) -> int:
        return sum(1 for event in self.events if event.kind == "message")

    @property
    def status_count(self) -> int:
        return sum(1 for event in self.events if event.kind == "status")


def signature_is_valid(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 of the exact raw bytes with the app secret, compared in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX) :].strip().lower())


def _to_epoch(timestamp: str | None, default: int) -> int:
    try:
        return int(timestamp) if timestamp is not None else default
    except ValueError:
        return default


def _synthetic_id(raw: Any) -> str:
    """Stable id for an item Meta sent without one, so that its retries dedupe too."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"synthetic.{digest[:40]}"


def _items(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key)
    return items if isinstance(items, list) else []


def _readable(raw: dict[str, Any], *names: str) -> dict[str, str]:
    """The named fields that are plain strings or numbers (never booleans), as strings."""
    return {name: str(raw[name]) for name in names
            if isinstance(raw.get(name), str | int | float) and not isinstance(raw.get(name), bool)}


def _find_contact(contacts: list[Contact], user_id: str | None, phone: str | None) -> Contact | None:
    for contact in contacts:
        if (user_id and contact.user_id == user_id) or (phone and contact.wa_id == phone):
            return contact
    return contacts[0] if len(contacts) == 1 else None


class _ChangeNormalizer:
    """Turns one `messages` change of one POST into events for one instance."""

    def __init__(self, config: InstanceConfig, waba_id: str | None, request_id: str, now: int) -> None:
        self._config = config
        self._waba_id = waba_id
        self._request_id = request_id
        self._now = now

    def _event(self, **fields: Any) -> InboundEvent:
        return InboundEvent(
            tenant_id=self._config.tenant_id,
            instance_id=self._config.instance_id,
            config_version=self._config.version,
            phone_number_id=self._config.phone_number_id,
            waba_id=self._waba_id,
            request_id=self._request_id,
            **fields,
        )

    def message(self, raw: dict[str, Any], value: ChangeValue) -> InboundEvent:
        try:
            message = MessageEnvelope.model_validate(raw)
        except ValidationError:
            # A common field of an unexpected shape: keep what is readable, queue the raw JSON.
            message = MessageEnvelope.model_validate(_readable(raw, "id", "type", "from", "from_user_id", "timestamp"))
        contact = _find_contact(value.contacts, message.from_user_id, message.from_)
        user_id = message.from_user_id or (contact.user_id if contact else None)
        phone = message.from_ or (contact.wa_id if contact else None)
        message_id = message.id or _synthetic_id(raw)
        profile = contact.profile if contact else None
        return self._event(
            kind="message",
            user_key=user_id or phone or f"unknown:{message_id}",
            user_id=user_id,
            phone=phone,
            profile_name=profile.name if profile else None,
            username=profile.username if profile else None,
            message_id=message_id,
            type=message.type,
            content=raw.get(message.type),
            raw=raw,
            timestamp=_to_epoch(message.timestamp, self._now),
        )

    def status(self, raw: dict[str, Any], value: ChangeValue) -> InboundEvent:
        try:
            status = Status.model_validate(raw)
        except ValidationError:
            status = Status.model_validate(_readable(raw, "id", "status", "recipient_id", "recipient_user_id"))
        is_group = status.recipient_type == "group"
        user_id = status.recipient_user_id
        phone = None if is_group else status.recipient_id
        contact = _find_contact(value.contacts, user_id, phone)
        message_id = status.id or _synthetic_id(raw)
        return self._event(
            kind="status",
            user_key=user_id or status.recipient_id or f"unknown:{message_id}",
            user_id=user_id,
            phone=phone,
            profile_name=contact.profile.name if contact and contact.profile else None,
            message_id=message_id,
            type=status.status,
            content={"errors": raw.get("errors"), "pricing": raw.get("pricing")},
            raw=raw,
            timestamp=_to_epoch(status.timestamp, self._now),
        )


def normalize(payload: WebhookPayload, config: InstanceConfig, request_id: str, now: int) -> Notification:
    """Every message and status addressed to the instance's own number becomes one event; every
    account change of the instance's business account (when it names one) one account event."""
    result = Notification()
    for entry in payload.entry:
        for change in entry.changes:
            if change.field in ACCOUNT_FIELDS:
                _account_change(result, entry, change.field, change.value, config, now)
            elif change.field == MESSAGES_FIELD:
                _messages_change(result, entry, change, config, request_id, now)
            else:
                result.ignored_changes += 1
    return result


def _account_change(result: Notification, entry: Entry, field: str, value: dict[str, Any], config: InstanceConfig,
                    now: int) -> None:
    if config.waba_id and entry.id != config.waba_id:
        result.foreign_phone_number_ids.append(f"waba:{entry.id or 'missing'}"[:64])
        return
    result.account_events.append(AccountEvent(
        tenant_id=config.tenant_id, instance_id=config.instance_id, field=field,
        value=value, time=entry.time if entry.time and entry.time > 0 else now))


def _messages_change(result: Notification, entry: Entry, change: Change, config: InstanceConfig, request_id: str,
                     now: int) -> None:
    value = ChangeValue.model_validate(change.value)
    own_number = value.metadata.phone_number_id if value.metadata else None
    if own_number != config.phone_number_id:
        result.foreign_phone_number_ids.append(own_number or "missing")
        return
    result.value_error_codes.extend(error.code for error in value.errors if error.code is not None)
    normalizer = _ChangeNormalizer(config, entry.id, request_id, now)
    for raw in _items(change.value, "messages"):
        if isinstance(raw, dict):
            result.events.append(normalizer.message(raw, value))
        else:
            result.unreadable_items += 1
    for raw in _items(change.value, "statuses"):
        if isinstance(raw, dict):
            result.events.append(normalizer.status(raw, value))
        else:
            result.unreadable_items += 1


class WebhookIngress:
    def __init__(
        self,
        registry: InstanceRegistry,
        secrets: SecretStore,
        publisher: EventPublisher,
        activity: ActivityLog,
        max_body_bytes: int,
        logger: Any,
        health_queue: HealthQueue | None = None,
    ) -> None:
        self._registry = registry
        self._secrets = secrets
        self._publisher = publisher
        self._health_queue = health_queue
        self._activity = activity
        self._max_body_bytes = max_body_bytes
        self._logger = logger

    def verify_subscription(
        self, tenant: TenantContext, instance_id: str, mode: str | None, token: str | None, challenge: str | None
    ) -> str:
        """Meta's GET handshake: the challenge back only for the instance's own verify token."""
        config = self._registry.get(tenant, instance_id)
        expected = self._secrets.get(tenant, config, "verify_token")
        token_ok = bool(expected and token is not None and hmac.compare_digest(
            token.encode("utf-8"), expected.encode("utf-8")
        ))
        if mode != "subscribe" or not token_ok or challenge is None:
            self._count_rejection(tenant, instance_id, "verification refused: " + (
                "wrong mode or verify token" if expected else "no verify token configured"), {})
            raise VerificationFailed()
        self._record(tenant, instance_id, "webhook_accepted", "verification handshake answered", {})
        return challenge

    def receive(
        self, tenant: TenantContext, instance_id: str, raw_body: bytes, signature: str | None, request_id: str
    ) -> Notification:
        """Verify, parse and queue one POST. Returns only once every event is queued."""
        if len(raw_body) > self._max_body_bytes:
            raise PayloadTooLarge()
        config = self._registry.get(tenant, instance_id)
        app_secret = self._secrets.get(tenant, config, "app_secret")
        if not app_secret:
            self._reject(tenant, instance_id, "no app secret configured", request_id)
        if not signature_is_valid(app_secret, raw_body, signature):
            self._reject(tenant, instance_id, "missing signature" if not signature else "invalid signature",
                         request_id)
        try:
            payload = WebhookPayload.model_validate_json(raw_body)
        except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            self._record(tenant, instance_id, "webhook_rejected", "signed body is not a webhook notification",
                         {"reason": type(exc).__name__, "request_id": request_id})
            raise InvalidPayload() from exc

        if payload.object != WHATSAPP_OBJECT:
            self._record(tenant, instance_id, "webhook_ignored", "not a WhatsApp Business notification",
                         {"object": str(payload.object)[:64], "request_id": request_id})
            return Notification()

        notification = normalize(payload, config, request_id, now=int(time.time()))
        if notification.foreign_phone_number_ids:
            self._logger.warning(
                "changes for another phone number id ignored",
                extra={"foreign_phone_number_ids": notification.foreign_phone_number_ids},
            )
        self._publisher.publish(notification.events)
        if notification.account_events:
            if self._health_queue is None:
                raise ValueError("account events need the health queue")
            self._health_queue.send(notification.account_events)
        notable = {
            "ignored_changes": notification.ignored_changes,
            "foreign_phone_number_ids": notification.foreign_phone_number_ids,
            "value_error_codes": notification.value_error_codes,
            "unreadable_items": notification.unreadable_items,
        }
        if any(notable.values()):  # ordinary traffic is counted in stats, not written to the log
            self._record(
                tenant, instance_id, "webhook_accepted",
                f"{notification.message_count} message(s), {notification.status_count} status(es) queued, "
                "some parts ignored",
                {"request_id": request_id, "messages": notification.message_count,
                 "statuses": notification.status_count, **notable},
            )
        return notification

    def _reject(self, tenant: TenantContext, instance_id: str, reason: str, request_id: str) -> NoReturn:
        self._count_rejection(tenant, instance_id, reason, {"request_id": request_id[:64]})
        raise SignatureRejected(reason)

    def _count_rejection(self, tenant: TenantContext, instance_id: str, reason: str, detail: dict[str, str]) -> None:
        """Anyone can send these: counted per minute, never one log item each (best effort)."""
        try:
            self._activity.count_rejection(tenant, instance_id, reason, detail)
        except Exception:
            self._logger.exception("rejection count failed")

    def _record(self, tenant: TenantContext, instance_id: str, kind: ActivityKind, summary: str,
                detail: dict) -> None:
        """Best effort: the activity log must never turn an accepted webhook into a retry.
        (Messages are counted by the funnel, once deduplicated.)"""
        try:
            self._activity.record(tenant, instance_id, kind, summary, detail)
        except Exception:
            self._logger.exception("activity record failed", extra={"activity_kind": kind})
