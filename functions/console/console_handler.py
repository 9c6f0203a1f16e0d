"""Lambda handler of the admin console: static files on the admin API's own origin.

The console is a client of the admin API only; this function serves its files with the
security headers, long-lived caching for versioned assets and gzip when the browser accepts it.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from console_assets import SECURITY_HEADERS, Asset, ConsoleAssets

from wabot import metrics, snapstart, tracing

logger = Logger(service="console")
app = APIGatewayHttpResolver()


@cache
def assets() -> ConsoleAssets:
    return ConsoleAssets()


def _redirect(location: str) -> Response:
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-cache"})


def _serve(asset: Asset) -> Response:
    if app.current_event.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers={"ETag": asset.etag, "Cache-Control": asset.cache_control})
    return Response(status_code=200, content_type=asset.content_type, body=asset.body, compress=asset.compressible,
                    headers={"ETag": asset.etag, "Cache-Control": asset.cache_control, "Vary": "Accept-Encoding"})


@app.get("/")
def root() -> Response:
    return _redirect("/console/")


@app.get("/console")
def console_without_slash() -> Response:
    return _redirect("/console/")


@app.get("/console/")
def index() -> Response:
    return _serve(assets().index)


@app.get("/console/assets/<version>/<name>")
def asset(version: str, name: str) -> Response:
    found = assets().asset(version, name)
    return _serve(found) if found else _not_found()


@app.not_found
def not_found(_: Exception) -> Response:
    return _not_found()


def _not_found() -> Response:
    return Response(status_code=404, content_type=content_types.TEXT_PLAIN, body="Not found",
                    headers={"Cache-Control": "no-cache"})


@metrics.log_metrics(service="console")
@tracing.capture_lambda_handler("console")
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    response = app.resolve(event, context)
    response.setdefault("headers", {}).update(SECURITY_HEADERS)
    logger.debug("console request", extra={"path": event.get("rawPath"), "status": response.get("statusCode")})
    return response


# SnapStart: build everything before the snapshot, reset connections and caches after a restore.
snapstart.register(assets)
