"""Creates the template's DynamoDB tables and SQS queues (with redrive) against any endpoint:
moto in tests, moto's server for `make run`. Key schemas, TTLs, FIFO settings and redrive come
from template.yaml, so the local platform cannot drift from what is deployed."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from devstack.template import Resolver, function_environment, load_template, resources_of_type

ACCOUNT_ID = "123456789012"


@dataclass
class Stack:
    name: str
    region: str
    template: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def resolver(self) -> Resolver:
        return Resolver(self.template, self.refs, self.attributes)

    def environment(self, function_logical_id: str) -> dict[str, str]:
        return function_environment(self.template, function_logical_id, self.resolver)


def _pseudo(stack_name: str, region: str) -> dict[str, str]:
    return {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def provision(session: Any, stack_name: str = "wabot-local", template: dict[str, Any] | None = None) -> Stack:
    """Create every table and queue of the template with `session` (a boto3 Session)."""
    template = template or load_template()
    region = session.region_name
    stack = Stack(stack_name, region, template, refs=_pseudo(stack_name, region))
    _create_tables(session.client("dynamodb"), stack)
    _create_queues(session.client("sqs"), stack)
    # Functions: their physical names are what the local runner invokes them as; SAM names
    # each one's own role `{function}Role`.
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        stack.refs[logical_id] = f"{stack_name}-{logical_id}"
        stack.attributes[(f"{logical_id}Role", "Arn")] = f"arn:aws:iam::{ACCOUNT_ID}:role/{stack_name}-{logical_id}Role"
    _create_roles(session.client("iam"), stack)
    for logical_id in resources_of_type(template, "AWS::Serverless::LayerVersion"):
        stack.refs[logical_id] = f"{stack_name}-{logical_id}"
    for logical_id in resources_of_type(template, "AWS::Serverless::HttpApi"):
        stack.refs[logical_id] = "local"
    return stack


def _create_tables(dynamodb: Any, stack: Stack) -> None:
    for logical_id, resource in resources_of_type(stack.template, "AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        name = f"{stack.name}-{logical_id}"
        arguments: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            arguments["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):  # repeatable
            dynamodb.create_table(**arguments)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        stack.refs[logical_id] = name
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{stack.region}:{ACCOUNT_ID}:table/{name}"


def _create_roles(iam: Any, stack: Stack) -> None:
    """The tenant roles, with their trust and inline policies (moto's STS answers AssumeRole for
    them; moto does not evaluate IAM, the template tests check the policies)."""
    for logical_id, resource in resources_of_type(stack.template, "AWS::IAM::Role").items():
        props = stack.resolver.resolve(resource["Properties"])
        name = props["RoleName"]
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):  # repeatable
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
                            MaxSessionDuration=props.get("MaxSessionDuration", 3600))
        for policy in props.get("Policies", []):
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(policy["PolicyDocument"]))
        stack.refs[logical_id] = name
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


_QUEUE_ATTRIBUTES = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


def _queue_order(queues: dict[str, dict[str, Any]]) -> list[str]:
    """Dead-letter queues first: a redrive policy needs its target's ARN."""
    def targets(resource: dict[str, Any]) -> bool:
        return "RedrivePolicy" in resource["Properties"]
    return sorted(queues, key=lambda logical_id: targets(queues[logical_id]))


def _create_queues(sqs: Any, stack: Stack) -> None:
    queues = resources_of_type(stack.template, "AWS::SQS::Queue")
    for logical_id in _queue_order(queues):
        props = queues[logical_id]["Properties"]
        fifo = bool(props.get("FifoQueue"))
        name = f"{stack.name}-{logical_id}" + (".fifo" if fifo else "")
        attributes = {
            key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
            for key in _QUEUE_ATTRIBUTES
            if key in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(stack.resolver.resolve(props["RedrivePolicy"]))
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.refs[logical_id] = url
        stack.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{stack.region}:{ACCOUNT_ID}:{name}"
        stack.attributes[(logical_id, "QueueName")] = name
