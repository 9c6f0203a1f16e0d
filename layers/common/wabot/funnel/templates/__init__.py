"""The shipped flow templates: JSON documents in the flow language, beside this file.

`sales` is the platform's default funnel (every instance without a flow of its own uses it);
`clinic` books appointments at a dental clinic and shows the language is not about sales.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from wabot.funnel.flow import Flow

DEFAULT_TEMPLATE = "sales"
TEMPLATES = {
    "sales": ("Sales funnel", "Quiz with More / Done, segments, GPU audit, Basic offer with the payment link, "
                              "five-step Custom discovery and quote, FAQ in three sections, the spec generator "
                              "(English and Russian)."),
    "clinic": ("Clinic appointments", "A dental clinic: services list, name, date and phone asked with "
                                      "validation, a branch on the service, confirmation, hand-off to the "
                                      "receptionist, questions answered by the LLM (English)."),
}


@cache
def _document(name: str) -> dict[str, Any]:
    return json.loads((Path(__file__).parent / f"{name}.json").read_text(encoding="utf-8"))


def template_document(name: str) -> dict[str, Any]:
    """A copy of the template's document; KeyError for an unknown name."""
    if name not in TEMPLATES:
        raise KeyError(name)
    return copy.deepcopy(_document(name))


@cache
def template(name: str) -> Flow:
    return Flow.model_validate(template_document(name))


def default_funnel() -> Flow:
    return template(DEFAULT_TEMPLATE)
