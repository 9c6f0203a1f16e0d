"""One mapping of the platform's errors to HTTP answers, shared by the webhook and admin functions."""

from __future__ import annotations

import admin_handler
import pytest
import webhook_handler

from wabot.errors import (
    ConflictError,
    ForbiddenError,
    InstanceNotFound,
    NotFoundError,
    QueueSendError,
    TenantContextError,
    UnauthorizedError,
)
from wabot.http_errors import STATUS, error_response


class TakenNumber(ConflictError):
    public_message = "this number belongs to another instance"

    def __init__(self) -> None:
        super().__init__("internal detail")
        self.details = {"field": "phone_number_id"}


@pytest.mark.parametrize("error, status, body", [
    (NotFoundError("acme/secret-bot"), 404, {"message": "not found"}),
    (InstanceNotFound("x"), 404, {"message": "not found"}),  # a subclass: its base's answer
    (TenantContextError("no tenant"), 404, {"message": "not found"}),
    (UnauthorizedError("bad key"), 401, {"message": "unauthorized"}),
    (ForbiddenError("admin role required"), 403, {"message": "admin role required"}),
    (TakenNumber(), 409, {"message": "this number belongs to another instance", "field": "phone_number_id"}),
    (QueueSendError("sqs said no: queue-url"), 503, {"message": "temporarily unavailable, retry later"}),
])
def test_each_platform_error_has_one_answer(error, status, body):
    response = error_response(error)
    assert response.status_code == status
    assert response.body == body


@pytest.mark.parametrize("app", [admin_handler.app, webhook_handler.app])
def test_both_http_functions_answer_by_the_mapping(app):
    handlers = app.exception_handler_manager.get_registered_handlers()
    for kind in STATUS:
        error = kind("detail")
        answer, expected = handlers[kind](error), error_response(error)
        assert (answer.status_code, answer.body) == (expected.status_code, expected.body), kind


def test_the_answer_is_json():
    assert error_response(NotFoundError("x")).headers["Content-Type"] == "application/json"
