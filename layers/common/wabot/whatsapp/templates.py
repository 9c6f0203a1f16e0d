"""WhatsApp message templates: how many variables each component takes, and the send body.

A template (as `GET /{waba_id}/message_templates` answers it) has components: a `HEADER`
(variables only when its format is `TEXT`), a `BODY`, an optional `FOOTER` and `BUTTONS`
(a `URL` button may end in one variable). Its variables are `{{1}}`, `{{2}}`... (positional)
or `{{name}}` (named); each distinct one needs one value, in order of appearance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def variables(text: str | None) -> list[str]:
    """The distinct variables of a text, in order of first appearance."""
    seen: list[str] = []
    for name in _VARIABLE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class TemplateShape:
    name: str
    language: str
    category: str | None
    status: str
    text: str
    header: int
    body: int
    buttons: tuple[int, ...]

    @classmethod
    def parse(cls, template: dict[str, Any]) -> TemplateShape:
        header = body = 0
        text = ""
        buttons: list[int] = []
        for component in template.get("components") or []:
            kind = str(component.get("type", "")).upper()
            if kind == "HEADER" and str(component.get("format", "TEXT")).upper() == "TEXT":
                header = len(variables(component.get("text")))
            elif kind == "BODY":
                text = str(component.get("text", ""))
                body = len(variables(text))
            elif kind == "BUTTONS":
                buttons = [len(variables(button.get("url"))) if str(button.get("type", "")).upper() == "URL" else 0
                           for button in component.get("buttons") or []]
        return cls(name=str(template.get("name", "")), language=str(template.get("language", "")),
                   category=template.get("category"), status=str(template.get("status", "")), text=text,
                   header=header, body=body, buttons=tuple(buttons))

    def problems(self, header: list[str], body: list[str], buttons: list[list[str]]) -> list[tuple[str, str]]:
        """(field, message) for every component whose values do not match the template."""
        found = []
        if len(header) != self.header:
            found.append(("header", f"the template's header takes {self.header} value(s), {len(header)} given"))
        if len(body) != self.body:
            found.append(("body", f"the template's body takes {self.body} value(s), {len(body)} given"))
        wanted = list(self.buttons)
        given = [len(values) for values in buttons]
        if len(given) > len(wanted) or given + [0] * (len(wanted) - len(given)) != wanted:
            found.append(("buttons", f"the template's buttons take {wanted} value(s) each, {given} given"))
        return found

    def graph_template(self, header: list[str], body: list[str], buttons: list[list[str]]) -> dict[str, Any]:
        """The `template` object of a Graph API template send."""
        components: list[dict[str, Any]] = []
        if header:
            components.append({"type": "header", "parameters": [{"type": "text", "text": v} for v in header]})
        if body:
            components.append({"type": "body", "parameters": [{"type": "text", "text": v} for v in body]})
        for index, values in enumerate(buttons):
            if values:
                components.append({"type": "button", "sub_type": "url", "index": str(index),
                                   "parameters": [{"type": "text", "text": v} for v in values]})
        return {"name": self.name, "language": {"code": self.language}, **({"components": components}
                                                                           if components else {})}


def given_values(template: dict[str, Any]) -> tuple[list[str], list[str], list[list[str]]]:
    """(header, body, buttons) values of a Graph API `template` object (the fake Graph API checks them)."""
    header: list[str] = []
    body: list[str] = []
    buttons: dict[int, list[str]] = {}
    for component in template.get("components") or []:
        values = [str(p.get("text", "")) for p in component.get("parameters") or [] if isinstance(p, dict)]
        kind = str(component.get("type", "")).lower()
        if kind == "header":
            header = values
        elif kind == "body":
            body = values
        elif kind == "button":
            buttons[int(component.get("index", 0))] = values
    return header, body, [buttons.get(i, []) for i in range(max(buttons, default=-1) + 1)]
