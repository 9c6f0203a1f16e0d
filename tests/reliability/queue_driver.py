"""Plays Lambda's SQS event source against moto's real FIFO queue: receive a batch, invoke,
delete what succeeded, and let failures become visible again after `retry_after` seconds
(in AWS: the queue's visibility timeout, 6x the function's timeout, so an idempotency
in-progress lock has always expired by then), until the queue is empty. moto moves a message
to the dead-letter queue once it was received `maxReceiveCount` times, as SQS does.

One way moto is harsher than SQS: when several failed messages of a group become visible again
together, moto can hand out the group's *last* one first. The workers must survive that order
anyway (a DLQ redrive does the same), so the driver leaves it in."""

from __future__ import annotations

from typing import Any

from wabot import aws


def drive(queue_url: str, deliver, retry_after: int = 0, max_rounds: int = 2000, batch_size: int = 10) -> int:
    """Returns how many invocations it took; `deliver(records)` returns the failed message ids."""
    sqs = aws.client("sqs")
    for rounds in range(1, max_rounds + 1):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=batch_size, VisibilityTimeout=60,
                                       AttributeNames=["All"], WaitTimeSeconds=1 if retry_after else 0
                                       ).get("Messages", [])
        if not messages:
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            if not any(int(v) for v in attributes.values()):
                return rounds
            continue
        failed = set(deliver([_record(m) for m in messages]))
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=retry_after)
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the queue did not drain")


def _record(message: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": message["Attributes"], "messageAttributes": {}, "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q.fifo",
            "awsRegion": "eu-west-1"}


def queue_events(queue_url: str, events: list) -> None:
    from wabot.queue import EventPublisher

    EventPublisher(aws.client("sqs"), queue_url).publish(events)
