"""The webhook models accept every documented shape, and unknown ones without failing."""

from __future__ import annotations

import pytest

from tests import payloads
from wabot.models.webhook import (
    ChangeValue,
    InteractiveContent,
    LocationContent,
    MediaContent,
    Message,
    OrderContent,
    ReactionContent,
    Status,
    SystemContent,
    TemplateButtonContent,
    TextContent,
    UnsupportedContent,
    WebhookPayload,
)

EXPECTED_CONTENT = {
    "text": ("text", TextContent),
    "interactive_button": ("interactive", InteractiveContent),
    "interactive_list": ("interactive", InteractiveContent),
    "interactive_flow": ("interactive", InteractiveContent),
    "button": ("button", TemplateButtonContent),
    "image": ("image", MediaContent),
    "audio": ("audio", MediaContent),
    "video": ("video", MediaContent),
    "document": ("document", MediaContent),
    "sticker": ("sticker", MediaContent),
    "location": ("location", LocationContent),
    "reaction": ("reaction", ReactionContent),
    "order": ("order", OrderContent),
    "system": ("system", SystemContent),
    "unsupported": ("unsupported", UnsupportedContent),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_CONTENT))
def test_each_message_type_parses_to_its_content_model(kind):
    attribute, model = EXPECTED_CONTENT[kind]
    message = Message.model_validate(payloads.message_of_kind(kind, "wamid.1"))
    assert isinstance(getattr(message, attribute), model)


def test_interactive_replies_expose_the_reply_id():
    button = Message.model_validate(payloads.message_of_kind("interactive_button", "m")).interactive
    listed = Message.model_validate(payloads.message_of_kind("interactive_list", "m")).interactive
    flow = Message.model_validate(payloads.message_of_kind("interactive_flow", "m")).interactive
    assert (button.reply_id, listed.reply_id, flow.reply_id) == ("sales:start", "faq:price", None)
    assert flow.nfm_reply.response_json == '{"flow_token": "x"}'


def test_shared_contacts_and_order_items():
    message = Message.model_validate(payloads.message_of_kind("contacts", "m"))
    assert message.contacts[0].phones[0].wa_id == "79000000000"
    order = Message.model_validate(payloads.message_of_kind("order", "m")).order
    assert order.product_items[0].quantity == 2


def test_unsupported_message_carries_its_error():
    message = Message.model_validate(payloads.message_of_kind("unsupported", "m"))
    assert message.errors[0].code == 131051
    assert message.errors[0].error_data.details == "poll"


def test_message_without_phone_and_reply_context():
    raw = payloads.message("wamid.1", "text", {"body": "hi"}, phone=None,
                           context={"from": "15550783881", "id": "wamid.OUT", "forwarded": True})
    message = Message.model_validate(raw)
    assert message.from_ is None
    assert message.from_user_id == payloads.BSUID
    assert message.context.id == "wamid.OUT"
    assert message.context.forwarded is True


def test_unknown_type_keeps_its_content_as_extra():
    message = Message.model_validate({"id": "m", "type": "hologram", "hologram": {"x": 1}, "from": "1"})
    assert message.type == "hologram"
    assert message.model_extra["hologram"] == {"x": 1}


def test_known_type_with_unexpected_shape_degrades_to_none():
    message = Message.model_validate({"id": "m", "type": "text", "text": {"no_body": True}})
    assert message.text is None
    location = Message.model_validate({"id": "m", "type": "location", "location": "here"})
    assert location.location is None


def test_numeric_timestamp_and_ids_are_accepted_as_strings():
    message = Message.model_validate({"id": "m", "type": "text", "timestamp": 1767225600, "from": 16505551234})
    assert message.timestamp == "1767225600"
    assert message.from_ == "16505551234"


def test_statuses_with_pricing_errors_and_missing_recipient():
    status = Status.model_validate(payloads.status("wamid.O", "failed", recipient=None, errors=[
        {"code": 131026, "title": "Message undeliverable"}]))
    assert status.recipient_id is None
    assert status.errors[0].code == 131026
    played = Status.model_validate(payloads.status("wamid.O", "played"))
    assert played.status == "played"
    group = Status.model_validate({"id": "w", "status": "read", "recipient_type": "group",
                                   "recipient_id": "120363", "recipient_participant_id": "1555"})
    assert group.recipient_participant_id == "1555"


def test_change_value_with_contacts_and_value_errors():
    value = ChangeValue.model_validate(payloads.change(
        "1", contacts=[payloads.contact(username="@kf")], messages=[],
        errors=[{"code": 131000, "title": "x"}])["value"])
    assert value.contacts[0].profile.username == "@kf"
    assert value.errors[0].code == 131000
    assert value.metadata.phone_number_id == "1"


def test_bad_list_items_are_dropped_not_fatal():
    value = ChangeValue.model_validate({"contacts": ["nope", {"wa_id": "1"}], "errors": "broken"})
    assert [c.wa_id for c in value.contacts] == ["1"]
    assert value.errors == []


def test_payload_with_several_entries_and_future_fields():
    payload = WebhookPayload.model_validate({
        "object": "whatsapp_business_account", "future": 1,
        "entry": [{"id": "a", "time": 1, "changes": [{"field": "messages", "value": {}}]},
                  {"id": "b", "changes": [{"field": "account_update", "value": {"event": "X"}}]}]})
    assert [entry.id for entry in payload.entry] == ["a", "b"]
    assert payload.model_extra == {"future": 1}
