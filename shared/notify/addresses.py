"""Where a webhook may be sent: server-side request forgery (SSRF) guards (docs/webhooks.md, "SSRF").

A tenant's URL is resolved and every address it resolves to must be public: loopback, private
(RFC 1918, IPv6 unique-local fc00::/7), link-local (169.254/16 with the metadata server's
169.254.169.254, fe80::/10), shared address space (CGNAT, 100.64/10), multicast, unspecified,
reserved and documentation ranges are refused, as are IPv4-mapped / NAT64 forms of those, and the
metadata server's names. This is checked at registration and again before every attempt, and the
attempt connects to the very address checked (shared/notify/sending.py), so a name that resolves
elsewhere the second time (DNS rebinding) cannot steer a delivery inside. Standard Webhooks, "Server
side request forgery (SSRF)"; OWASP API7:2023.

Only `https` is accepted, except that `http` to a loopback address is allowed when the setting
`webhooks_allow_loopback` is on (the local stack's tests, which run their receiver on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class Refused(ValueError):
    """The URL may not receive webhooks; the message says why (shown to the tenant)."""


@dataclass(frozen=True)
class Target:
    """A URL checked: its scheme, host (for Host and TLS SNI), port, path with query, and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    infos: list[tuple[Any, ...]] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def forbidden(address: Address) -> str | None:
    """Why an address may not be called, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return forbidden(address.ipv4_mapped)
        if address in _NAT64:
            return forbidden(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return forbidden(address.sixtofour)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address (the metadata server's among them)"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), None)


def check(url: str, allow_loopback: bool, resolver: Resolver | None = None) -> Target:
    """The target of a webhook URL, or Refused saying why not. `resolver` defaults to `resolve`
    (looked up at call time)."""
    resolver = resolver or resolve
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"a URL is at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a URL: {exc}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("https", "http"):
        raise Refused("the URL must be https://")
    if not host:
        raise Refused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not hold credentials (user:password@)")
    if parts.fragment:
        raise Refused("the URL must not hold a fragment (#...)")
    if host in METADATA_NAMES or host.endswith(".internal"):
        raise Refused(f"{host} is a metadata or internal name")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"{host} could not be resolved ({exc.__class__.__name__})") from None
        if not addresses:
            raise Refused(f"{host} resolves to no address")
    parsed = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
    loopback_ok = allow_loopback and all(a.is_loopback for a in parsed)
    if not loopback_ok:
        for address in parsed:
            if why := forbidden(address):
                raise Refused(f"{host} resolves to {address}, {why}, which cannot receive webhooks")
        if scheme != "https":
            raise Refused("the URL must be https://")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(parsed[0]))
