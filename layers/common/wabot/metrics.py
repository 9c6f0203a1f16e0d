"""Operational metrics as CloudWatch embedded metric format (EMF) log lines: no API call per
message, CloudWatch extracts them from the function's log.

    from wabot import metrics
    metrics.count("MessagesAnswered", path="funnel")
    with metrics.call("GraphApi", operation="send"):  # GraphApiCalls by outcome, GraphApiLatency
        ...

    @metrics.log_metrics(service="webhook")
    def handler(event, context): ...

Dimensions are low-cardinality only (ALLOWED_DIMENSIONS): a tenant, user or instance id as a
dimension would create one CloudWatch metric per id. Tenant ids go into metadata (searchable in
the log, not a dimension). Values are buffered per thread (the local stack runs every function
in one process) and printed once per invocation by `log_metrics`, one EMF line per dimension set.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

ALLOWED_DIMENSIONS = frozenset({"service", "backend", "outcome", "path", "code", "reason", "operation"})
MAX_DIMENSION_VALUE = 64  # values come from fixed sets; the cap keeps a mistake from exploding

Handler = TypeVar("Handler", bound=Callable[..., Any])


class _Buffer(threading.local):
    def __init__(self) -> None:
        self.service: str | None = None
        self.groups: dict[tuple[tuple[str, str], ...], EphemeralMetrics] = {}
        self.metadata: dict[str, Any] = {}
        self.cold = True


_buffer = _Buffer()
logger = logging.getLogger(__name__)


def _dimensions(given: dict[str, object]) -> tuple[tuple[str, str], ...]:
    unknown = set(given) - ALLOWED_DIMENSIONS
    if unknown:
        raise ValueError(f"not a low-cardinality metric dimension: {sorted(unknown)}")
    return tuple(sorted((name, str(value)[:MAX_DIMENSION_VALUE]) for name, value in given.items()
                        if value is not None))


def _group(dimensions: tuple[tuple[str, str], ...]) -> EphemeralMetrics:
    group = _buffer.groups.get(dimensions)
    if group is None:
        # The service dimension is the function's, set per invocation by log_metrics.
        group = EphemeralMetrics(service=_buffer.service or None)
        for dimension, value in dimensions:  # one dimension set with the service (add_dimensions makes another)
            group.add_dimension(name=dimension, value=value)
        _buffer.groups[dimensions] = group
    return group


def record(name: str, value: float, unit: MetricUnit, **dimensions: object) -> None:
    _group(_dimensions(dimensions)).add_metric(name=name, unit=unit, value=value)


def count(name: str, value: int = 1, **dimensions: object) -> None:
    """Count `value` occurrences of `name`, e.g. count("WebhooksRejected", reason="signature")."""
    record(name, value, MetricUnit.Count, **dimensions)


def milliseconds(name: str, value: float, **dimensions: object) -> None:
    record(name, value, MetricUnit.Milliseconds, **dimensions)


@contextmanager
def call(prefix: str, **dimensions: object) -> Iterator[None]:
    """An outbound call: `{prefix}Calls` counted by outcome (ok/error) and `{prefix}Latency`
    timed, both with the given dimensions (e.g. call("LlmApi", backend="gemini"))."""
    outcome = "error"
    start = time.perf_counter()
    try:
        yield
        outcome = "ok"
    finally:
        milliseconds(f"{prefix}Latency", (time.perf_counter() - start) * 1000, **dimensions)
        count(f"{prefix}Calls", 1, outcome=outcome, **dimensions)


def add_metadata(key: str, value: Any) -> None:
    """Context searchable in the log line (a tenant id), never a dimension."""
    _buffer.metadata[key] = value


def flush() -> None:
    """Print every buffered dimension set as one EMF line and empty the buffer."""
    groups, metadata = _buffer.groups, _buffer.metadata
    _buffer.groups, _buffer.metadata = {}, {}
    for group in groups.values():
        if not group.metric_set:
            continue
        for key, value in metadata.items():
            group.add_metadata(key, value)
        try:
            group.flush_metrics()
        except Exception:  # a metric must never fail the request it measures (e.g. no namespace set)
            logger.exception("metrics not written")


def log_metrics(handler: Handler | None = None, *, service: str | None = None) -> Any:
    """Decorator for a Lambda handler: names the service dimension, counts the cold start and
    prints the invocation's metrics when it ends (also when it raises)."""
    if handler is None:
        return functools.partial(log_metrics, service=service)

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        _buffer.service = service
        if _buffer.cold:
            _buffer.cold = False
            count("ColdStart")
        try:
            return handler(event, context)
        finally:
            flush()
            _buffer.service = None

    return wrapper
