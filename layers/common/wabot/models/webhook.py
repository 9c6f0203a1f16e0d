"""WhatsApp Cloud API webhook payloads, as Meta documents them (see the README's references).

Meta adds fields and message types without notice, so every model keeps unknown fields
(`extra="allow"`), unknown message types validate as a plain `Message` with their content in
`model_extra`, and a known type whose content has an unexpected shape degrades to `None`
instead of failing the whole POST: the webhook queues each message's raw JSON anyway.
Users may come without a phone number (`from`/`wa_id`) since the 2026 username rollout; the
business-scoped user id (BSUID) is then the only identity.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator


def _lenient(value: Any, handler):
    """Validate, or give None when Meta sent a shape we do not know (never fail the POST)."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _lenient_list(value: Any, handler):
    """Keep the items that validate; a list of unknown shape becomes empty."""
    if not isinstance(value, list):
        return []
    items = []
    for item in value:
        try:
            items.extend(handler([item]))
        except ValidationError:
            continue
    return items


class MetaModel(BaseModel):
    # Built on first use, not at import: the webhook validates only the envelope models, and a
    # cold start should not pay for the content models of every message type.
    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True, defer_build=True)


class ErrorData(MetaModel):
    details: str | None = None


class MetaError(MetaModel):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: Annotated[ErrorData | None, WrapValidator(_lenient)] = None
    href: str | None = None


Errors = Annotated[list[MetaError], WrapValidator(_lenient_list)]


class Profile(MetaModel):
    name: str | None = None
    username: str | None = None


class Contact(MetaModel):
    """Who sent a message (`value.contacts[]`). Not present for system messages."""

    profile: Annotated[Profile | None, WrapValidator(_lenient)] = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class Metadata(MetaModel):
    display_phone_number: str | None = None
    phone_number_id: str | None = None


# ---- message contents, one per `type` -------------------------------------------------


class TextContent(MetaModel):
    body: str


class ButtonReply(MetaModel):
    id: str
    title: str | None = None


class ListReply(MetaModel):
    id: str
    title: str | None = None
    description: str | None = None


class FlowReply(MetaModel):
    """`nfm_reply`: a WhatsApp Flow's answer; `response_json` is a JSON *string*."""

    response_json: str | None = None
    body: str | None = None
    name: str | None = None


class InteractiveContent(MetaModel):
    type: str
    button_reply: Annotated[ButtonReply | None, WrapValidator(_lenient)] = None
    list_reply: Annotated[ListReply | None, WrapValidator(_lenient)] = None
    nfm_reply: Annotated[FlowReply | None, WrapValidator(_lenient)] = None

    @property
    def reply_id(self) -> str | None:
        reply = self.button_reply or self.list_reply
        return reply.id if reply else None


class TemplateButtonContent(MetaModel):
    """`button`: a tap on a template's quick-reply button."""

    payload: str | None = None
    text: str | None = None


class MediaContent(MetaModel):
    """image, audio, video, document and sticker."""

    id: str
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None
    caption: str | None = None
    filename: str | None = None
    animated: bool | None = None
    voice: bool | None = None


class LocationContent(MetaModel):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class SharedContactName(MetaModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class SharedContactPhone(MetaModel):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class SharedContact(MetaModel):
    name: Annotated[SharedContactName | None, WrapValidator(_lenient)] = None
    phones: Annotated[list[SharedContactPhone], WrapValidator(_lenient_list)] = Field(default_factory=list)
    emails: list[dict[str, Any]] = Field(default_factory=list)
    addresses: list[dict[str, Any]] = Field(default_factory=list)
    urls: list[dict[str, Any]] = Field(default_factory=list)
    org: dict[str, Any] | None = None
    birthday: str | None = None
    vcard: str | None = None
    origin: str | None = None


class ReactionContent(MetaModel):
    """An empty or missing emoji means the reaction was removed."""

    message_id: str | None = None
    emoji: str | None = None


class OrderItem(MetaModel):
    product_retailer_id: str | None = None
    quantity: int | str | None = None
    item_price: float | str | None = None
    currency: str | None = None


class OrderContent(MetaModel):
    catalog_id: str | None = None
    text: str | None = None
    product_items: Annotated[list[OrderItem], WrapValidator(_lenient_list)] = Field(default_factory=list)


class SystemContent(MetaModel):
    """user_changed_number, user_changed_user_id, customer_identity_changed, ..."""

    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class UnsupportedContent(MetaModel):
    type: str | None = None


class RevokeContent(MetaModel):
    original_message_id: str | None = None


class MessageContext(MetaModel):
    """Present when the user replied to (or forwarded) a message."""

    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: dict[str, Any] | None = None


_Content = TypeVar("_Content", bound=BaseModel)
# A message part: the model, or None when Meta sent a shape we do not know.
Lenient = Annotated[_Content | None, WrapValidator(_lenient)]


class MessageEnvelope(MetaModel):
    """What every inbound message (`value.messages[]`) carries whatever its type: all the webhook
    reads (it queues the content as Meta sent it, unvalidated)."""

    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    id: str | None = None
    timestamp: str | None = None
    type: str = "unknown"


class Message(MessageEnvelope):
    """One inbound message with its content validated. Only the field named by `type` is set."""

    context: Lenient[MessageContext] = None
    referral: dict[str, Any] | None = None
    group_id: str | None = None
    errors: Errors = Field(default_factory=list)

    text: Lenient[TextContent] = None
    interactive: Lenient[InteractiveContent] = None
    button: Lenient[TemplateButtonContent] = None
    image: Lenient[MediaContent] = None
    audio: Lenient[MediaContent] = None
    video: Lenient[MediaContent] = None
    document: Lenient[MediaContent] = None
    sticker: Lenient[MediaContent] = None
    location: Lenient[LocationContent] = None
    contacts: Annotated[list[SharedContact] | None, WrapValidator(_lenient)] = None
    reaction: Lenient[ReactionContent] = None
    order: Lenient[OrderContent] = None
    system: Lenient[SystemContent] = None
    unsupported: Lenient[UnsupportedContent] = None
    revoke: Lenient[RevokeContent] = None


class Status(MetaModel):
    """A status of a message we sent (`value.statuses[]`)."""

    id: str | None = None
    status: str = "unknown"
    timestamp: str | None = None
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_type: str | None = None
    recipient_participant_id: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    errors: Errors = Field(default_factory=list)


class ChangeValue(MetaModel):
    messaging_product: str | None = None
    metadata: Lenient[Metadata] = None
    contacts: Annotated[list[Contact], WrapValidator(_lenient_list)] = Field(default_factory=list)
    messages: Annotated[list[MessageEnvelope], WrapValidator(_lenient_list)] = Field(default_factory=list)
    statuses: Annotated[list[Status], WrapValidator(_lenient_list)] = Field(default_factory=list)
    errors: Errors = Field(default_factory=list)


class Change(MetaModel):
    field: str | None = None
    value: dict[str, Any] = Field(default_factory=dict)


class Entry(MetaModel):
    id: str | None = None
    time: int | None = None
    changes: list[Change] = Field(default_factory=list)


class WebhookPayload(MetaModel):
    object: str | None = None
    entry: list[Entry] = Field(default_factory=list)


WHATSAPP_OBJECT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"
