"""Routes of lifecycle and status: each parses, calls its service, returns its model."""

from __future__ import annotations

from admin_models import (
    InstanceHealth,
    InstanceOut,
    InstanceStatus,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import INSTANCE, base_url, caller, documented

router = APIGatewayHttpRouter()


@router.post(INSTANCE + "/start", summary="Start: running, and auto_start on",
             responses=documented(InstanceOut, 403, 404, 409))
def start(instance_id: str) -> InstanceOut:
    return service().lifecycle.lifecycle(caller(router), instance_id, "start", base_url(router))


@router.post(INSTANCE + "/stop", summary="Stop: webhooks still recorded, nothing sent; auto_start off",
             responses=documented(InstanceOut, 403, 404, 409))
def stop(instance_id: str) -> InstanceOut:
    return service().lifecycle.lifecycle(caller(router), instance_id, "stop", base_url(router))


@router.post(INSTANCE + "/restart", summary="Restart: every warm function reloads config and secrets",
             responses=documented(InstanceOut, 403, 404, 409))
def restart(instance_id: str) -> InstanceOut:
    return service().lifecycle.lifecycle(caller(router), instance_id, "restart", base_url(router))


@router.get(INSTANCE + "/status", summary="State and health", responses=documented(InstanceStatus, 403, 404))
def status(instance_id: str) -> InstanceStatus:
    return service().lifecycle.status(caller(router), instance_id)


@router.get(INSTANCE + "/health", summary="WhatsApp account health: token, quality, limits, template statuses",
            responses=documented(InstanceHealth, 403, 404))
def health(instance_id: str) -> InstanceHealth:
    return service().lifecycle.health_of(caller(router), instance_id)
