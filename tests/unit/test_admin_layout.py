"""The admin function's layout: routes in one router per resource, logic in services that know no HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import admin_handler

ADMIN = Path(__file__).resolve().parents[2] / "functions" / "admin"
HTTP_MODULES = ("aws_lambda_powertools.event_handler", "admin_routes", "admin_handler", "botocore")


def test_every_route_but_the_document_comes_from_a_resource_router():
    modules = {route.func.__module__ for route in admin_handler.app._static_routes + admin_handler.app._dynamic_routes
               if route.func.__name__ != "openapi"}
    assert modules == {f"admin_routes.{name}" for name in
                       ("instances", "lifecycle", "stats", "funnels", "inbox", "settings", "keys")}


def test_services_know_nothing_of_http():
    for path in [ADMIN / "admin_service.py", *sorted((ADMIN / "admin_services").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not [n for n in names if n.startswith(HTTP_MODULES)], (path.name, names)
