"""Reading template.yaml: CloudFormation short-form tags, and the few intrinsic functions the
local stack and the tests need to resolve (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


class Resolver:
    """Resolves intrinsics against physical ids, attributes and pseudo parameters."""

    def __init__(
        self,
        template: dict[str, Any],
        refs: dict[str, str],
        attributes: dict[tuple[str, str], str],
        conditions: dict[str, bool] | None = None,
    ) -> None:
        self._template = template
        self._refs = dict(refs)
        for name, spec in template.get("Parameters", {}).items():
            self._refs.setdefault(name, str(spec.get("Default", "")))
        self._attributes = attributes
        self._conditions = conditions or {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, arg), = value.items()
            if name == "Ref":
                return self._refs[arg]
            if name == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._attributes[(logical_id, attribute)]
            if name == "Fn::Sub":
                return self._sub(arg)
            if name == "Fn::Join":
                separator, items = arg
                return separator.join(str(self.resolve(item)) for item in items)
            if name == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self._conditions.get(condition) else when_false)
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # `${!Literal}` is CloudFormation's escape for `${Literal}`
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._attributes[(logical_id, attribute)]
            return self._refs[name]

        return re.sub(r"\$\{(!?[^}!]+)\}", replace, text)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def function_of(arn: dict[str, Any]) -> str:
    """The function a template ARN names: `!GetAtt Fn.Arn`, or `!Ref FnAlias{name}` (the alias
    SAM's AutoPublishAlias creates; the local stack has no versions, it invokes the function)."""
    if "Fn::GetAtt" in arn:
        return arn["Fn::GetAtt"][0]
    return re.sub(r"Alias[A-Za-z0-9]+$", "", arn["Ref"])


def function_environment(template: dict[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """Globals' variables overlaid with the function's own, resolved."""
    global_vars = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {name: str(resolver.resolve(value)) for name, value in {**global_vars, **own}.items()}


SCHEDULE_EVENT_TYPES = ("Schedule", "ScheduleV2")


def scheduled_functions(template: dict[str, Any]) -> list[str]:
    """Functions a schedule (EventBridge rule or Scheduler) starts, in template order."""
    return [logical_id for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
            if any(event.get("Type") in SCHEDULE_EVENT_TYPES
                   for event in resource["Properties"].get("Events", {}).values())]
