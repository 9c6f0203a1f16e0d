"""The second wall, observed: the access key that signed every AWS request made while the
platform handles tenant acme's webhook, its queued message and its admin calls.

moto does not evaluate IAM (the template tests prove the policies); these prove the code uses
them: acme's data and secrets are touched only with credentials STS issued for the tenant role
tagged `tenant=acme`, from the role of the function at work; those credentials touch nothing
else; the functions' own credentials touch no tenant data (only the authorizer's API-key read
and the admin function's phone-number claims); globex, with the same instance id and the same
WhatsApp user, is never touched at all.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scripts import create_tenant as cli
from tests import payloads
from tests.aws_calls import SignatureRecorder, SignedRequest
from tests.integration.admin_client import AdminClient
from tests.integration.conftest import SeededInstance, drain
from tests.integration.funnel_harness import message_event
from tests.unit.test_iam import string_like
from wabot import aws
from wabot.models.events import InboundEvent


@pytest.fixture
def signatures(stack) -> SignatureRecorder:
    """Installed before any function creates a client (clients copy the session's hooks)."""
    aws.reset_clients()
    recorder = SignatureRecorder()
    recorder.install(aws._session())
    return recorder


def allowed_by_tenant_role(stack, role_suffix: str, tenant_id: str, request: SignedRequest) -> bool:
    """Whether the template's tenant role (its statements resolved for this stack, the session
    tag set to `tenant_id`) grants this request's action on its table or parameters: what IAM
    would decide, which moto does not."""
    role_id = {"webhook": "TenantWebhookRole", "worker": "TenantWorkerRole", "admin": "TenantAdminRole",
               "health": "TenantHealthRole"}[role_suffix]
    policies = stack.resolver.resolve(stack.template["Resources"][role_id]["Properties"]["Policies"])
    if request.item_operations:  # a transaction: each kind of item operation on its own
        return all(allowed_by_tenant_role(stack, role_suffix, tenant_id, replace(
            request, operation=operation, item_operations=())) for operation in request.item_operations)
    action = f"{request.service}:{request.operation}"
    for statement in (s for policy in policies for s in policy["PolicyDocument"]["Statement"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        resources = [r.replace("${aws:PrincipalTag/tenant}", tenant_id) for r in resources]
        if action not in actions:
            continue
        if request.service == "dynamodb":
            table_arn = stack.attributes[(next(k for k, v in stack.refs.items() if v == request.table), "Arn")]
            patterns = [p.replace("${aws:PrincipalTag/tenant}", tenant_id)
                        for p in statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]]
            target = f"{table_arn}/index/{request.index}" if request.index else table_arn
            if target in resources and all(any(string_like(p, v) for p in patterns) for v in request.touched):
                return True
        elif request.service == "ssm":
            arn = "arn:aws:ssm:eu-west-1:123456789012:parameter"
            if all(any(string_like(r, arn + name) for r in resources) for name in request.touched):
                return True
    return False


def _role_of(recorder: SignatureRecorder, key: str) -> str | None:
    return recorder.role_of_key.get(key, "").rsplit("/", 1)[-1] or None


def assert_only_acme_with_acme_credentials(recorder: SignatureRecorder, stack, role_suffix: str) -> None:
    requests = recorder.requests
    assert requests, "nothing was recorded"
    own_keys = {r.access_key for r in requests if r.access_key not in recorder.tenant_of_key}
    api_key_table = stack.refs["ApiKeyTable"]
    for request in requests:
        tenant = recorder.tenant_of_key.get(request.access_key)
        described = f"{request.service}.{request.operation} {request.table} {request.touched} by {request.access_key}"
        assert request.access_key, described  # every request is signed
        assert not any(_is_tenant("globex", value) for value in request.touched), described
        if tenant is not None:
            # Tenant credentials: only acme's, from this function's tenant role, only acme's data.
            assert tenant == "acme", described
            assert _role_of(recorder, request.access_key) == f"wabot-test-tenant-{role_suffix}", described
            assert request.touched and all(_is_tenant("acme", value) for value in request.touched), described
            assert allowed_by_tenant_role(stack, role_suffix, "acme", request), f"IAM would refuse {described}"
            assert not allowed_by_tenant_role(stack, role_suffix, "globex", request), described
        elif request.service == "ssm":
            raise AssertionError(f"a secret read with a function's own credentials: {described}")
        elif request.service == "dynamodb":
            # A function's own credentials: the authorizer's API-key read, the admin's claims.
            authorizer_read = request.table == api_key_table and request.operation == "GetItem"
            claims = request.table == stack.refs["AppTable"] and all(v.startswith("PHONE#") for v in request.touched)
            assert authorizer_read or (claims and role_suffix == "admin"), described
    assert own_keys, "the functions' own credentials signed their queue and STS calls"


def _is_tenant(tenant_id: str, value: str) -> bool:
    return (value == f"TENANT#{tenant_id}" or value.startswith(f"TENANT#{tenant_id}#")
            or value.startswith(f"/wabot-test/{tenant_id}/"))


def _touching(requests: list[SignedRequest], service: str, operation: str) -> list[SignedRequest]:
    return [r for r in requests if r.service == service and r.operation == operation]


def test_webhook_then_funnel_touch_acme_only_with_acme_credentials(signatures, two_tenants, gateway, funnel, stack):
    acme, _ = two_tenants
    raw = payloads.body(payloads.text_notification(acme.phone_number_id, text="hi"))
    signatures.clear()
    response = gateway.request("POST", f"/webhook/acme/{acme.instance_id}", body=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, acme.app_secret)})
    assert response.status == 200
    rejected = gateway.request("POST", f"/webhook/acme/{acme.instance_id}", body=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, "not-the-secret")})
    assert rejected.status == 401  # recorded in acme's activity log, with acme's credentials
    handshake = gateway.request("GET", f"/webhook/acme/{acme.instance_id}", query=(
        f"hub.mode=subscribe&hub.verify_token={acme.verify_token}&hub.challenge=42"))
    assert handshake.status == 200
    assert_only_acme_with_acme_credentials(signatures, stack, "webhook")
    writes = [r for r in signatures.requests if r.service == "dynamodb" and r.operation != "GetItem"]
    assert writes and all(signatures.tenant_of_key.get(r.access_key) == "acme" for r in writes)
    # What the webhook needed: acme's instance config and app secret, with acme's credentials.
    config_reads = _touching(signatures.requests, "dynamodb", "GetItem")
    assert config_reads and all(signatures.tenant_of_key.get(r.access_key) == "acme" for r in config_reads)
    assert sorted(r.touched for r in _touching(signatures.requests, "ssm", "GetParameter")) == [
        (f"/wabot-test/acme/instances/{acme.instance_id}/app_secret",),
        (f"/wabot-test/acme/instances/{acme.instance_id}/verify_token",)]
    assert _touching(signatures.requests, "sts", "AssumeRole")

    (queued,) = drain(stack.refs["InboundQueue"])
    signatures.clear()
    assert funnel.send(InboundEvent.model_validate(queued["body"])) == []
    assert funnel.graph.sent(), "the funnel answered"
    assert_only_acme_with_acme_credentials(signatures, stack, "worker")
    # The profile is the duplicate check: no idempotency record for a message.
    assert not [r for r in signatures.requests if r.table == stack.refs["IdempotencyTable"]]
    assert _touching(signatures.requests, "ssm", "GetParameter")  # the access token, acme's credentials


def test_llm_job_touches_acme_only_with_acme_credentials(signatures, two_tenants, funnel, llm, stack):
    acme, _ = two_tenants
    assert funnel.send(message_event(acme, text="What is the meaning of a good GPU for my workload?")) == []
    (job,) = drain(stack.refs["LlmQueue"])
    signatures.clear()
    assert llm.ask(InboundEvent.model_validate(job["body"])) == []
    assert llm.graph.sent(), "the LLM worker answered"
    assert_only_acme_with_acme_credentials(signatures, stack, "worker")
    # The burst's plan, covered messages and pending entries: one transaction, acme's credentials.
    [transaction] = _touching(signatures.requests, "dynamodb", "TransactWriteItems")
    assert transaction.item_operations == ("DeleteItem", "PutItem")
    assert signatures.tenant_of_key.get(transaction.access_key) == "acme"


def test_statuses_touch_acme_only_with_acme_credentials(signatures, two_tenants, gateway, stack, function_env):
    acme, _ = two_tenants
    statuses = [payloads.status("wamid.OUT1", kind) for kind in ("sent", "delivered", "read")]
    statuses.append(payloads.status("wamid.OUT2", "failed", errors=[{"code": 131026, "title": "Undeliverable"}]))
    raw = payloads.body(payloads.notification(payloads.change(acme.phone_number_id, statuses=statuses)))
    response = gateway.request("POST", f"/webhook/acme/{acme.instance_id}", body=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, acme.app_secret)})
    assert response.status == 200
    from tests.integration.test_status_worker import record, run

    function_env("StatusFunction")
    import status_handler

    status_handler.applier.cache_clear()
    queued = drain(stack.refs["StatusQueue"])
    signatures.clear()
    assert run(status_handler, [record(InboundEvent.model_validate(item["body"])) for item in queued]) == []
    assert _touching(signatures.requests, "dynamodb", "UpdateItem"), "statuses were stored and counted"
    assert_only_acme_with_acme_credentials(signatures, stack, "worker")
    status_handler.applier.cache_clear()


def test_admin_calls_touch_acme_only_with_acme_credentials(signatures, gateway, two_tenants, stack):
    key = cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"], stack.refs["ApiKeyTable"])
    admin = AdminClient(gateway, key)
    signatures.clear()
    created = admin.post("/admin/whatsapp/instances", {
        "name": "Sales Bot", "phone_number_id": "333333333333333", "access_token": "EAAGacmesales0123456789",
        "app_secret": "acme-sales-app-secret-012345", "verify_token": "acme-sales-verify-token"})
    assert created.status == 201, created.json()
    bot = created.json()["id"]
    assert admin.get("/admin/whatsapp/instances").status == 200
    assert admin.put(f"/admin/whatsapp/instances/{bot}", {"phone_number_id": "444444444444444"}).status == 200
    assert admin.post("/admin/api-keys", {"role": "guest", "principal_id": "g"}).status == 201
    assert admin.get(f"/admin/whatsapp/instances/{bot}/logs").status == 200
    assert admin.delete(f"/admin/whatsapp/instances/{bot}").status == 204
    assert_only_acme_with_acme_credentials(signatures, stack, "admin")
    claims = [r for r in signatures.requests if any(v.startswith("PHONE#") for v in r.touched)]
    assert {r.operation for r in claims} >= {"PutItem", "DeleteItem"}
    assert all(r.access_key not in signatures.tenant_of_key for r in claims)  # the admin's own role only
    api_keys = [r for r in signatures.requests if r.table == stack.refs["ApiKeyTable"]]
    writes = [r for r in api_keys if r.operation != "GetItem"]
    assert writes and all(signatures.tenant_of_key.get(r.access_key) == "acme" for r in writes)


def test_inbox_calls_touch_acme_only_with_acme_credentials(signatures, gateway, two_tenants, funnel, stack):
    acme, globex = two_tenants
    for instance in (acme, globex):  # the same user at both tenants
        assert funnel.send(message_event(instance, text="hi")) == []
    admin = AdminClient(gateway, cli.create_tenant("acme", "Acme", "root", stack.refs["AppTable"],
                                                   stack.refs["ApiKeyTable"]))
    base = f"/admin/whatsapp/instances/{acme.instance_id}/conversations"
    signatures.clear()
    [listed] = admin.get(base).json()["items"]  # the inbox index, then the profiles by key
    assert admin.get(f"{base}/{listed['user']}/messages").status == 200  # the log, then the statuses
    assert admin.post(f"{base}/{listed['user']}/handoff").status == 200
    assert admin.post(f"{base}/{listed['user']}/release").status == 200
    assert_only_acme_with_acme_credentials(signatures, stack, "admin")
    assert [r.index for r in _touching(signatures.requests, "dynamodb", "Query") if r.index] == ["InboxIndex"]
    assert _touching(signatures.requests, "dynamodb", "BatchGetItem")


def test_a_tenant_role_session_is_reused_not_assumed_per_request(signatures, two_tenants, gateway, stack):
    acme, globex = two_tenants
    for instance in (acme, acme, acme, globex):
        _post(gateway, instance)
    assumed = sorted(signatures.tenant_of_key.values())
    assert assumed == ["acme", "globex"]  # one STS call per tenant per cache lifetime


def _post(gateway, instance: SeededInstance) -> None:
    raw = payloads.body(payloads.text_notification(instance.phone_number_id))
    response = gateway.request("POST", f"/webhook/{instance.tenant.tenant_id}/{instance.instance_id}", body=raw,
                               headers={"x-hub-signature-256": payloads.sign(raw, instance.app_secret)})
    assert response.status == 200


def test_dispatcher_reads_only_the_running_index_with_its_own_credentials(signatures, two_tenants, stack,
                                                                          function_env):
    function_env("HealthDispatcherFunction")
    import dispatcher_handler

    from devstack.gateway import LambdaContext

    dispatcher_handler._parts.cache_clear()
    signatures.clear()
    assert dispatcher_handler.handler({}, LambdaContext("HealthDispatcherFunction", 256, 120))["queued"] == 2
    dynamodb = [r for r in signatures.requests if r.service == "dynamodb"]
    assert dynamodb and all(r.operation == "Query" and r.touched == ("RUNNING#INSTANCES",) for r in dynamodb)
    assert not signatures.tenant_of_key  # no tenant session at all: it reads no tenant's data
    assert {r.service for r in signatures.requests} == {"dynamodb", "sqs"}
    dispatcher_handler._parts.cache_clear()


def test_health_job_and_account_event_touch_acme_only_with_acme_credentials(signatures, two_tenants, gateway,
                                                                            health, stack):
    acme, _ = two_tenants
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1764583200,
               "changes": [{"field": "phone_number_quality_update",
                            "value": {"event": "FLAGGED", "current_limit": "TIER_250"}}]}]}
    raw = payloads.body(payload)
    response = gateway.request("POST", f"/webhook/acme/{acme.instance_id}", body=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": payloads.sign(raw, acme.app_secret)})
    assert response.status == 200
    (event,) = drain(stack.refs["HealthQueue"])
    health.graph.api.control(b'{"reset": true}')
    assert health.service  # built before recording, as a warm environment would be
    signatures.clear()
    assert health.check("acme", acme.instance_id, slot=900) == []
    assert health.queued([event["body"]]) == []
    assert_only_acme_with_acme_credentials(signatures, stack, "health")
    writes = [r for r in signatures.requests if r.service == "dynamodb" and r.operation != "GetItem"]
    assert writes and all(signatures.tenant_of_key.get(r.access_key) == "acme" for r in writes)
