"""One webhook POST, to the address that was checked (shared/notify/addresses.py).

The connection goes to `Target.address` itself, not to the name again: the name is resolved once,
checked, and that address is dialled, so DNS rebinding (a name answering a public address to the
check and a private one to the connection) has nothing to swap. TLS still verifies the certificate
against the host name (SNI and hostname check), and the Host header is the URL's. Redirects are not
followed (http.client never does; a 3xx is a failed attempt, as Standard Webhooks advises); one
timeout bounds connecting and each read, the whole attempt is cut at `webhook_timeout_seconds`, and
at most MAX_ANSWER_BYTES of the answer are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from shared.notify.addresses import Target

MAX_ANSWER_BYTES = 4096
USER_AGENT = "Coatro-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error when no answer came; and how long it took."""

    status: int | None
    error: str | None
    latency_ms: int
    retry_after: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and certificate checks for the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to a fixed (loopback) address: only with `webhooks_allow_loopback`."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST `body` to `target`; never raises for what the network or the receiver does."""
    started = time.monotonic()
    connection: http.client.HTTPConnection = (
        _PinnedHTTPS(target, timeout) if target.scheme == "https" else _PinnedHTTP(target, timeout)
    )
    host = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "Host": host if target.port == default_port else f"{host}:{target.port}",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
        )
        response = connection.getresponse()
        remaining = max(0.1, timeout - (time.monotonic() - started))
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        response.read(MAX_ANSWER_BYTES)
        return Outcome(response.status, None, _ms(started), response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Outcome(None, _describe(exc), _ms(started))
    finally:
        connection.close()


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{exc.__class__.__name__}: {exc}"[:300]
