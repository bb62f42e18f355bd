"""Where callers reach the API, for absolute links in responses (the report's page links).

Two sources only: the configured public base URL (`COATRO_PUBLIC_BASE_URL`), or the host and scheme a
gateway forwards (`X-Forwarded-Host`, `X-Forwarded-Proto`: API Gateway's Envoy appends the Host it
rewrote, the local gateway replaces both). Never the request's own Host: behind a gateway that is the
function's internal address. A forwarded host is used only when it is a valid RFC 3986 host[:port]: an
RFC 1123 host name, an IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # RFC 1123 2.1: letters, digits, inner hyphens
_PORT = re.compile(r"[0-9]{1,5}")
SCHEMES = ("http", "https")


def authority(value: str) -> str | None:
    """`value` lower-cased if it is a host[:port] (see the module), else None."""
    if not isinstance(value, str) or not value.isascii():
        return None
    value = value.lower()
    if value.startswith("["):  # IP-literal: IPv6 only, no zone id, no IPvFuture
        end = value.find("]")
        host, port = value[: end + 1], value[end + 1 :]
        if end < 0 or "%" in host or not _ipv6(host[1:-1]):
            return None
    else:
        host, colon, port = value.partition(":")
        port = colon + port
        if not _host_name(host):
            return None
    if port and not (port[0] == ":" and _PORT.fullmatch(port[1:]) and 1 <= int(port[1:]) <= 65535):
        return None
    return value


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _host_name(host: str) -> bool:
    if not 1 <= len(host) <= 253:
        return False
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    if labels[-1].isdigit():  # dotted decimal: an IPv4 address (no leading zeros), or no host at all
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def _last(headers: Headers, name: str) -> str | None:
    # Proxies append: "client-claimed, ..., set-by-the-nearest-proxy"; only the last one is ours.
    values = headers.getlist(name)
    return ",".join(values).rsplit(",", 1)[-1].strip() if values else None


def forwarded_origin(headers: Headers) -> str | None:
    """scheme://host[:port] from X-Forwarded-Proto and X-Forwarded-Host, or None unless both are valid."""
    host = authority(_last(headers, "X-Forwarded-Host") or "")
    proto = (_last(headers, "X-Forwarded-Proto") or "").lower()
    return f"{proto}://{host}" if host and proto in SCHEMES else None


def base_url(value: str | None) -> str | None:
    """A configured public base URL, http(s)://host[:port][/path], without its trailing slash; "" is None.
    ValueError for anything else (a user, a query, a fragment, another scheme, no host)."""
    if not value:
        return None
    parts = urlsplit(value)
    if (
        parts.scheme not in SCHEMES
        or authority(parts.netloc) is None
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
        or not value.isascii()
        or any(c.isspace() for c in value)
    ):
        raise ValueError(
            "should be http(s)://host[:port] with an optional path, e.g. https://api.example.com"
        )
    return value.rstrip("/")
