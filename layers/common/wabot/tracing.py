"""X-Ray tracing of every Lambda handler with Powertools' Tracer (the template turns on active
tracing for every function).

The Tracer is built only where it traces: inside Lambda and without POWERTOOLS_TRACE_DISABLED.
Elsewhere (tests, the local stack, the cold-start bench) the handler is returned unchanged,
because even a disabled Tracer imports the X-Ray SDK (about 0.2 s). Only botocore is patched:
it is imported anyway, while patching httpx would import it on every path that does not need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

Handler = TypeVar("Handler", bound=Callable[..., Any])

PATCHED_MODULES = ("botocore",)


def tracing_enabled() -> bool:
    from aws_lambda_powertools import Tracer

    return not Tracer._is_tracer_disabled()  # Powertools' own rule: in Lambda, not disabled by env


def capture_lambda_handler(service: str) -> Callable[[Handler], Handler]:
    """Decorator: one X-Ray segment per invocation (cold start and service annotated, errors
    recorded; responses never added as metadata, they may hold personal data)."""

    def decorate(handler: Handler) -> Handler:
        if not tracing_enabled():
            return handler
        from aws_lambda_powertools import Tracer

        tracer = Tracer(service=service, patch_modules=PATCHED_MODULES)
        # Powertools types its wrapper as a plain callable; it keeps the handler's signature.
        return cast(Handler, tracer.capture_lambda_handler(handler, capture_response=False))

    return decorate
