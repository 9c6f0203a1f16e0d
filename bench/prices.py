"""AWS on-demand list prices used by the cost estimate (us-east-1, as published; check before
relying on them) and the per-message cost model."""

from __future__ import annotations

PRICES_DATE = "2026-11-23"
PRICES = {
    "apigateway_http_per_million_requests": 1.00,
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "sqs_fifo_per_million_requests": 0.50,
    "sqs_standard_per_million_requests": 0.40,
    "dynamodb_on_demand_per_million_write_units": 0.625,
    "dynamodb_on_demand_per_million_read_units": 0.125,
    "ssm_standard_parameter_api_per_million": 0.0,  # standard throughput is free
    "kms_per_million_requests": 3.00,
}
READ_OPERATIONS = ("GetItem", "Query", "BatchGetItem")


def cost_per_million(by_operation: dict[str, float], write_units: float, memory_mb: dict[str, int],
                     lambda_seconds: dict[str, float], statuses: int = 0,
                     worker_invocations: float | None = None) -> dict:
    """Dollars per million messages (`statuses=0`) or per million turns (a message, its reply and
    that reply's `statuses` status webhooks), from the measured requests per message or turn.
    `lambda_seconds`: each function's time per message or turn, measured in the local stack,
    billed at the template's memory sizes. `worker_invocations`: the SQS-triggered invocations
    measured (else one per non-empty receive)."""
    def count(service: str, operations: tuple[str, ...] | None = None) -> float:
        return sum(n for key, n in by_operation.items() if key.split(":")[0] == service
                   and (operations is None or key.split(":")[1] in operations))

    posts = 1 + statuses
    seconds = lambda_seconds
    items = {
        f"API Gateway ({posts} request{'s' if posts > 1 else ''})":
            posts * PRICES["apigateway_http_per_million_requests"],
        # One webhook invocation per POST; the workers are invoked once per non-empty SQS batch
        # (the counter skips empty polls), as measured.
        "Lambda requests": (posts + (count("sqs", ("ReceiveMessage",)) + count("sqs-standard", ("ReceiveMessage",))
                                     if worker_invocations is None else worker_invocations))
        * PRICES["lambda_per_million_requests"],
        "Lambda GB-seconds": sum(memory_mb.get(name, 256) / 1024 * s for name, s in seconds.items())
        * PRICES["lambda_arm64_per_gb_second"] * 1e6,
        "SQS FIFO": count("sqs") * PRICES["sqs_fifo_per_million_requests"],
        "SQS standard": count("sqs-standard") * PRICES["sqs_standard_per_million_requests"],
        "DynamoDB writes": write_units * PRICES["dynamodb_on_demand_per_million_write_units"],
        "DynamoDB reads": count("dynamodb", READ_OPERATIONS) * PRICES["dynamodb_on_demand_per_million_read_units"],
        "SSM + KMS": count("ssm") * (PRICES["ssm_standard_parameter_api_per_million"]
                                     + PRICES["kms_per_million_requests"]),
    }
    items = {k: round(v, 3) for k, v in items.items() if v}
    return {"items": items, "total_usd": round(sum(items.values()), 2),
            "total_before_lambda_compute_usd": round(sum(v for k, v in items.items() if k != "Lambda GB-seconds"), 2),
            "measured_lambda_seconds": seconds,
            "memory_mb": {name: memory_mb.get(name, 256) for name in seconds}}
