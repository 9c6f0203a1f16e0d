"""Funnels: an instance's flow, the shipped templates, simulation, per-node stats.

Logic only: no HTTP here (admin_routes maps it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from admin_models import (
    FlowProblem,
    FunnelDayStats,
    FunnelNodeStats,
    FunnelOut,
    FunnelStats,
    FunnelTemplateInfo,
    FunnelTemplateList,
    FunnelTemplateOut,
    SimulateRequest,
    SimulationOut,
)
from admin_service import (
    InvalidInput,
    ResourceService,
)

from wabot.errors import NotFoundError
from wabot.funnel.flow import Flow
from wabot.funnel.simulate import simulate
from wabot.funnel.templates import TEMPLATES, default_funnel, template, template_document
from wabot.funnel.validation import parse_flow
from wabot.models.instance import InstanceConfig
from wabot.repositories.funnels import FlowTooLarge
from wabot.tenancy import TenantContext


@dataclass
class FunnelService(ResourceService):
    """An instance's flow, the shipped templates, simulation, per-node stats."""

    def get_funnel(self, caller: TenantContext, instance_id: str) -> FunnelOut:
        self._load(caller, instance_id)
        custom = self.stores.funnels.get(caller, instance_id)
        return FunnelOut(custom=custom is not None, definition=(custom or default_funnel()).document())

    def put_funnel(self, caller: TenantContext, instance_id: str, document: dict) -> FunnelOut:
        """A flow document, or {"template": name} to start over from a shipped template."""
        config = self._load(caller, instance_id, write=True)
        flow, warnings = self._flow(document)
        try:
            self.stores.funnels.put(caller, instance_id, flow)
        except FlowTooLarge as exc:
            raise InvalidInput("definition", str(exc)) from None
        self._bump(caller, config)
        self._audit(caller, instance_id, "funnel replaced", [])
        return FunnelOut(custom=True, definition=flow.document(), warnings=warnings)

    def delete_funnel(self, caller: TenantContext, instance_id: str) -> FunnelOut:
        config = self._load(caller, instance_id, write=True)
        self.stores.funnels.delete(caller, instance_id)
        self._bump(caller, config)
        self._audit(caller, instance_id, "funnel reset to the default", [])
        return FunnelOut(custom=False, definition=default_funnel().document())

    def simulate_funnel(self, caller: TenantContext, instance_id: str | None,
                        request: SimulateRequest) -> SimulationOut:
        """Nothing is sent or stored. Without an instance, the draft is simulated on its own."""
        if instance_id is not None:
            config = self._load(caller, instance_id)
        else:
            config = InstanceConfig(tenant_id=caller.tenant_id, instance_id="draft", name="draft",
                                    phone_number_id="0")
        warnings: list[FlowProblem] = []
        if request.definition is not None:
            flow, warnings = self._flow(request.definition)
        elif instance_id is not None:
            flow = self.stores.funnels.get(caller, instance_id) or default_funnel()
        else:
            raise InvalidInput("definition", "a draft flow is required without an instance")
        result = simulate(flow, request.inputs, config, time.time(), language=request.language)
        return SimulationOut(turns=result.turns, variables=result.variables, at=result.at,
                             waiting_for=result.waiting_for, warnings=warnings)

    def funnel_stats(self, caller: TenantContext, instance_id: str, days: int) -> FunnelStats:
        self._load(caller, instance_id)
        rows = self.stores.stats.funnel_days(caller, instance_id, days)
        totals: dict[str, dict[str, int]] = {}
        out_days = []
        for row in rows:
            nodes = {}
            for node, counts in row["nodes"].items():
                reached, moved_on = counts.get("in", 0), counts.get("out", 0)
                nodes[node] = FunnelNodeStats(reached=reached, left=max(0, reached - moved_on))
                total = totals.setdefault(node, {"in": 0, "out": 0})
                total["in"] += reached
                total["out"] += moved_on
            out_days.append(FunnelDayStats(date=row["date"], nodes=nodes))
        return FunnelStats(days=out_days, totals={
            node: FunnelNodeStats(reached=t["in"], left=max(0, t["in"] - t["out"])) for node, t in totals.items()})

    def funnel_templates(self) -> FunnelTemplateList:
        return FunnelTemplateList(items=[FunnelTemplateInfo(name=name, title=title, description=description)
                                         for name, (title, description) in TEMPLATES.items()])

    def funnel_template(self, name: str) -> FunnelTemplateOut:
        if name not in TEMPLATES:
            raise NotFoundError(name)
        title, description = TEMPLATES[name]
        return FunnelTemplateOut(name=name, title=title, description=description,
                                 definition=template_document(name))

    @staticmethod
    def _flow(document: dict) -> tuple[Flow, list[FlowProblem]]:
        """The validated flow and its warnings; InvalidInput naming node and field otherwise."""
        if set(document) == {"template"}:
            name = document["template"]
            if not isinstance(name, str) or name not in TEMPLATES:
                raise InvalidInput("template", f"unknown template; one of {', '.join(TEMPLATES)}")
            return template(name), []
        flow, problems = parse_flow(document)
        errors = [p for p in problems if p.level == "error"]
        if flow is None:
            located = [(".".join(map(str, p.loc)) or "definition", p.msg) for p in errors or problems]
            raise InvalidInput(*located[0], more=located[1:])
        return flow, [FlowProblem(**p.as_dict()) for p in problems if p.level == "warning"]

    def _bump(self, caller: TenantContext, config: InstanceConfig) -> None:
        """A new config version makes warm workers reload (here: the funnel they cached)."""
        new = config.model_copy(update={"version": config.version + 1, "updated_at": datetime.now(UTC)})
        self.stores.instances.replace(caller, config, new)
        self.stores.registry.invalidate(caller, config.instance_id)
