"""Outbound HTTP to URLs a tenant can set (LLM providers, TTS servers, instance overrides).

Every such URL is hostile (SSRF). `GuardedHttp` is the one way to call one:
- `https` only; plain `http` only when every address of the host is in the stack's allow-list
  (`OUTBOUND_ALLOWED_NETWORKS`: the local stack names its own loopback fakes there);
- the host is resolved and every address checked: link-local (169.254.0.0/16 with the
  instance metadata service, fd00:ec2::254), loopback, private, shared, multicast, reserved
  and unspecified ranges are refused unless the allow-list names them;
- the connection goes to the checked address (no second lookup, so no DNS rebinding) while
  the Host header, TLS SNI and certificate verification keep the hostname;
- no redirects, no proxies from the environment; the caller gives a fixed path per backend kind;
- the answer is read up to a byte cap; anything wrong is one `BackendError` whose `reason` is
  one of a few fixed words (never a response body or exception text).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Reason = Literal["not_allowed", "timeout", "unreachable", "http_status", "too_large", "bad_response"]

LLM_MAX_BYTES = 1024 * 1024
AUDIO_MAX_BYTES = 10 * 1024 * 1024
# Refused even though `ipaddress` does not flag all of them: AWS's IPv6 metadata endpoint sits
# in fd00::/8 (private), NAT64 and 6to4 can wrap any IPv4 address.
_ALWAYS_SPECIAL = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fd00:ec2::254/128", "100.64.0.0/10", "0.0.0.0/8", "64:ff9b::/96", "64:ff9b:1::/48",
    "2002::/16", "fc00::/7", "fe80::/10"))
# A base URL's path is a plain prefix: no dot segments, no percent-encoding, no query.
_PATH_PREFIX = re.compile(r"^(/[A-Za-z0-9_\-]+)*/?$")


class BackendError(Exception):
    """A tenant-set backend failed or was refused. The message is fixed per reason."""

    def __init__(self, reason: Reason, status: int | None = None) -> None:
        super().__init__(f"backend {reason.replace('_', ' ')}" + (f" {status}" if status else ""))
        self.reason: Reason = reason
        self.status = status


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """`127.0.0.1/32, 10.0.0.0/8` -> networks (ValueError for anything else)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def base_url_problem(url: str) -> str | None:
    """Why a tenant-given base URL is not acceptable in shape (None when it is)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return "must be an https URL"
    if parts.username is not None or parts.password is not None:
        return "may not carry credentials"
    if parts.query or parts.fragment:
        return "may not have a query or fragment"
    if not _PATH_PREFIX.fullmatch(parts.path or "/"):
        return "the path may only be a plain prefix such as /api"
    return None


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def json_object(raw: bytes) -> dict[str, Any]:
    """A backend's answer, which must be a JSON object; anything else is one generic error."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise BackendError("bad_response") from None
    if not isinstance(data, dict):
        raise BackendError("bad_response")
    return data


@dataclass(frozen=True)
class EgressPolicy:
    allowed_networks: tuple[IpNetwork, ...] = ()

    def _allowed(self, address: IpAddress) -> bool:
        return any(address in network for network in self.allowed_networks)

    def address_ok(self, address: IpAddress) -> bool:
        if self._allowed(address):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.address_ok(address.ipv4_mapped)
        special = (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                   or address.is_reserved or address.is_unspecified or not address.is_global
                   or any(address in network for network in _ALWAYS_SPECIAL if network.version == address.version))
        return not special

    def http_ok(self, addresses: Iterable[IpAddress]) -> bool:
        """Plain http only to addresses the allow-list names (the local stack's own fakes)."""
        return all(self._allowed(address) for address in addresses)


@dataclass
class GuardedHttp:
    policy: EgressPolicy = field(default_factory=EgressPolicy)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(
        timeout=httpx.Timeout(30.0, connect=3.0), follow_redirects=False, trust_env=False))
    resolve: Resolver = _system_resolver

    def post_json(self, base_url: str, path: str, *, body: Any, headers: dict[str, str], timeout: float,
                  max_bytes: int = LLM_MAX_BYTES) -> dict[str, Any]:
        """POST a JSON body; the answer must be a JSON object."""
        return json_object(self.post(base_url, path, json_body=body, headers=headers, timeout=timeout,
                                     max_bytes=max_bytes))

    def post(self, base_url: str, path: str, *, timeout: float, max_bytes: int, json_body: Any = None,
             content: bytes | None = None, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, data: dict[str, str] | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None) -> bytes:
        """POST to a tenant's base URL plus `path`, the backend kind's fixed path: the body, capped.
        `data` with `files` is a multipart form (speech-to-text uploads)."""
        target, address = self._checked_target(base_url)
        url = target.copy_with(host=address, path=target.path.rstrip("/") + path)
        request = self.client.build_request(
            "POST", url, json=json_body, content=content, params=params, data=data, files=files,
            headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
            extensions={"sni_hostname": target.raw_host.decode("ascii")}, timeout=timeout)
        try:
            response = self.client.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException:
            raise BackendError("timeout") from None
        except httpx.HTTPError:
            raise BackendError("unreachable") from None
        try:
            if response.status_code != 200:
                raise BackendError("http_status", response.status_code)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise BackendError("too_large")
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > max_bytes:
                    raise BackendError("too_large")
            return bytes(received)
        except httpx.TimeoutException:
            raise BackendError("timeout") from None
        except httpx.HTTPError:
            raise BackendError("unreachable") from None
        finally:
            response.close()

    def _checked_target(self, base_url: str) -> tuple[httpx.URL, str]:
        """The base URL and the one checked address to connect to."""
        if base_url_problem(base_url) is not None:
            raise BackendError("not_allowed")
        try:
            target = httpx.URL(base_url)
            host, port = target.host, target.port or (443 if target.scheme == "https" else 80)
            literal = _literal_address(host)
            addresses = [literal] if literal else [ipaddress.ip_address(a.split("%")[0])
                                                   for a in self.resolve(host, port)]
        except (OSError, ValueError, httpx.InvalidURL):
            raise BackendError("not_allowed") from None  # unresolvable looks like refused: no DNS oracle
        if not host or not addresses or not all(self.policy.address_ok(a) for a in addresses):
            raise BackendError("not_allowed")
        if target.scheme != "https" and not self.policy.http_ok(addresses):
            raise BackendError("not_allowed")
        return target, str(addresses[0])


def _literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
