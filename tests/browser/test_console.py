"""The admin console in headless Chromium, against the local stack, through its pages only."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from devstack.client import text_payload
from tests.browser.conftest import Console
from tests.e2e.conftest import ADMIN_KEY

pytestmark = pytest.mark.browser

SECRETS = ["console-access-token-0001", "console-app-secret-0001", "console-rotated-token-9876"]


def create_bot(console: Console, name: str, phone_number_id: str, app_secret: str = SECRETS[1]) -> str:
    page = console.page
    page.get_by_role("link", name="Add bot").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Phone Number ID", exact=True).fill(phone_number_id)
    page.get_by_label("Access Token", exact=True).fill(SECRETS[0])
    page.get_by_label("App Secret", exact=True).fill(app_secret)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name=re.compile(r"^Bot .* created\.$")).wait_for()
    return page.get_by_label("Callback URL", exact=True).input_value()


def api_key(console: Console, role: str, principal: str) -> str:
    response = console.stack.client.admin("POST", "/admin/api-keys", {"role": role, "principal_id": principal})
    assert response.status_code == 201, response.text
    return response.json()["api_key"]


def test_sign_in_rejects_a_wrong_key_and_shows_who_is_signed_in(console):
    page = console.open().page
    page.get_by_label("API key", exact=True).fill("wab.demo.0123456789ab." + "X" * 32)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The API key was not accepted")
    console.sign_in()
    expect(page.get_by_test_id("tenant")).to_have_text("demo")
    expect(page.get_by_test_id("principal")).to_have_text("admin")
    expect(page.get_by_test_id("role")).to_have_text("admin")
    assert page.evaluate("() => Object.keys(localStorage).filter(k => localStorage.getItem(k).includes('wab.'))") == []
    assert ADMIN_KEY not in page.url
    console.screenshot("overview")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    assert not console.traffic.errors


def test_add_bot_then_stop_and_start_it_from_the_list(console):
    page = console.open().sign_in().page
    page.get_by_role("link", name="Add bot").click()
    page.get_by_label("Name", exact=True).fill("Support Bot")
    expect(page.get_by_text("Will be id: support-bot")).to_be_visible()
    console.screenshot("add-bot")
    page.get_by_label("Phone Number ID", exact=True).fill("106540352249001")
    page.get_by_label("Access Token", exact=True).fill(SECRETS[0])
    page.get_by_label("App Secret", exact=True).fill(SECRETS[1])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Callback URL", exact=True)).to_have_value(f"{console.stack.api}/webhook/demo/support-bot")
    expect(page.get_by_label("Webhook field to subscribe", exact=True)).to_have_value("messages")
    assert len(page.get_by_label("Verify Token", exact=True).input_value()) >= 32  # generated, shown this once
    console.screenshot("bot-created")

    item = console.bot_item("Support Bot")
    expect(item.get_by_text("running", exact=True)).to_be_attached()
    expect(item.locator(".indicator")).to_have_class(re.compile(r"\bon\b"))
    item.get_by_role("button", name="Stop", exact=True).click()
    expect(item.get_by_text("stopped", exact=True)).to_be_attached()
    expect(item.locator(".indicator")).to_have_class(re.compile(r"\boff\b"))
    assert console.stack.client.admin("GET", "/admin/whatsapp/instances/support-bot").json()["running"] is False
    item.get_by_role("button", name="Start", exact=True).click()
    expect(item.get_by_text("running", exact=True)).to_be_attached()
    assert console.stack.client.admin("GET", "/admin/whatsapp/instances/support-bot").json()["running"] is True
    assert not console.traffic.errors


def test_ai_tab_change_persists_after_reload_and_422_is_shown_at_its_field(console):
    page = console.open().sign_in().page
    create_bot(console, "Prompt Bot", "106540352249002")
    page.get_by_role("link", name="Open the bot").click()
    page.get_by_role("tab", name="AI").click()
    page.get_by_label("System Prompt", exact=True).fill("You sell dental care plans. Be brief.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_role("tab", name="AI")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("System Prompt", exact=True)).to_have_value("You sell dental care plans. Be brief.")
    console.screenshot("bot-ai")

    temperature = page.get_by_label("Temperature", exact=True)
    temperature.fill("5")
    page.get_by_role("button", name="Save").click()
    expect(temperature).to_have_attribute("aria-invalid", "true")
    error_id = temperature.get_attribute("aria-describedby").split()[-1]
    expect(page.locator(f"#{error_id}")).to_contain_text("less than or equal to 2")
    config = console.stack.client.admin("GET", "/admin/whatsapp/instances/prompt-bot").json()
    assert config["llm_params"]["temperature"] is None  # nothing was saved


def test_voice_in_tab_and_burst_settings_persist(console):
    page = console.open().sign_in().page
    create_bot(console, "Voice Tab Bot", "106540352249093")
    page.get_by_role("link", name="Open the bot").click()
    page.get_by_role("tab", name="Voice in").click()
    page.get_by_label("Transcribe Voice Messages", exact=True).check()
    page.get_by_label("Speech-to-text Backend", exact=True).select_option("gemini")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_role("tab", name="AI").click()
    page.get_by_label("Typing Indicator", exact=True).uncheck()
    page.get_by_label("Burst Quiet Window (s)", exact=True).fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Typing Indicator", exact=True)).not_to_be_checked()
    config = console.stack.client.admin("GET", "/admin/whatsapp/instances/voice-tab-bot").json()
    assert (config["stt_enabled"], config["stt_backend"], config["typing_indicator"], config["read_receipts"],
            config["llm_debounce_seconds"]) == (True, "gemini", False, True, 0)


def test_rotating_a_secret_never_shows_it_in_the_page_or_any_response(console):
    page = console.open().sign_in().page
    create_bot(console, "Secret Bot", "106540352249003")
    page.get_by_role("link", name="Open the bot").click()
    access = page.get_by_label("Access Token", exact=True)
    expect(access).to_have_value("")
    access.fill(SECRETS[2])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(access).to_have_value("")
    expect(page.get_by_text("Set: ends in 9876")).to_be_visible()
    for tab in ("Settings", "Status", "Logs"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_load_state("networkidle")
        for secret in SECRETS:
            assert secret not in page.content()
    console.screenshot("bot-settings")
    bodies = [body for url, _, _, body in console.traffic.responses if "/admin/" in url]
    assert len(bodies) > 5
    for body in bodies:
        for secret in SECRETS:
            assert secret.encode() not in body
    # The rotation really happened: the webhook now verifies with the new secret only through SSM,
    # which the stack's status shows as set.
    status = console.stack.client.admin("GET", "/admin/whatsapp/instances/secret-bot/status").json()
    assert status["secrets_configured"]["access_token"] is True


def test_guest_sees_everything_read_only(console):
    console.stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Guest View Bot", "phone_number_id": "106540352249004", "access_token": SECRETS[0],
        "app_secret": SECRETS[1], "verify_token": "guest-view-verify"})
    page = console.open().sign_in(api_key(console, "guest", "viewer")).page
    expect(page.get_by_test_id("role")).to_have_text("guest")
    item = console.bot_item("Guest View Bot")
    expect(item).to_be_visible()
    expect(item.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("link", name="Add bot")).to_have_count(0)
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    item.get_by_role("link", name="Guest View Bot").click()
    expect(page.get_by_text("Read-only: your role can view but not change.")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.get_by_role("tab", name="Stats").click()
    expect(page.get_by_role("button", name="Reset stats")).to_have_count(0)
    console.screenshot("guest")


def test_a_user_sees_only_its_own_bots(console):
    user_key = api_key(console, "user", "sales-anna")
    mine = httpx.post(f"{console.stack.api}/admin/whatsapp/instances", headers={"authorization": f"Bearer {user_key}"},
                      json={"name": "Anna Bot", "phone_number_id": "106540352249005", "access_token": SECRETS[0],
                            "app_secret": SECRETS[1], "verify_token": "anna-verify-token"})
    assert mine.status_code == 201, mine.text
    console.stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Admin Only Bot", "phone_number_id": "106540352249006", "access_token": SECRETS[0],
        "app_secret": SECRETS[1], "verify_token": "admin-only-verify"})
    page = console.open().sign_in(user_key).page
    expect(page.get_by_test_id("role")).to_have_text("user")
    expect(console.bot_item("Anna Bot")).to_be_visible()
    expect(page.locator("li.bot")).to_have_count(1)
    expect(page.get_by_role("link", name="Admin Only Bot")).to_have_count(0)


def test_delete_asks_for_confirmation(console):
    page = console.open().sign_in().page
    create_bot(console, "Doomed Bot", "106540352249007")
    item = console.bot_item("Doomed Bot")
    item.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete Doomed Bot?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(item).to_be_visible()
    assert console.stack.client.admin("GET", "/admin/whatsapp/instances/doomed-bot").status_code == 200
    item.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)
    assert console.stack.client.admin("GET", "/admin/whatsapp/instances/doomed-bot").status_code == 404


def test_russian_view_is_remembered(console):
    page = console.open().page
    page.get_by_label("Language", exact=True).select_option("ru")
    expect(page.get_by_role("button", name="Войти")).to_be_visible()
    page.get_by_label("API-ключ", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("button", name="Выйти").wait_for()
    page.reload()
    expect(page.get_by_role("link", name="Добавить бота")).to_be_visible()
    page.get_by_role("link", name="Добавить бота").click()
    for label in ("Название", "ID номера телефона", "Токен доступа", "Секрет приложения", "LLM-бэкенд",
                  "Системный промпт"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    console.screenshot("russian")
    page.get_by_label("Язык", exact=True).select_option("en")
    expect(page.get_by_role("link", name="Add bot")).to_be_visible()


def test_traffic_shows_in_stats_and_logs(console):
    page = console.open().sign_in().page
    create_bot(console, "Traffic Bot", "106540352249008", app_secret="traffic-app-secret-1")
    client = console.stack.client
    for n, text in enumerate(("hi", "what does it cost?")):
        response = client.post_webhook("demo", "traffic-bot", "traffic-app-secret-1",
                                       text_payload("106540352249008", f"1555000900{n}", text))
        assert response.status_code == 200
    bad = client._http.post("/webhook/demo/traffic-bot", content=b"{}", headers={"x-hub-signature-256": "sha256=00"})
    assert bad.status_code in (401, 403, 404)
    page.get_by_role("link", name="Open the bot").click()
    page.get_by_role("tab", name="Stats").click()
    inbound = page.locator("table.stats-table tfoot td").first
    for _ in range(40):
        if inbound.inner_text() == "2":
            break
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(250)
    expect(inbound).to_have_text("2")
    expect(page.get_by_role("img", name="Messages per day")).to_be_visible()
    console.screenshot("bot-stats")
    page.get_by_role("tab", name="Logs").click()
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("table.data tbody tr").first).to_be_visible()
    page.get_by_role("tab", name="Status").click()
    expect(page.get_by_text("Config version")).to_be_visible()
    expect(page.get_by_text("Last inbound")).to_be_visible()
    page.get_by_role("tab", name="Stats").click()
    page.get_by_role("button", name="Reset stats").click()
    page.get_by_role("dialog").get_by_role("button", name="Reset stats").click()
    expect(page.get_by_text("Stats reset.")).to_be_visible()
    expect(inbound).to_have_text("0")


def test_tenant_pages_keys_providers_settings(console):
    page = console.open().sign_in().page
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Role", exact=True).select_option("guest")
    page.get_by_label("Principal", exact=True).fill("auditor")
    page.get_by_role("button", name="Create").click()
    new_key = page.get_by_label("New API key (shown only now)", exact=True).input_value()
    assert new_key.startswith("wab.demo.")
    row = page.locator("tr").filter(has_text="auditor")
    expect(row).to_be_visible()
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Key revoked.")).to_be_visible()
    page.reload()  # the new key was shown once; it is gone from the page now
    expect(page.locator("tr").filter(has_text="auditor")).to_be_visible()
    assert new_key not in page.content()
    console.screenshot("api-keys")

    page.get_by_role("link", name="LLM providers").click()
    page.get_by_role("button", name="Add provider").click()
    page.get_by_label("Name", exact=True).fill("Team OpenAI")
    page.get_by_label("Kind", exact=True).select_option("openai")
    page.get_by_label("Base URL", exact=True).fill("not a url")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    page.get_by_label("API key", exact=True).fill("sk-console-provider-key-5555")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Base URL", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Base URL", exact=True).fill("https://api.openai.example/v1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="cloud:team-openai")).to_be_visible()
    assert "sk-console-provider-key-5555" not in page.content()
    page.get_by_role("button", name="Remove team-openai").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Provider removed.")).to_be_visible()

    page.get_by_role("link", name="Tenant settings").click()
    page.get_by_label("vLLM Model", exact=True).fill("llama-3.1-8b")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert client_settings(console)["vllm_model"] == "llama-3.1-8b"


def client_settings(console: Console) -> dict:
    return console.stack.client.admin("GET", "/admin/settings").json()


def test_a_401_returns_to_sign_in_with_a_message(console):
    page = console.open().sign_in().page
    page.evaluate("() => sessionStorage.setItem('wabot.console.key', 'wab.demo.0123456789ab.' + 'Z'.repeat(32))")
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Sign in again")
    expect(page.get_by_label("API key", exact=True)).to_be_visible()


def test_every_console_response_carries_the_security_headers(console):
    console.open().sign_in()
    console.page.get_by_role("link", name="LLM providers").click()
    console.page.wait_for_load_state("networkidle")
    served = [(url, status, headers) for url, status, headers, _ in console.traffic.responses if "/console" in url]
    assert len(served) >= 10  # the page, its style, icon and every module
    for url, status, headers in served:
        assert status == 200, url
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert headers["x-content-type-options"] == "nosniff", url
        assert headers["referrer-policy"] == "no-referrer", url
    index = next(headers for url, _, headers in served if url.endswith("/console/"))
    assert index["cache-control"] == "no-cache"
    assets = [headers for url, _, headers in served if "/console/assets/" in url]
    assert all("immutable" in headers["cache-control"] for headers in assets)


def test_first_load_is_small_gzipped_and_every_path_is_guarded(stack):
    api = stack.api
    with httpx.Client(base_url=api, headers={"accept-encoding": "gzip"}) as http:
        page = http.get("/console/")
        assets = re.findall(r'(?:href|src)="(/console/assets/[^"]+)"', page.text)
        modules = set()
        pending = [a for a in assets if a.endswith(".js")]
        while pending:
            path = pending.pop()
            if path in modules:
                continue
            modules.add(path)
            source = http.get(path).text
            base = path.rsplit("/", 1)[0]
            pending += [f"{base}/{name}" for name in re.findall(r'from "\./([\w-]+\.js)"', source)]
        transferred = 0
        for path in ["/console/", *assets, *modules]:
            raw = http.get(path)
            transferred += int(raw.headers.get("content-length") or len(raw.content))
        assert transferred <= 150_000
        js = http.get(next(iter(modules)))
        assert js.headers["content-type"].startswith("text/javascript")
        assert js.headers["content-encoding"] == "gzip"
        plain = httpx.get(f"{api}{next(iter(modules))}", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        for path, status in (("/", 302), ("/console", 302), ("/console/nothing-here", 404),
                             ("/console/assets/0000000000000000/main.js", 404)):
            response = http.get(path, follow_redirects=False)
            assert response.status_code == status, path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
            assert response.headers["x-content-type-options"] == "nosniff", path
        assert http.get("/", follow_redirects=False).headers["location"] == "/console/"
        etag = page.headers["etag"]
        assert http.get("/console/", headers={"if-none-match": etag}).status_code == 304


def test_every_label_has_its_russian_counterpart():
    static = Path(__file__).resolve().parents[2] / "functions" / "console" / "static"
    source = "\n".join(path.read_text() for path in static.glob("*.js"))
    used = set(re.findall(r'\bt\(\s*"((?:[^"\\]|\\.)*)"', source))
    # Tab and counter names are pairs [key, English label]; option pairs whose label is the value itself are not text.
    pairs = re.findall(r'\["(\w+)", "([^"]+)"\]', (static / "bot.js").read_text())
    used |= {label for key, label in pairs if key != label}
    russian = set(re.findall(r'^\s*"((?:[^"\\]|\\.)*)":', (static / "i18n.js").read_text(), flags=re.M))
    assert len(used) > 100
    assert sorted(used - russian) == []


def test_keyboard_only_sign_in_and_tabs(console):
    page = console.open().page
    page.keyboard.type(ADMIN_KEY)  # the key field has focus on load
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign out").wait_for()
    create_bot(console, "Keyboard Bot", "106540352249009")
    page.get_by_role("link", name="Open the bot").focus()
    page.keyboard.press("Enter")
    settings = page.get_by_role("tab", name="Settings")
    expect(settings).to_have_attribute("aria-selected", "true")
    settings.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="AI")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="AI")).to_be_focused()
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Status")).to_have_attribute("aria-selected", "true")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []


def test_a_long_list_loads_with_more_and_shows_only_the_tenants_bots(console):
    other = console.stack.other  # the globex tenant
    for n in range(23):
        response = other.admin("POST", "/admin/whatsapp/instances", {
            "name": f"Globex {n:02d}", "phone_number_id": f"2065403522{n:05d}", "access_token": SECRETS[0],
            "app_secret": SECRETS[1], "verify_token": "globex-verify-token"})
        assert response.status_code == 201, response.text
    page = console.open().sign_in(other.admin_key).page
    expect(page.get_by_test_id("tenant")).to_have_text("globex")
    bots = page.locator("li.bot")
    expect(bots).to_have_count(20)
    page.get_by_role("button", name="More").click()
    expect(bots).to_have_count(23)
    expect(page.get_by_role("button", name="More")).to_be_hidden()
    expect(page.get_by_role("link", name="Support Bot")).to_have_count(0)  # the demo tenant's bots never show


def test_funnel_tab_templates_simulate_and_problems_at_their_node(console):
    page = console.open().sign_in().page
    create_bot(console, "Clinic Bot", "106540352249010")
    page.get_by_role("link", name="Open the bot").click()
    page.get_by_role("tab", name="Funnel").click()
    expect(page.get_by_text("Default funnel")).to_be_visible()
    page.get_by_label("Template", exact=True).select_option("clinic")
    page.get_by_role("button", name="Use template").click()
    page.get_by_role("dialog").get_by_role("button", name="Use template").click()
    expect(page.get_by_text("Custom funnel")).to_be_visible()
    assert "Bright Smile Dental" in page.get_by_label("Funnel JSON", exact=True).input_value()

    page.get_by_label("Message", exact=True).fill("hi")
    page.get_by_role("button", name="Send", exact=True).click()
    chat = page.get_by_role("list", name="Simulated conversation")
    expect(chat).to_contain_text("Welcome to *Bright Smile Dental*")
    chat.get_by_role("button", name="Opening hours").click()
    expect(chat).to_contain_text("Opening hours")
    expect(chat.locator(".bubble-user")).to_have_count(2)
    console.screenshot("bot-funnel")

    document = json.loads(page.get_by_label("Funnel JSON", exact=True).input_value())
    document["nodes"]["welcome"]["buttons"][0]["title"] = "A title far longer than twenty characters"
    page.get_by_label("Funnel JSON", exact=True).fill(json.dumps(document))
    page.get_by_role("button", name="Save", exact=True).click()
    problems = page.locator("#funnel-problems")
    expect(problems).to_contain_text("nodes.welcome.buttons.0.title")
    stored = console.stack.client.admin("GET", "/admin/whatsapp/instances/clinic-bot/funnel").json()
    assert stored["definition"]["nodes"]["welcome"]["buttons"][0]["title"] == "Book a visit"  # nothing saved

    client = console.stack.client
    response = client.post_webhook("demo", "clinic-bot", SECRETS[1],
                                   text_payload("106540352249010", "15550009100", "hi"))
    assert response.status_code == 200
    page.get_by_role("tab", name="Stats").click()
    table = page.locator("section.funnel-stats")
    for _ in range(40):
        if "welcome" in table.inner_text():
            break
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(250)
    expect(table.get_by_role("row", name=re.compile(r"^welcome 1 "))).to_be_visible()


def test_inbox_take_over_reply_template_and_give_back(console):
    page = console.open().sign_in().page
    create_bot(console, "Inbox Bot", "106540352249020", app_secret="inbox-app-secret-1")
    client = console.stack.client
    assert client.admin("PUT", "/admin/whatsapp/instances/inbox-bot", {"waba_id": "102290129340398"}).status_code == 200
    recent, lapsed = "15550009201", "15550009202"
    for user, age in ((lapsed, 25 * 3600), (recent, 0)):
        payload = text_payload("106540352249020", user, f"hello from {user}")
        payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()) - age)
        assert client.post_webhook("demo", "inbox-bot", "inbox-app-secret-1", payload).status_code == 200
    page.get_by_role("link", name="Open the bot").click()
    page.get_by_role("tab", name="Inbox").click()
    rows = page.locator("table.inbox tbody tr")
    for _ in range(40):
        if rows.count() == 2:
            break
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(250)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"hello from {recent}")  # most recent activity first

    rows.first.get_by_role("button", name="Open").click()
    messages = page.locator("ol.messages li")
    expect(messages.first).to_contain_text(f"hello from {recent}")
    expect(page.get_by_text("The bot answers this conversation.")).to_be_visible()
    page.get_by_role("button", name="Take over").click()
    expect(page.get_by_text(re.compile("^A person handles this conversation"))).to_be_visible()
    page.get_by_label("Reply", exact=True).fill("Hi, this is Anna.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text(re.compile("^Queued for sending"))).to_be_visible()
    outbox = [e["body"] for e in client.outbox() if e.get("body", {}).get("to") == f"+{recent}"]
    for _ in range(40):
        if any(b.get("text", {}).get("body") == "Hi, this is Anna." for b in outbox):
            break
        page.wait_for_timeout(250)
        outbox = [e["body"] for e in client.outbox() if e.get("body", {}).get("to") == f"+{recent}"]
    assert any(b.get("text", {}).get("body") == "Hi, this is Anna." for b in outbox)
    rows.first.get_by_role("button", name="Open").click()
    expect(page.locator("ol.messages li.from-manager")).to_contain_text("Hi, this is Anna.")
    console.screenshot("inbox")
    page.get_by_role("button", name="Give back to the bot").click()
    expect(page.get_by_text("The bot answers this conversation.")).to_be_visible()

    rows.filter(has_text=f"hello from {lapsed}").get_by_role("button", name="Open").click()
    expect(page.get_by_text(re.compile("^The 24-hour window is closed"))).to_be_visible()
    expect(page.get_by_label("Reply", exact=True)).to_have_count(0)
    page.get_by_label("Template", exact=True).select_option(label="follow_up (ru)")
    page.get_by_label("Body value 1", exact=True).fill("Анна")
    page.get_by_role("button", name="Send template").click()
    expect(page.get_by_text("Template queued for sending.")).to_be_visible()
    for _ in range(40):
        sent = [e["body"] for e in client.outbox() if e.get("body", {}).get("type") == "template"]
        if sent:
            break
        page.wait_for_timeout(250)
    assert sent[-1]["template"]["name"] == "follow_up" and sent[-1]["to"] == f"+{lapsed}"


def test_health_shows_on_the_overview_and_in_the_bots_health_tab(console):
    stack = console.stack
    token = "console-health-token-0001"
    created = stack.client.admin("POST", "/admin/whatsapp/instances", {
        "name": "Health Watch", "phone_number_id": "106540352248888", "access_token": token,
        "app_secret": SECRETS[1], "verify_token": "console-health-verify"})
    assert created.status_code == 201, created.text
    assert httpx.post(f"{stack.api}/_local/graph/control", json={"expire_token": token}).status_code == 200
    assert httpx.post(f"{stack.api}/_local/schedules/run", timeout=30).status_code == 200

    page = console.open().sign_in().page
    attention = page.get_by_test_id("needs-attention")
    for _ in range(40):  # the health worker runs from the queue: reload until it has written
        if attention.get_by_role("link", name="health-watch").count():
            break
        page.wait_for_timeout(500)
        page.reload()
        attention = page.get_by_test_id("needs-attention")
    expect(attention.get_by_role("link", name="health-watch")).to_be_visible()
    expect(attention).to_contain_text("failing")
    attention.get_by_role("link", name="health-watch").click()
    expect(page.get_by_role("tab", name="Health")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("health-status")).to_contain_text("failing")
    expect(page.get_by_test_id("health-status")).to_contain_text("access token invalid")
    panel = page.get_by_role("tabpanel")
    expect(panel).to_contain_text("invalid")
    expect(panel).to_contain_text("Sends paused")
    assert token not in page.content()
    console.screenshot("bot-health")

    # Russian labels, and the tab order ends with Status (keyboard End still reaches it).
    page.get_by_label("Language", exact=True).select_option("ru")
    expect(page.get_by_role("tab", name="Здоровье")).to_be_visible()
    expect(page.get_by_test_id("health-status")).to_contain_text("сбой")
    page.get_by_label("Язык", exact=True).select_option("en")
    assert httpx.post(f"{stack.api}/_local/graph/control", json={"restore_token": token}).status_code == 200
    assert not console.traffic.errors
