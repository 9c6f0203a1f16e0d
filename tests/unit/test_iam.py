"""The second wall, read from template.yaml: every statement of every role.

moto does not evaluate IAM, so these tests are the proof that a function's credentials reach
only what they should: tenant data only through a tenant role whose DynamoDB statements carry
a LeadingKeys condition on the session's tenant tag, SSM only under that tenant's path, and
the functions' own roles nothing of any tenant (API keys: authorizer reads, admin writes;
phone-number claims: the admin function only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from devstack.template import load_template, resources_of_type
from wabot import keys
from wabot.tenancy import TenantContext

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
ROLES = resources_of_type(TEMPLATE, "AWS::IAM::Role")

TAG = "${aws:PrincipalTag/tenant}"
TENANT_LEADING_KEYS = [f"TENANT#{TAG}", f"TENANT#{TAG}#*"]
SSM_TENANT_PREFIX = ("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/"
                     "${!aws:PrincipalTag/tenant}/")
KMS_ANY_KEY = "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
TENANT_DATA_TABLES = {"AppTable", "IdempotencyTable"}
DYNAMODB_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
# Which tenant role each function assumes, and the variable that names it.
TENANT_ROLE_OF = {
    "WebhookFunction": ("TenantWebhookRole", "WEBHOOK_TENANT_ROLE_ARN"),
    "FunnelFunction": ("TenantWorkerRole", "WORKER_TENANT_ROLE_ARN"),
    "LlmFunction": ("TenantWorkerRole", "WORKER_TENANT_ROLE_ARN"),
    "StatusFunction": ("TenantWorkerRole", "WORKER_TENANT_ROLE_ARN"),
    "AdminFunction": ("TenantAdminRole", "ADMIN_TENANT_ROLE_ARN"),
    "HealthFunction": ("TenantHealthRole", "HEALTH_TENANT_ROLE_ARN"),
}
RUNNING_INDEX_ARN = "${AppTable.Arn}/index/" + keys.RUNNING_INDEX


@dataclass(frozen=True)
class Statement:
    holder: str  # a tenant role's logical id, or "{function}Role" for a function's own role
    body: dict

    @property
    def actions(self) -> list[str]:
        action = self.body["Action"]
        return action if isinstance(action, list) else [action]

    @property
    def resources(self) -> list:
        resource = self.body["Resource"]
        return resource if isinstance(resource, list) else [resource]

    def services(self) -> set[str]:
        return {action.split(":", 1)[0] for action in self.actions}

    def tables(self) -> set[str]:
        """Tables by logical id; an index as `{table}/index/{name}` (from `!Sub "${T.Arn}/index/N"`)."""
        found = set()
        for r in self.resources:
            if isinstance(r, dict) and "Fn::GetAtt" in r:
                found.add(r["Fn::GetAtt"][0])
            elif isinstance(r, dict) and isinstance(r.get("Fn::Sub"), str) and (
                    match := re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", r["Fn::Sub"])):
                found.add(f"{match.group(1)}/index/{match.group(2)}")
        return found

    def indexes(self) -> set[str]:
        return {r["Fn::Sub"].split("/index/", 1)[1] for r in self.resources
                if isinstance(r, dict) and "/index/" in str(r.get("Fn::Sub", ""))}

    def leading_keys(self) -> list[str] | None:
        return self.body.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")


def _own_statements() -> list[Statement]:
    found = []
    for logical_id, function in FUNCTIONS.items():
        for policy in function["Properties"].get("Policies", []):
            assert isinstance(policy, dict) and "Statement" in policy, "only explicit statements, no managed policies"
            found += [Statement(f"{logical_id}Role", body) for body in policy["Statement"]]
    return found


def _role_statements() -> list[Statement]:
    found = []
    for logical_id, role in ROLES.items():
        for policy in role["Properties"]["Policies"]:
            found += [Statement(logical_id, body) for body in policy["PolicyDocument"]["Statement"]]
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
    return found


OWN = _own_statements()
TENANT = _role_statements()
EVERY = OWN + TENANT


def _sub(value) -> str:
    assert isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str), value
    return value["Fn::Sub"]


def string_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` any run of characters, `?` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def test_the_tenant_roles_are_the_only_roles_and_every_data_function_uses_one():
    assert set(ROLES) == {"TenantWebhookRole", "TenantWorkerRole", "TenantAdminRole", "TenantHealthRole"}
    # The authorizer reads API keys with its own role; the console serves files, with no policy;
    # the health dispatcher reads only the running-instances index (no tenant data at all).
    assert set(FUNCTIONS) == set(TENANT_ROLE_OF) | {"AdminAuthorizerFunction", "ConsoleFunction",
                                                    "HealthDispatcherFunction"}
    assert "Policies" not in FUNCTIONS["ConsoleFunction"]["Properties"]


@pytest.mark.parametrize("statement", EVERY, ids=lambda s: f"{s.holder}.{s.body.get('Sid')}")
def test_every_statement_is_explicit(statement):
    body = statement.body
    assert body["Effect"] == "Allow"
    assert not {"NotAction", "NotResource", "NotPrincipal"} & set(body)
    for action in statement.actions:
        assert "*" not in action, action
        assert action != "dynamodb:Scan"
    for resource in statement.resources:
        assert resource != "*"
        text = resource if isinstance(resource, str) else _sub(resource) if "Fn::Sub" in resource else None
        if text is not None and "*" in text:
            # The only wildcards: below the tenant's own SSM path, and KMS keys (the AWS-managed
            # SSM key's id is not known in advance; usable only via SSM on the tenant's parameters).
            assert text.startswith(SSM_TENANT_PREFIX) or text == KMS_ANY_KEY, text


def test_tenant_data_tables_are_reached_only_through_a_tenant_leading_keys_condition():
    for statement in EVERY:
        if "dynamodb" not in statement.services():
            continue
        tables = statement.tables()
        assert tables and len(tables) == len(statement.resources), "DynamoDB statements name their tables"
        if statement.holder in ROLES:
            assert statement.leading_keys() == TENANT_LEADING_KEYS, statement
            assert set(statement.body["Condition"]) == {"ForAllValues:StringLike"}, statement
        elif tables & TENANT_DATA_TABLES:
            # A function's own role: only the admin function, only the platform's phone-number claims.
            assert statement.holder == "AdminFunctionRole", statement
            assert tables == {"AppTable"} and statement.leading_keys() == ["PHONE#*"], statement
            assert set(statement.actions) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}
        if set(statement.actions) & DYNAMODB_WRITES:
            assert statement.leading_keys(), f"a table-wide write: {statement}"


def test_the_inbox_index_is_only_queried_by_the_admin_tenant_role_under_its_tenant():
    on_index = [statement for statement in EVERY if "InboxIndex" in statement.indexes()]
    assert [(s.holder, s.indexes(), s.actions) for s in on_index] == [
        ("TenantAdminRole", {"InboxIndex"}, ["dynamodb:Query"])]
    assert on_index[0].leading_keys() == TENANT_LEADING_KEYS


def test_api_keys_are_read_only_by_the_authorizer_and_written_only_for_the_admins_tenant():
    holders = {s.holder: s for s in EVERY if "ApiKeyTable" in s.tables()}
    assert set(holders) == {"AdminAuthorizerFunctionRole", "TenantAdminRole"}
    assert holders["AdminAuthorizerFunctionRole"].actions == ["dynamodb:GetItem"]
    assert holders["TenantAdminRole"].tables() == {"ApiKeyTable"}
    # No worker and no webhook credentials of any kind can name the table.
    for statement in EVERY:
        if statement.holder in ("TenantWebhookRole", "TenantWorkerRole", "TenantHealthRole") or \
                statement.holder.startswith(("WebhookFunction", "FunnelFunction", "LlmFunction", "Health")):
            assert "ApiKeyTable" not in statement.tables(), statement


def test_the_dispatcher_queries_only_the_running_index_on_its_platform_partition():
    """The one cross-tenant read: a Query of the sparse index whose partition is RUNNING#..., by
    the dispatcher's own role; it can read no tenant item (not the table, no other index)."""
    statements = [s for s in OWN if s.holder == "HealthDispatcherFunctionRole"]
    dynamodb = [s for s in statements if "dynamodb" in s.services()]
    assert [(s.actions, s.tables(), s.leading_keys()) for s in dynamodb] == [
        (["dynamodb:Query"], {f"AppTable/index/{keys.RUNNING_INDEX}"}, ["RUNNING#*"])]
    assert [_sub(r) for r in dynamodb[0].resources] == [RUNNING_INDEX_ARN]
    assert {a for s in statements for a in s.actions} == {"dynamodb:Query", "sqs:SendMessage"}
    assert all("sts" not in s.services() for s in statements)
    # Nobody else names the index; the only index a tenant role can query is the inbox, under its tenant.
    assert [s.holder for s in EVERY if any(t.endswith(f"/index/{keys.RUNNING_INDEX}") for t in s.tables())] == [
        "HealthDispatcherFunctionRole"]
    assert {i for s in TENANT for i in s.indexes()} == {"InboxIndex"}
    # The index's partition value is the platform's, never a tenant's key, and no tenant key is it.
    assert string_like("RUNNING#*", keys.RUNNING_PK) and not _allowed(TENANT_LEADING_KEYS, "acme", keys.RUNNING_PK)
    assert not any(string_like("RUNNING#*", value) for value in _tenant_keys("acme"))
    index = next(i for i in RESOURCES["AppTable"]["Properties"]["GlobalSecondaryIndexes"]
                 if i["IndexName"] == keys.RUNNING_INDEX)
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # ids only: no tenant attribute is copied


def test_the_authorizer_reads_api_keys_and_nothing_else():
    statements = [s for s in OWN if s.holder == "AdminAuthorizerFunctionRole"]
    assert [(s.actions, s.tables()) for s in statements] == [(["dynamodb:GetItem"], {"ApiKeyTable"})]


def test_secrets_only_under_the_tagged_tenants_path_and_decrypted_only_via_ssm():
    for statement in EVERY:
        services = statement.services()
        if "ssm" in services or "kms" in services:
            assert statement.holder in ROLES, f"a function's own role reads secrets: {statement}"
        if "ssm" in services:
            for resource in statement.resources:
                assert _sub(resource).startswith(SSM_TENANT_PREFIX), resource
        if "kms" in services:
            assert [_sub(r) for r in statement.resources] == [KMS_ANY_KEY]
            condition = statement.body["Condition"]
            assert _sub(condition["StringEquals"]["kms:ViaService"]) == "ssm.${AWS::Region}.amazonaws.com"
            assert _sub(condition["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]) == SSM_TENANT_PREFIX + "*"
    webhook = [r for s in TENANT if s.holder == "TenantWebhookRole" and "ssm" in s.services() for r in s.resources]
    assert sorted(_sub(r).removeprefix(SSM_TENANT_PREFIX) for r in webhook) == [
        "instances/*/app_secret", "instances/*/verify_token"]  # never an access token or a provider key


def test_only_the_admin_role_writes_secrets_and_only_workers_touch_idempotency_records():
    for statement in TENANT:
        writes_secrets = any(a in ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:DeleteParameters")
                             for a in statement.actions)
        assert not writes_secrets or statement.holder == "TenantAdminRole", statement
        if "IdempotencyTable" in statement.tables():
            assert statement.holder == "TenantWorkerRole", statement


@pytest.mark.parametrize("function", sorted(TENANT_ROLE_OF))
def test_each_function_assumes_only_its_tenant_role_which_trusts_only_it(function):
    role_id, variable = TENANT_ROLE_OF[function]
    role = ROLES[role_id]["Properties"]
    assumes = [s for s in OWN if s.holder == f"{function}Role" and "sts" in s.services()]
    assert len(assumes) == 1 and sorted(assumes[0].actions) == ["sts:AssumeRole", "sts:TagSession"]
    # The policy names the role by its fixed name (a GetAtt would make a circular dependency).
    role_name = _sub(role["RoleName"])
    assert [_sub(r) for r in assumes[0].resources] == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + role_name]
    assert FUNCTIONS[function]["Properties"]["Environment"]["Variables"][variable] == {"Fn::GetAtt": [role_id, "Arn"]}
    # The trust policy: exactly the functions that use the role, and only with the tenant tag.
    trusting = sorted(f for f, (r, _) in TENANT_ROLE_OF.items() if r == role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert sorted(trust["Principal"]["AWS"], key=str) == [{"Fn::GetAtt": [f"{f}Role", "Arn"]} for f in trusting]
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"] == {"StringLike": {"aws:RequestTag/tenant": "?*"},
                                  "ForAllValues:StringEquals": {"aws:TagKeys": ["tenant"]}}
    assert role["MaxSessionDuration"] == 3600


def test_no_function_role_assumes_anything_else():
    for statement in OWN:
        if "sts" in statement.services():
            assert statement.holder.removesuffix("Role") in TENANT_ROLE_OF, statement


def _tenant_keys(tenant_id: str) -> list[str]:
    """Every partition-key shape of a tenant (README's data design; wabot/keys.py), and an
    idempotency record id as the consumers write it."""
    tenant = TenantContext(tenant_id)
    return [
        keys.tenant_key(tenant)["pk"],
        keys.instance_key(tenant, "bot")["pk"],
        keys.api_key_key(tenant, "0123456789ab")["pk"],
        keys.activity_pk(tenant, "bot"),
        keys.stats_pk(tenant, "bot"),
        keys.users_pk(tenant, "bot"),
        keys.inbox_pk(tenant, "bot"),  # the inbox index's partition key
        keys.user_pk(tenant, "bot", "15551234567"),
        keys.health_key(tenant, "bot")["pk"],
        f"{keys.idempotency_key_prefix(tenant, 'funnel-event')}#0123abcd",
        f"{keys.idempotency_key_prefix(tenant, 'llm-event')}#0123abcd",
    ]


def _allowed(patterns: list[str], tenant_tag: str, value: str) -> bool:
    return any(string_like(pattern.replace(TAG, tenant_tag), value) for pattern in patterns)


@pytest.mark.parametrize("other", ["acme-2", "acm", "acme-bots", "a", "globex"])
def test_leading_keys_express_this_tenant_only(other):
    for value in _tenant_keys("acme"):
        assert _allowed(TENANT_LEADING_KEYS, "acme", value), value
        assert not _allowed(TENANT_LEADING_KEYS, other, value), (other, value)
    for value in _tenant_keys(other):
        assert not _allowed(TENANT_LEADING_KEYS, "acme", value), value
    claim = keys.phone_claim_key("106540352242922")["pk"]
    assert string_like("PHONE#*", claim) and not _allowed(TENANT_LEADING_KEYS, "acme", claim)
    assert not any(string_like("PHONE#*", value) for value in _tenant_keys("acme"))


def test_secret_paths_sit_under_the_tenants_iam_path():
    tenant = TenantContext("acme")
    prefix = "/stack"
    paths = [keys.secret_path(prefix, tenant, "bot", name) for name in keys.SECRET_NAMES]
    paths.append(keys.tenant_secret_path(prefix, tenant, "llm-providers", "p1", "api_key"))
    paths.append(keys.tenant_secret_path(prefix, tenant, "settings", "stt_api_key"))
    arn_prefix = "arn:aws:ssm:eu-west-1:123456789012:parameter"
    for pattern_text in {_sub(r) for s in TENANT if "ssm" in s.services() for r in s.resources}:
        pattern = pattern_text.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "eu-west-1") \
            .replace("${AWS::AccountId}", "123456789012").replace("${AWS::StackName}", "stack")
        for tag, path in [("acme", p) for p in paths]:
            assert not string_like(pattern.replace("${!aws:PrincipalTag/tenant}", "acme-2"), arn_prefix + path)
            if pattern.endswith("/*"):
                assert string_like(pattern.replace("${!aws:PrincipalTag/tenant}", tag), arn_prefix + path)
