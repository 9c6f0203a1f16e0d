"""The benchmark's billing model: item sizes as DynamoDB counts them, and the cost arithmetic."""

from bench.prices import PRICES, cost_per_million
from bench.run import _kb, _value_bytes, _write_units


def test_item_sizes_follow_dynamodb_rules():
    assert _value_bytes({"S": "héllo"}) == 6  # UTF-8 bytes
    assert _value_bytes({"N": "12345"}) == 3  # about one byte per two digits, plus one
    assert _value_bytes({"B": b"\x00" * 10}) == 10  # raw bytes, not base64
    assert _value_bytes({"BOOL": True}) == 1
    assert _value_bytes({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (2 + 1) + (1 + 1)
    assert _value_bytes({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert _value_bytes({"SS": ["ab", "cd"]}) == 4


def test_write_units_round_up_per_kilobyte():
    small = {"pk": {"S": "x"}, "data": {"B": b"\x00" * 1000}}
    large = {"pk": {"S": "x"}, "data": {"B": b"\x00" * 1030}}
    assert _kb(small) == 1 and _kb(large) == 2
    assert _write_units("PutItem", {"Item": large}) == 2
    assert _write_units("TransactWriteItems", {"TransactItems": [{"Put": {"Item": small}}]}) == 2
    assert _write_units("GetItem", {}) == 0


def test_cost_per_million_messages():
    by_operation = {"sqs:SendMessageBatch": 1.0, "sqs:ReceiveMessage": 0.5, "sqs:DeleteMessageBatch": 0.5,
                    "dynamodb:GetItem": 2.0}
    cost = cost_per_million(by_operation, write_units=4.0, memory_mb={"webhook": 1024, "funnel": 2048},
                            lambda_seconds={"webhook": 0.05, "funnel": 0.25})
    items = cost["items"]
    assert items["API Gateway (1 request)"] == PRICES["apigateway_http_per_million_requests"]
    assert items["Lambda requests"] == round(1.5 * PRICES["lambda_per_million_requests"], 3)
    assert items["Lambda GB-seconds"] == round((1 * 0.05 + 2 * 0.25) * PRICES["lambda_arm64_per_gb_second"] * 1e6, 3)
    assert items["SQS FIFO"] == round(2.0 * PRICES["sqs_fifo_per_million_requests"], 3)
    assert items["DynamoDB writes"] == round(4 * PRICES["dynamodb_on_demand_per_million_write_units"], 3)
    assert items["DynamoDB reads"] == round(2 * PRICES["dynamodb_on_demand_per_million_read_units"], 3)
    assert cost["total_usd"] == round(sum(items.values()), 2)


def test_cost_per_million_turns_adds_the_status_posts_and_the_standard_queue():
    by_operation = {"sqs:SendMessageBatch": 1.0, "sqs:ReceiveMessage": 0.5, "sqs-standard:SendMessageBatch": 3.0,
                    "sqs-standard:ReceiveMessage": 0.05, "dynamodb:UpdateItem": 2.0}
    cost = cost_per_million(by_operation, write_units=6.0, memory_mb={"webhook": 256, "funnel": 512, "status": 256},
                            lambda_seconds={"webhook": 0.2, "funnel": 0.25, "status": 0.03}, statuses=3)
    items = cost["items"]
    assert items["API Gateway (4 requests)"] == 4 * PRICES["apigateway_http_per_million_requests"]
    assert items["Lambda requests"] == round((4 + 0.5 + 0.05) * PRICES["lambda_per_million_requests"], 3)
    assert items["SQS standard"] == round(3.05 * PRICES["sqs_standard_per_million_requests"], 3)
    assert items["SQS FIFO"] == round(1.5 * PRICES["sqs_fifo_per_million_requests"], 3)
    assert cost["total_before_lambda_compute_usd"] == round(cost["total_usd"] - items["Lambda GB-seconds"], 2)
    assert items["Lambda GB-seconds"] == round((0.25 * 0.2 + 0.5 * 0.25 + 0.25 * 0.03)
                                                * PRICES["lambda_arm64_per_gb_second"] * 1e6, 3)
    assert cost["measured_lambda_seconds"] == {"webhook": 0.2, "funnel": 0.25, "status": 0.03}


def test_the_inbox_index_is_priced_when_a_profile_enters_or_moves_in_it():
    from bench.run import AwsCallCounter

    counter = AwsCallCounter()

    def put(inbox_at: str | None) -> float:
        item = {"pk": {"S": "TENANT#a#USER#1"}, "sk": {"S": "PROFILE"}}
        if inbox_at is not None:
            item |= {"inbox_pk": {"S": "TENANT#a#INBOX"}, "inbox_at": {"N": inbox_at}}
        return counter._index_units("PutItem", {"TableName": "t", "Item": item})

    assert put("100") == 1  # enters the index
    assert put("100") == 0  # same sort key: the index is not written
    assert put("160") == 2  # moves: a delete and a put in the index
    assert put(None) == 0  # not indexed
