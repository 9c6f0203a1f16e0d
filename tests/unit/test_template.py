"""What cfn-lint cannot check about template.yaml: the platform's own rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack.provision import ACCOUNT_ID
from devstack.template import Resolver, function_environment, load_template, resources_of_type
from wabot import keys, metrics
from wabot.repositories.conversations import INBOX_AT_ATTRIBUTE, INBOX_INDEX, INBOX_PK_ATTRIBUTE
from wabot.settings import (
    AdminSettings,
    AuthorizerSettings,
    DispatcherSettings,
    FunnelSettings,
    HealthSettings,
    LlmSettings,
    StatusSettings,
    WebhookSettings,
)
from wabot.tenancy import TenantContext

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
QUEUES = resources_of_type(TEMPLATE, "AWS::SQS::Queue")
TABLES = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")
GLOBAL_FUNCTION = TEMPLATE["Globals"]["Function"]

# Each function's settings model: every variable it requires must be set by the template.
SETTINGS_MODELS = {
    "WebhookFunction": WebhookSettings,
    "FunnelFunction": FunnelSettings,
    "LlmFunction": LlmSettings,
    "StatusFunction": StatusSettings,
    "AdminFunction": AdminSettings,
    "AdminAuthorizerFunction": AuthorizerSettings,
    "HealthDispatcherFunction": DispatcherSettings,
    "HealthFunction": HealthSettings,
    "ConsoleFunction": None,  # static files only: it reads no environment and touches no AWS service
}


def prop(function: dict, name: str):
    if name == "Layers":  # SAM appends a function's own layers to the global ones
        return GLOBAL_FUNCTION.get("Layers", []) + function["Properties"].get("Layers", [])
    return function["Properties"].get(name, GLOBAL_FUNCTION.get(name))


def sqs_event_sources(template: dict) -> list[tuple[str, dict, str]]:
    """(function logical id, event properties, queue logical id) for every SQS trigger."""
    found = []
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                found.append((logical_id, event["Properties"], queue))
    return found


def sqs_trigger_problems(template: dict) -> list[str]:
    """FIFO batch <= 10, partial batch responses, visibility >= 6x the consumer's timeout."""
    problems = []
    globals_ = template.get("Globals", {}).get("Function", {})
    for logical_id, event, queue_id in sqs_event_sources(template):
        queue = template["Resources"][queue_id]["Properties"]
        function = template["Resources"][logical_id]["Properties"]
        if queue.get("FifoQueue") and event.get("BatchSize", 10) > 10:
            problems.append(f"{logical_id}: FIFO batch size over 10")
        if "ReportBatchItemFailures" not in event.get("FunctionResponseTypes", []):
            problems.append(f"{logical_id}: no ReportBatchItemFailures")
        timeout = function.get("Timeout", globals_.get("Timeout", 3))
        if queue.get("VisibilityTimeout", 30) < 6 * timeout:
            problems.append(f"{logical_id}: visibility timeout under 6x the function timeout")
    return problems


def test_sqs_trigger_rules_hold():
    assert {queue for _, _, queue in sqs_event_sources(TEMPLATE)} == {"InboundQueue", "LlmQueue", "StatusQueue",
                                                                    "HealthQueue"}
    assert sqs_trigger_problems(TEMPLATE) == []


def test_consumers_know_their_queues_redrive_count():
    for logical_id, _, queue_id in sqs_event_sources(TEMPLATE):
        if "MAX_RECEIVE_COUNT" not in SETTINGS_MODELS[logical_id].env_names():
            continue  # status and health workers: no last-attempt record (idempotent, newest-wins writes)
        env = FUNCTIONS[logical_id]["Properties"]["Environment"]["Variables"]
        redrive = QUEUES[queue_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        assert int(env["MAX_RECEIVE_COUNT"]) == redrive, logical_id


def test_sqs_trigger_check_catches_violations():
    bad = {
        "Globals": {"Function": {"Timeout": 60}},
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "VisibilityTimeout": 120}},
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"E": {
                "Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Q", "Arn"]}, "BatchSize": 20}}}}},
        },
    }
    assert sqs_trigger_problems(bad) == ["F: FIFO batch size over 10", "F: no ReportBatchItemFailures",
                                         "F: visibility timeout under 6x the function timeout"]


def test_functions_use_a_current_python_on_arm64_with_the_layer():
    assert FUNCTIONS
    for logical_id, function in FUNCTIONS.items():
        runtime = prop(function, "Runtime")
        assert re.fullmatch(r"python3\.(\d+)", runtime) and int(runtime.split(".")[1]) >= 12, logical_id
        assert prop(function, "Architectures") == ["arm64"], logical_id
        assert {"Ref": "CommonLayer"} in prop(function, "Layers"), logical_id


def test_function_code_and_handlers_exist():
    root = Path(__file__).resolve().parents[2]
    for logical_id, function in FUNCTIONS.items():
        code = root / function["Properties"]["CodeUri"]
        module = function["Properties"]["Handler"].rsplit(".", 1)[0]
        assert (code / f"{module}.py").is_file(), logical_id
        assert (code / "requirements.txt").is_file(), logical_id
    layer = RESOURCES["CommonLayer"]
    assert (root / layer["Properties"]["ContentUri"] / "wabot" / "__init__.py").is_file()
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"


@pytest.mark.parametrize("logical_id", sorted(SETTINGS_MODELS))
def test_every_required_setting_is_set(logical_id):
    assert set(SETTINGS_MODELS) == set(FUNCTIONS), "every function needs its settings model listed here"
    if SETTINGS_MODELS[logical_id] is None:
        return
    refs = {name: f"<{name}>" for name in RESOURCES}
    refs.update({"AWS::StackName": "stack", "AWS::Region": "eu-west-1", "AWS::AccountId": ACCOUNT_ID,
                 "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"})
    attributes = {(name, attr): f"<{name}.{attr}>" for name in RESOURCES for attr in ("Arn", "QueueName")}
    attributes.update({(name, "Arn"): f"arn:aws:iam::{ACCOUNT_ID}:role/stack-{name}"
                       for name in resources_of_type(TEMPLATE, "AWS::IAM::Role")})
    env = function_environment(TEMPLATE, logical_id, Resolver(TEMPLATE, refs, attributes))
    missing = SETTINGS_MODELS[logical_id].env_names(required_only=True) - set(env)
    assert not missing
    SETTINGS_MODELS[logical_id].from_env(env)  # and the values validate


def test_queues_have_dead_letter_queues_with_alarms_and_conversations_are_fifo():
    alarms = resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm")
    alarmed = {alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in alarms.values()}
    work_queues = {name: q for name, q in QUEUES.items() if "RedrivePolicy" in q["Properties"]}
    assert set(work_queues) == {"InboundQueue", "LlmQueue", "StatusQueue", "HealthQueue"}
    for name, queue in work_queues.items():
        props = queue["Properties"]
        dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in alarmed, f"no alarm on {dlq}"
        assert QUEUES[dlq]["Properties"].get("FifoQueue", False) == props.get("FifoQueue", False), name
        if name in ("StatusQueue", "HealthQueue"):  # no order needed: standard queues
            assert "FifoQueue" not in props
            continue
        assert props["FifoQueue"] is True, name
        assert props["DeduplicationScope"] == "messageGroup"
        assert props["FifoThroughputLimit"] == "perMessageGroupId"
        assert props["ContentBasedDeduplication"] is False


def test_tables_are_on_demand_encrypted_recoverable_with_ttl():
    assert set(TABLES) == {"AppTable", "IdempotencyTable", "ApiKeyTable"}
    for name, table in TABLES.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        if name == "AppTable":  # the sparse running index (test_iam) and the inbox index, keys only
            assert [(i["IndexName"], i["Projection"]) for i in props["GlobalSecondaryIndexes"]] == [
                (keys.RUNNING_INDEX, {"ProjectionType": "KEYS_ONLY"}), (INBOX_INDEX, {"ProjectionType": "KEYS_ONLY"})]
        else:
            assert "GlobalSecondaryIndexes" not in props, name
        if name != "ApiKeyTable":  # keys live until revoked and deleted
            assert props["TimeToLiveSpecification"]["Enabled"] is True, name
    assert TABLES["IdempotencyTable"]["Properties"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert TABLES["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "expiration"
    # The one index: its partition key (wabot.keys.inbox_pk) starts with the tenant, like every key,
    # so the tenant roles' LeadingKeys condition covers a Query on it; keys only.
    [inbox] = [i for i in TABLES["AppTable"]["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == INBOX_INDEX]
    assert inbox["IndexName"] == INBOX_INDEX and inbox["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert inbox["KeySchema"] == [{"AttributeName": INBOX_PK_ATTRIBUTE, "KeyType": "HASH"},
                                  {"AttributeName": INBOX_AT_ATTRIBUTE, "KeyType": "RANGE"}]
    assert keys.inbox_pk(TenantContext("acme"), "bot").startswith("TENANT#acme#")


def test_ssm_prefix_matches_the_iam_scope():
    assert GLOBAL_FUNCTION["Environment"]["Variables"]["SSM_PREFIX"] == {"Fn::Sub": "/${AWS::StackName}"}


def test_outputs_name_the_api_tables_and_queues():
    outputs = set(TEMPLATE["Outputs"])
    assert {"ApiUrl", "AppTableName", "IdempotencyTableName", "ApiKeyTableName", "InboundQueueUrl",
            "LlmQueueUrl"} <= outputs


def test_admin_routes_need_the_api_key_authorizer():
    api = RESOURCES["HttpApi"]["Properties"]
    authorizer = api["Auth"]["Authorizers"]["ApiKeyAuthorizer"]
    assert authorizer["Identity"] == {"Headers": ["Authorization"], "ReusableCache": 300}
    assert authorizer["EnableSimpleResponses"] is True
    assert "DefaultAuthorizer" not in api["Auth"]  # Meta's webhook calls carry no API key
    for function in FUNCTIONS.values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"]["Path"].startswith("/admin"):
                assert event["Properties"]["Auth"] == {"Authorizer": "ApiKeyAuthorizer"}


def test_webhook_routes():
    events = FUNCTIONS["WebhookFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert routes == {("GET", "/webhook/{tenant_id}/{instance_id}"), ("POST", "/webhook/{tenant_id}/{instance_id}")}


def http_api_route_keys() -> set[str]:
    return {f"{e['Properties']['Method']} {e['Properties']['Path']}"
            for function in FUNCTIONS.values() for e in function["Properties"].get("Events", {}).values()
            if e["Type"] == "HttpApi"}


def test_webhook_and_admin_routes_are_throttled_apart():
    """Each route its own bucket: an admin-API flood cannot starve Meta's deliveries, or the reverse."""
    settings = RESOURCES["HttpApi"]["Properties"]["RouteSettings"]
    assert set(settings) == http_api_route_keys()
    for route, limits in settings.items():
        family = "Webhook" if route.split(" ")[1].startswith("/webhook/") else "Admin"
        assert limits == {"ThrottlingBurstLimit": {"Ref": f"{family}ThrottlingBurstLimit"},
                          "ThrottlingRateLimit": {"Ref": f"{family}ThrottlingRateLimit"}}, route


def test_access_logs_are_json_without_headers_and_expire():
    access = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    line = json.loads(access["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs"} <= set(line)
    assert (line["requestId"], line["routeKey"], line["status"], line["latencyMs"]) == (
        "$context.requestId", "$context.routeKey", "$context.status", "$context.responseLatency")
    assert "header" not in access["Format"].lower() and "authoriz" not in access["Format"].lower()
    assert RESOURCES["HttpApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}


def test_layer_pins_match_the_development_lock():
    """The layer deploys exactly the versions the tests ran with."""
    root = Path(__file__).resolve().parents[2]

    def pins(path: Path) -> dict[str, str]:
        result = {}
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                result[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
        return result

    lock = pins(root / "requirements-dev.txt")
    for layer_dir in ("layers/common", "layers/voice"):
        layer = pins(root / layer_dir / "requirements.txt")
        assert layer, layer_dir
        assert {name: lock.get(name) for name in layer} == layer, layer_dir


def test_only_the_llm_function_carries_the_voice_layer():
    for logical_id, function in FUNCTIONS.items():
        layers = prop(function, "Layers")
        assert ({"Ref": "VoiceLayer"} in layers) == (logical_id == "LlmFunction"), logical_id


def test_console_is_served_on_the_api_origin_without_aws_permissions():
    console = FUNCTIONS["ConsoleFunction"]["Properties"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in console["Events"].values()}
    assert routes == {("GET", "/"), ("GET", "/console"), ("GET", "/console/{proxy+}")}
    assert all("Auth" not in e["Properties"] for e in console["Events"].values())  # the page itself is public
    assert "Policies" not in console


def test_one_schedule_starts_the_health_dispatcher_every_period():
    scheduled = {(logical_id, name): event for logical_id, function in FUNCTIONS.items()
                 for name, event in function["Properties"].get("Events", {}).items()
                 if event["Type"] in ("Schedule", "ScheduleV2")}
    assert list(scheduled) == [("HealthDispatcherFunction", "Every")]
    event = scheduled[("HealthDispatcherFunction", "Every")]["Properties"]
    assert event["ScheduleExpression"] == {"Fn::Sub": "rate(${HealthCheckPeriodMinutes} minutes)"}
    assert json.loads(event["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    period = TEMPLATE["Parameters"]["HealthCheckPeriodMinutes"]
    assert period["Default"] == 15 and period["MinValue"] >= 2  # "rate(1 minutes)" is not valid
    env = FUNCTIONS["HealthDispatcherFunction"]["Properties"]["Environment"]["Variables"]
    assert env["HEALTH_PERIOD_MINUTES"] == {"Ref": "HealthCheckPeriodMinutes"}


def test_every_function_has_a_log_group_with_retention():
    groups = {group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]
              for group in resources_of_type(TEMPLATE, "AWS::Logs::LogGroup").values()
              if "LogGroupName" in group["Properties"]}
    for logical_id in FUNCTIONS:
        assert groups[f"/aws/lambda/${{{logical_id}}}"]["RetentionInDays"], logical_id


# ---- SnapStart, tracing, the dashboard ------------------------------------------------------

ALIAS = GLOBAL_FUNCTION.get("AutoPublishAlias")


def _references(node, found: list) -> list:
    """Every Ref, Fn::GetAtt and ${...} in Fn::Sub under `node`, as (kind, target) pairs."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.append(("Ref", value))
            elif key == "Fn::GetAtt":
                found.append(("GetAtt", tuple(value) if isinstance(value, list) else tuple(value.split(".", 1))))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found += [("Sub", name) for name in re.findall(r"\$\{([^}!][^}]*)\}", text)]
            _references(value, found)
    elif isinstance(node, list):
        for item in node:
            _references(item, found)
    return found


def test_every_function_is_traced_and_snapstarted_on_a_supported_runtime():
    assert GLOBAL_FUNCTION["Tracing"] == "Active"
    assert GLOBAL_FUNCTION["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert ALIAS == "live"
    for logical_id, function in FUNCTIONS.items():
        for name in ("Tracing", "SnapStart", "AutoPublishAlias"):
            assert prop(function, name) == GLOBAL_FUNCTION[name], (logical_id, name)
        # SnapStart: Python 3.12 or later; no provisioned concurrency, EFS or /tmp over 512 MB.
        assert tuple(int(part) for part in prop(function, "Runtime").removeprefix("python").split(".")) >= (3, 12)
        properties = function["Properties"]
        assert "ProvisionedConcurrencyConfig" not in properties and "FileSystemConfigs" not in properties
        assert properties.get("EphemeralStorage", {}).get("Size", 512) <= 512


def test_everything_that_invokes_a_function_invokes_its_alias():
    """SAM points a function's own Events at the alias; anything else naming a function must
    name the alias too (invoking the function's ARN runs $LATEST, which skips SnapStart)."""
    aliases = {f"{logical_id}Alias{ALIAS}" for logical_id in FUNCTIONS}
    authorizer = RESOURCES["HttpApi"]["Properties"]["Auth"]["Authorizers"]["ApiKeyAuthorizer"]
    assert authorizer["FunctionArn"] == {"Ref": f"AdminAuthorizerFunctionAlias{ALIAS}"}
    invoking_types = {"AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Scheduler::Schedule",
                      "AWS::Events::Rule", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer",
                      "AWS::Lambda::Url", "AWS::SNS::Subscription"}
    for logical_id, resource in RESOURCES.items():
        for kind, target in _references(resource, []):
            name = target[0] if kind == "GetAtt" else str(target).split(".")[0]
            if name in FUNCTIONS:
                # Only the log groups name a function itself (by its name, for the log group path).
                assert resource["Type"] == "AWS::Logs::LogGroup" and kind == "Sub", (logical_id, kind, target)
            if kind == "Ref" and str(target).endswith(f"Alias{ALIAS}"):
                assert target in aliases, target  # SAM's name for the alias: {Function}Alias{alias}
        if resource["Type"] in invoking_types and resource["Type"] != "AWS::SNS::Subscription":
            raise AssertionError(f"{logical_id}: declare it as the function's event so SAM targets the alias")
    for function in FUNCTIONS.values():
        for event in function["Properties"].get("Events", {}).values():
            assert event["Type"] in ("HttpApi", "SQS", "ScheduleV2"), event["Type"]  # SAM wires these to the alias


DASHBOARD_METRICS = (
    "WebhooksAccepted", "WebhooksRejected", "WebhookMessages", "WebhookStatuses", "MessagesAnswered",
    "GraphApiCalls", "GraphApiErrors", "GraphApiLatency", "LlmApiCalls", "LlmApiLatency", "LlmPromptTokens",
    "LlmCompletionTokens", "SttApiCalls", "SttApiLatency", "TtsApiCalls", "TtsApiLatency", "DeadLettered",
    "ColdStart",
)


def _dashboard() -> tuple[dict, list[str]]:
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    substituted = re.findall(r"\$\{([^}]+)\}", body)
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: f"sub:{m.group(1)}", body)), substituted


def test_the_dashboard_body_is_json_naming_every_metric_and_queue():
    dashboard, substituted = _dashboard()
    namespace = GLOBAL_FUNCTION["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    rows = [row for widget in dashboard["widgets"] for row in widget["properties"]["metrics"]]
    searches = [row[0]["expression"] for row in rows if isinstance(row[0], dict)]
    for metric in DASHBOARD_METRICS:
        assert any(f'MetricName="{metric}"' in search for search in searches), metric
    for search in searches:
        dimensions = re.search(r"\{([^}]*)\}", search).group(1).split(",")
        assert dimensions[0] == namespace
        assert set(dimensions[1:]) <= metrics.ALLOWED_DIMENSIONS and "service" in dimensions, search
    queue_rows = [row for row in rows if row[0] == "AWS/SQS"]
    every_queue = {f"sub:{queue}.QueueName" for queue in QUEUES}  # the queues and their dead-letter queues
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert {row[3] for row in queue_rows if row[1] == metric} == every_queue, metric
    for name in substituted:  # only the region and the queues' names
        assert name == "AWS::Region" or (name.endswith(".QueueName") and name.split(".")[0] in QUEUES), name
    for widget in dashboard["widgets"]:
        assert {"x", "y", "width", "height"} <= set(widget) and widget["x"] + widget["width"] <= 24
