"""Routes of instances: each parses, calls its service, returns its model."""

from __future__ import annotations

from admin_models import (
    InstanceCreate,
    InstanceList,
    InstanceOut,
    InstanceUpdate,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import INSTANCE, Cursor, PageSize, base_url, caller, documented

router = APIGatewayHttpRouter()


@router.get("/admin/whatsapp/instances", summary="List instances (admins and guests: all; users: their own)",
            responses=documented(InstanceList))
def list_instances(limit: PageSize = 50, cursor: Cursor = None
                   ) -> InstanceList:
    return service().instances.list_instances(caller(router), base_url(router), limit, cursor)


@router.post("/admin/whatsapp/instances", summary="Create an instance",
             responses=documented(InstanceOut, 403, 409, success=201))
def create_instance(body: InstanceCreate) -> tuple[InstanceOut, int]:
    return service().instances.create_instance(caller(router), body, base_url(router)), 201


@router.get(INSTANCE, summary="Read an instance (secrets masked)", responses=documented(InstanceOut, 403, 404))
def get_instance(instance_id: str) -> InstanceOut:
    return service().instances.get_instance(caller(router), instance_id, base_url(router))


@router.put(INSTANCE, summary="Update the given fields; given secrets are rotated",
            responses=documented(InstanceOut, 403, 404, 409))
def update_instance(instance_id: str, body: InstanceUpdate) -> InstanceOut:
    return service().instances.update_instance(caller(router), instance_id, body, base_url(router))


@router.delete(INSTANCE, summary="Delete the instance, its secrets and all its data",
               responses=documented(None, 403, 404, 409, success=204))
def delete_instance(instance_id: str) -> Response[None]:
    service().instances.delete_instance(caller(router), instance_id)
    return Response(status_code=204)
