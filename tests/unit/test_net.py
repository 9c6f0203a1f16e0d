"""The SSRF guard for tenant-set URLs: schemes, every resolved address, pinning, redirects, caps."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from wabot.net import BackendError, EgressPolicy, GuardedHttp, base_url_problem, parse_networks

PUBLIC = "93.184.215.14"


def guard(handler=None, addresses=(PUBLIC,), allowed: str = "") -> tuple[GuardedHttp, list[httpx.Request], list]:
    requests: list[httpx.Request] = []
    lookups: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request) if handler else httpx.Response(200, json={"ok": True})

    def resolve(host: str, _port: int) -> list[str]:
        lookups.append(host)
        return list(addresses)

    http = GuardedHttp(EgressPolicy(parse_networks(allowed)), client=httpx.Client(
        transport=httpx.MockTransport(respond)), resolve=resolve)
    return http, requests, lookups


def refused(http: GuardedHttp, base: str) -> BackendError:
    with pytest.raises(BackendError) as raised:
        http.post_json(base, "/v1/x", body={}, headers={}, timeout=5)
    return raised.value


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "127.0.0.1", "127.1.2.3", "::1", "10.0.0.1",
    "172.16.5.5", "192.168.1.1", "100.64.0.1", "224.0.0.1", "ff02::1", "0.0.0.0",  # noqa: S104 - refused, not bound
    "::", "240.0.0.1",
    "255.255.255.255", "fe80::1", "fc00::1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1", "192.0.2.1", "198.18.0.1"])
def test_special_addresses_are_refused(address):
    http, requests, _ = guard(addresses=[address])
    assert refused(http, "https://provider.example").reason == "not_allowed"
    host = f"[{address}]" if ":" in address else address
    assert refused(http, f"https://{host}").reason == "not_allowed"  # a literal address too
    assert requests == []


def test_every_resolved_address_is_checked():
    http, requests, _ = guard(addresses=[PUBLIC, "169.254.169.254"])
    assert refused(http, "https://provider.example").reason == "not_allowed"
    assert requests == []


def test_unresolvable_looks_the_same_as_refused():
    def fail(host, port):
        raise OSError("Name or service not known")

    http = GuardedHttp(resolve=fail, client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))))
    assert refused(http, "https://nowhere.example").reason == "not_allowed"


@pytest.mark.parametrize("base", ["http://provider.example", "ftp://provider.example", "file:///etc/passwd",
                                  "https://user:pw@provider.example", "https://provider.example/?x=1",
                                  "https://provider.example/#f", "https://provider.example/a/../b",
                                  "https://provider.example/%2e%2e/", "gopher://provider.example"])
def test_only_https_base_urls_of_a_plain_shape(base):
    http, requests, _ = guard()
    assert refused(http, base).reason == "not_allowed"
    assert requests == []
    assert (base_url_problem(base) is None) == base.startswith("http://")  # http: refused by address


def test_plain_http_only_to_the_stack_allow_list():
    http, requests, _ = guard(addresses=["127.0.0.1"], allowed="127.0.0.1/32")
    assert http.post_json("http://fake.local:3000/_local/fake-llm", "/v1/chat/completions", body={}, headers={},
                          timeout=5) == {"ok": True}
    assert requests[0].url == "http://127.0.0.1:3000/_local/fake-llm/v1/chat/completions"
    public, _, _ = guard(addresses=[PUBLIC], allowed="127.0.0.1/32")
    assert refused(public, "http://provider.example").reason == "not_allowed"
    other, _, _ = guard(addresses=["127.0.0.2"], allowed="127.0.0.1/32")
    assert refused(other, "http://fake.local").reason == "not_allowed"


def test_the_connection_is_pinned_to_the_checked_address_keeping_host_and_sni():
    http, requests, lookups = guard()
    http.post_json("https://api.provider.example:8443/api", "/v1/messages", body={"a": 1}, headers={"x-api-key": "k"},
                   timeout=5)
    [request] = requests
    assert request.url == f"https://{PUBLIC}:8443/api/v1/messages"
    assert request.headers["host"] == "api.provider.example:8443"
    assert request.extensions["sni_hostname"] == "api.provider.example"
    assert lookups == ["api.provider.example"]  # resolved once: nothing else can answer a second lookup


def test_redirects_are_not_followed():
    http, requests, _ = guard(lambda r: httpx.Response(302, headers={"location": "http://169.254.169.254/"}))
    error = refused(http, "https://provider.example")
    assert (error.reason, error.status) == ("http_status", 302)
    assert len(requests) == 1


def test_answers_are_capped_with_or_without_a_length():
    big = b"x" * 2048
    http, _, _ = guard(lambda r: httpx.Response(200, content=big))
    with pytest.raises(BackendError) as raised:
        http.post("https://provider.example", "/a", timeout=5, max_bytes=1024)
    assert raised.value.reason == "too_large"
    streamed, _, _ = guard(lambda r: httpx.Response(200, content=iter([big[:1000], big[1000:]])))
    with pytest.raises(BackendError) as raised:
        streamed.post("https://provider.example", "/a", timeout=5, max_bytes=1024)
    assert raised.value.reason == "too_large"
    assert streamed.post("https://provider.example", "/a", timeout=5, max_bytes=4096) == big


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"text"', b"null"])
def test_answers_must_be_a_json_object(body):
    http, _, _ = guard(lambda r: httpx.Response(200, content=body))
    assert refused(http, "https://provider.example").reason == "bad_response"


def test_errors_carry_no_body_or_exception_text():
    secret_body = "internal-metadata-credentials"
    http, _, _ = guard(lambda r: httpx.Response(500, text=secret_body))
    error = refused(http, "https://provider.example")
    assert str(error) == "backend http status 500" and error.__cause__ is None and error.__context__ is None

    def broken(request):
        raise httpx.ConnectError(f"cannot reach {secret_body}")

    http, _, _ = guard(broken)
    error = refused(http, "https://provider.example")
    assert str(error) == "backend unreachable" and error.__suppress_context__


def test_a_real_connection_goes_to_the_pinned_address_with_the_hostname_as_host():
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers["host"])
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        http = GuardedHttp(EgressPolicy(parse_networks("127.0.0.1/32")), resolve=lambda host, p: ["127.0.0.1"])
        answer = http.post_json(f"http://tts.internal.example:{port}", "/synthesize/", body={}, headers={},
                                timeout=5)
        assert answer == {"path": "/synthesize/"}
        assert seen == [f"tts.internal.example:{port}"]
        strict = GuardedHttp(resolve=lambda host, p: ["127.0.0.1"])
        assert refused(strict, f"https://tts.internal.example:{port}").reason == "not_allowed"
    finally:
        server.shutdown()
        server.server_close()
