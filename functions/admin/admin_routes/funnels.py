"""Routes of funnels (flows), their templates, simulation and stats: each calls its service."""

from __future__ import annotations

import json
from functools import cache

from admin_models import (
    FunnelOut,
    FunnelStats,
    FunnelTemplateList,
    FunnelTemplateOut,
    SimulateRequest,
    SimulationOut,
)
from admin_wiring import service
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from admin_routes.common import INSTANCE, Days, caller, documented

router = APIGatewayHttpRouter()


@router.get(INSTANCE + "/funnel", summary="The instance's funnel (the default one when it has none)",
            responses=documented(FunnelOut, 403, 404))
def get_funnel(instance_id: str) -> FunnelOut:
    return service().funnels.get_funnel(caller(router), instance_id)


@router.put(INSTANCE + "/funnel", summary="Replace the funnel with a flow document (GET /admin/funnel/schema.json), "
            "or with a template: {\"template\": name}; checked against WhatsApp's limits in every language, 422 "
            "naming node and field; warnings in the answer", responses=documented(FunnelOut, 403, 404, 409))
def put_funnel(instance_id: str, body: dict) -> FunnelOut:
    return service().funnels.put_funnel(caller(router), instance_id, body)


@router.delete(INSTANCE + "/funnel", summary="Go back to the default funnel", responses=documented(FunnelOut, 403, 404))
def delete_funnel(instance_id: str) -> FunnelOut:
    return service().funnels.delete_funnel(caller(router), instance_id)


@router.post(INSTANCE + "/funnel/simulate", summary="What the bot would send for these inputs, with a draft flow or "
             "the instance's; nothing is sent or stored", responses=documented(SimulationOut, 404))
def simulate_instance_funnel(instance_id: str, body: SimulateRequest) -> SimulationOut:
    return service().funnels.simulate_funnel(caller(router), instance_id, body)


@router.get(INSTANCE + "/funnel/stats", summary="Per day and node: how many users reached it and how many left "
            "the flow there", responses=documented(FunnelStats, 403, 404))
def funnel_stats(instance_id: str, days: Days = 7) -> FunnelStats:
    return service().funnels.funnel_stats(caller(router), instance_id, days)


@router.post("/admin/funnel/simulate", summary="Simulate a draft flow without an instance; nothing is sent or stored",
             responses=documented(SimulationOut))
def simulate_draft_funnel(body: SimulateRequest) -> SimulationOut:
    return service().funnels.simulate_funnel(caller(router), None, body)


@router.get("/admin/funnel/templates", summary="The shipped flow templates", responses=documented(FunnelTemplateList))
def funnel_templates() -> FunnelTemplateList:
    return service().funnels.funnel_templates()


@router.get("/admin/funnel/templates/<name>", summary="One template's flow document",
            responses=documented(FunnelTemplateOut, 404))
def funnel_template(name: str) -> FunnelTemplateOut:
    return service().funnels.funnel_template(name)


@router.get("/admin/funnel/schema.json", summary="The JSON Schema of the flow document", include_in_schema=False)
def funnel_schema() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=flow_schema())


@cache
def flow_schema() -> str:
    from wabot.funnel.flow import Flow

    return json.dumps(Flow.model_json_schema(by_alias=True), ensure_ascii=False)
