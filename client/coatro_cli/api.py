"""HTTP to the Coatro API: one session, problem+json errors, retries with backoff for transient failures.

Retries are urllib3's `Retry`, mounted on the session's adapters: it decides which failures are retried
(a connection that failed or dropped, a status of RETRYABLE_STATUS) and how many times, and resends the
body (rewinding a file). How long to wait before each retry is RetryPolicy's, a server's Retry-After
first; ApiClient sleeps it, says why, and counts it.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.util.retry import Retry

from coatro_cli import __version__

EVENTS_PATH = "/coatro/v1/pop/events"
TOKEN_PATH = "/coatro/v1/oauth/token"
REPORT_PATH = "/coatro/v1/pop/reports/delivery"
REPORT_PAGE_SIZE = 200  # the API's largest per_page
# Two families of bulk endpoints: dynamic (ingest names a schemaVersion) and canonical (files of
# canonical events). A job belongs to the family that created it; its id says which (job-bulk-pop-…).
DYNAMIC_BULK = "/coatro/v1/pop/dynamic/bulk"
CANONICAL_BULK = "/coatro/v1/pop/bulk"
SCHEMAS_PATH = "/coatro/v1/pop/dynamic/schemas"
SCREENS_PATH = "/coatro/v1/pop/screens"
WEBHOOKS_PATH = "/coatro/v1/pop/webhooks"
BOOKINGS_PATH = "/coatro/v1/pop/bookings"
PERFORMANCE_PATH = "/coatro/v1/pop/reports/performance"

# Worth another try: the request was throttled, or a gateway/server could not handle it right now.
# Events without an eventId get deterministic ids server-side and ingest is idempotent per fileId,
# so repeating a request never duplicates data. 400/401/404/413/415 mean the request itself is wrong.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's Retry-After wins over the computed delay."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        rng = rng or random
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after)
            # A little jitter on top, so clients told the same Retry-After don't return in lockstep.
            return wait + rng.uniform(0, min(wait * 0.1, 1.0))
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # "Equal jitter": the delay still grows every attempt, and callers are spread out.
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def iter_pages(
    first: dict[str, Any], key: str, more: Callable[[str], dict[str, Any]], what: str
) -> Iterator[dict[str, Any]]:
    """The items under `key` of a page and, following nextPageToken (`more(token)`), of every page
    after it. A token given twice is an error, not an endless loop (`what` names the listing)."""
    page, seen = first, set()
    while True:
        yield from page.get(key) or []
        token = page.get("nextPageToken")
        if not token:
            return
        if token in seen:  # a server bug must not become an endless loop
            raise ApiError(200, "Unexpected response", f"{what} repeat page token {token!r}")
        seen.add(token)
        page = more(token)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ApiError(Exception):
    """The API (or the storage URL) answered with an error status."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: list[Any] | None = None,
        problem_type: str | None = None,
        retry_after: float | None = None,
        url: str = "",
    ):
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.problem_type = problem_type
        self.retry_after = retry_after
        self.url = url

    @classmethod
    def from_response(cls, resp: requests.Response) -> ApiError:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        try:
            body = resp.json()
        except ValueError:
            body = None
        title = error_title(body, resp.reason)
        if isinstance(body, dict) and isinstance(body.get("error"), str) and "title" not in body:
            # An OAuth2 error (RFC 6749 §5.2) from the token endpoint: {"error", "error_description"}.
            description = str(body.get("error_description") or "")
            return cls(resp.status_code, title, description, None, None, retry_after, resp.url)
        if isinstance(body, dict) and ("title" in body or "detail" in body):
            errors = body.get("errors")
            return cls(
                resp.status_code,
                title,
                str(body.get("detail") or ""),
                errors if isinstance(errors, list) else None,
                body.get("type"),
                retry_after,
                resp.url,
            )
        # Not a problem document (a proxy's HTML page, the storage service's XML): show its start.
        text = " ".join((resp.text or "").split())
        return cls(resp.status_code, title, text[:500], None, None, retry_after, resp.url)

    def lines(self, describe_error: Callable[[Any], str] | None = None) -> list[str]:
        """A human explanation: status, title, detail, then each listed error."""
        head = f"{self.status} {self.title}"
        if self.detail:
            head += f": {self.detail}"
        out = [head]
        describe = describe_error or describe_error_item
        out += [f"  {describe(e)}" for e in self.errors]
        if self.status == 401:
            out.append(
                "  check the API key (--api-key, COATRO_API_KEY or api_key in the config file) or the OAuth2 "
                "client credentials (COATRO_CLIENT_ID / COATRO_CLIENT_SECRET, client_id / client_secret)"
            )
        if self.status == 403:
            out.append(
                "  the OAuth2 client lacks the scope this command needs (pop:write to send, reports:read for reports)"
            )
        return out


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        return None


def error_title(body: Any, reason: str | None) -> str:
    """What an error answer is called: an OAuth2 error's code, a problem's title, else the reason phrase."""
    if isinstance(body, dict) and isinstance(body.get("error"), str) and "title" not in body:
        return str(body["error"])
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        return str(body.get("title") or reason or "Error")
    return reason or "Error"


def describe_error_item(item: Any) -> str:
    """One entry of a problem's `errors` list, whatever its shape."""
    if isinstance(item, dict):
        if "row" in item:
            return f"row {item['row']}: {item.get('error', item.get('message', ''))}"
        if "message" in item:
            where = []
            if item.get("index") is not None:
                where.append(f"event {item['index']}")
            if item.get("field"):
                where.append(str(item["field"]))
            return ": ".join(where + [str(item["message"])])
        return json.dumps(item, ensure_ascii=False)
    return str(item)


class NetworkError(Exception):
    """The server could not be reached (refused, DNS, timeout, connection dropped), after retries."""

    def __init__(self, url: str, cause: BaseException):
        self.origin = origin(url)
        self.reason = short_reason(cause)
        super().__init__(self.message())

    def message(self) -> str:
        host = urlsplit(self.origin).hostname or ""
        hint = ": is the local stack running? make dev" if host in LOCAL_HOSTS else ""
        return f"cannot reach {self.origin}{hint} ({self.reason})"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def short_reason(exc: BaseException) -> str:
    text = str(exc)
    for pattern in (
        r"\[Errno -?\d+\] ([^'\")]+)",
        r"(Read timed out)",
        r"(Connection aborted)",
        r"(timed out)",
    ):
        if m := re.search(pattern, text):
            return m.group(1).strip()
    return type(exc).__name__


class _Retry(Retry):
    """urllib3's Retry, handing each wait to `wait` (ApiClient._wait) instead of sleeping its own backoff.
    urllib3 makes a new one at every failure (`new`); each keeps `wait`, and holds `answer`: the status
    and title of the answer it was made for (None after a connection error)."""

    def __init__(self, *args: Any, wait: Callable[[_Retry, float | None], None] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.wait = wait
        self.answer: str | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.wait = self.wait
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # MaxRetryError: spent
        if response is not None:  # read now: urllib3 drains the body before it sleeps
            retry.answer = f"{response.status} {error_title(_json_or_none(response.data), response.reason)}"
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if self.wait is not None:
            self.wait(self, parse_retry_after(response.headers.get("Retry-After")) if response else None)


@dataclass
class TokenSource:
    """OAuth2 client credentials (RFC 6749 §4.4): a Bearer token fetched on first use and renewed before it
    expires (a minute early, or at 90% of a short lifetime), or at once after the API refused it."""

    client_id: str
    client_secret: str
    clock: Callable[[], float] = time.monotonic
    token: str | None = None
    expires_at: float = 0.0
    fetched: int = 0

    def header(self, client: ApiClient) -> str:
        if self.token is None or self.clock() >= self.expires_at:
            self._fetch(client)
        return f"Bearer {self.token}"

    def invalidate(self) -> None:
        self.token = None

    def _fetch(self, client: ApiClient) -> None:
        from base64 import b64encode
        from urllib.parse import quote_plus, urlencode

        # HTTP Basic with the form-urlencoded id and secret (§2.3.1); the body carries only the grant.
        basic = b64encode(f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}".encode()).decode()
        started = self.clock()
        resp = client.request(
            "POST",
            TOKEN_PATH,
            body=urlencode({"grant_type": "client_credentials"}).encode(),
            send_key=False,
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        body = _json(resp)
        if body.get("token_type", "").lower() != "bearer" or not body.get("access_token"):
            raise ApiError(
                resp.status_code,
                "Unexpected response",
                "the token endpoint returned no Bearer token",
                url=resp.url,
            )
        lifetime = float(body.get("expires_in") or 0)
        self.token = body["access_token"]
        self.expires_at = started + max(lifetime - 60, lifetime * 0.9, 0.0)
        self.fetched += 1


@dataclass
class ApiClient:
    base_url: str
    api_key: str | None = None
    token_source: TokenSource | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: tuple[float, float] = (10.0, 300.0)
    notify: Callable[[str], None] = lambda message: None
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    retries: int = 0
    _url: str = field(default="", init=False, repr=False)  # the request being sent

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"coatro-cli/{__version__}"
        retry = _Retry(
            total=self.policy.max_attempts - 1,
            allowed_methods=None,  # every method: repeating any request of ours is safe (see RETRYABLE_STATUS)
            status_forcelist=RETRYABLE_STATUS,
            respect_retry_after_header=False,  # RetryPolicy honours it; urllib3 would also retry a 413 with it
            raise_on_status=False,  # the last answer is returned, and raised as ApiError below
            wait=self._wait,
        )
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, HTTPAdapter(max_retries=retry))

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        send_key: bool = True,
    ) -> requests.Response:
        """Send one request, retried as the session's Retry says; raise ApiError or NetworkError otherwise.

        A `body` that is not bytes is resent from its start: it must have tell() and seek() (a file).
        `send_key=False` keeps the API key away from URLs that are not the API (signed upload URLs).
        """
        url = self.url(path)
        headers = dict(headers or {})
        if send_key and self.api_key:
            headers["X-API-Key"] = self.api_key
        bearer = send_key and not self.api_key and self.token_source is not None
        if bearer:
            headers["Authorization"] = self.token_source.header(self)
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        resp = self._send(method, url, body, headers, params)
        if resp.status_code == 401 and bearer:
            # The token was revoked, or its key rotated, before its time: fetch a new one, once.
            self.token_source.invalidate()
            headers["Authorization"] = self.token_source.header(self)
            resp = self._send(method, url, body, headers, params)
        if resp.status_code >= 400:
            raise ApiError.from_response(resp)
        return resp

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | Iterable[bytes] | None,
        headers: dict[str, str],
        params: dict[str, Any] | None,
    ) -> requests.Response:
        self.requests_made += 1
        self._url = url  # for _wait's message
        try:
            return self.session.request(
                method, url, data=body, headers=headers, params=params, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise NetworkError(url, exc) from None

    def _wait(self, retry: _Retry, retry_after: float | None) -> None:
        """Before each of urllib3's retries: wait as RetryPolicy says, say why, and count it."""
        attempt = len(retry.history)  # the attempts that failed so far
        error = retry.history[-1].error
        why = retry.answer or f"cannot reach {origin(self._url)} ({short_reason(error or Exception())})"
        wait = self.policy.delay(attempt, retry_after)
        self.retries += 1
        self.requests_made += 1
        self.notify(f"{why}; retrying in {wait:.1f}s (attempt {attempt + 1} of {self.policy.max_attempts})")
        self.sleep(wait)

    # -- the API's operations -------------------------------------------------------------
    def post_events(self, gzipped_body: bytes) -> dict[str, Any]:
        resp = self.request(
            "POST",
            EVENTS_PATH,
            body=gzipped_body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        return _json(resp)

    def upload_url(
        self,
        file_name: str,
        file_format: str,
        expires_in: int | None = None,
        schema_version: str | None = None,
    ) -> dict[str, Any]:
        """A signed upload URL: under the dynamic endpoints for a schema version, else the canonical ones."""
        payload: dict[str, Any] = {"fileName": file_name, "format": file_format}
        if expires_in is not None:
            payload["expiresInSeconds"] = expires_in
        return _json(self.request("POST", f"{bulk_base(schema_version)}/upload-url", json_body=payload))

    def ingest(
        self, file_id: str, schema_version: str | None, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Start the job of an uploaded file; no schema version: the canonical endpoints (rows are canonical events)."""
        payload: dict[str, Any] = {"fileId": file_id}
        if schema_version is not None:
            payload["schemaVersion"] = schema_version
        if metadata:
            payload["metadata"] = metadata
        return _json(self.request("POST", f"{bulk_base(schema_version)}/ingest", json_body=payload))

    def job(self, job_id: str) -> dict[str, Any]:
        return _json(self.request("GET", job_path(job_id)))

    def job_errors_page(
        self, job_id: str, page_size: int = 1000, page_token: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"pageSize": page_size}
        if page_token:
            params["pageToken"] = page_token
        return _json(self.request("GET", f"{job_path(job_id)}/errors", params=params))

    def schemas(self) -> dict[str, Any]:
        return _json(self.request("GET", SCHEMAS_PATH))

    def schema(self, version: str) -> dict[str, Any]:
        return _json(self.request("GET", f"{SCHEMAS_PATH}/{quote(version, safe='')}"))

    def register_schema(self, version: str, mapping: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """PUT a mapping; (created, the registered version). Registering the same mapping again is not an error."""
        resp = self.request("PUT", f"{SCHEMAS_PATH}/{quote(version, safe='')}", json_body=mapping)
        return resp.status_code == 201, _json(resp)

    def preview(
        self,
        sample: str,
        file_format: str,
        mapping: dict[str, Any] | str,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """What a mapping (a dict) or a registered version (a str) makes of a sample; nothing is ingested."""
        payload: dict[str, Any] = {"format": file_format, "sample": sample}
        if metadata:
            payload["metadata"] = metadata
        if isinstance(mapping, str):
            return _json(
                self.request("POST", f"{SCHEMAS_PATH}/{quote(mapping, safe='')}/preview", json_body=payload)
            )
        return _json(
            self.request("POST", f"{SCHEMAS_PATH}/preview", json_body={**payload, "mapping": mapping})
        )

    def import_screens(self, body: bytes, content_type: str) -> dict[str, Any]:
        """POST a part of a screens file; importing it again is safe (an unchanged screen writes nothing)."""
        resp = self.request(
            "POST", f"{SCREENS_PATH}/import", body=body, headers={"Content-Type": content_type}
        )
        return _json(resp)

    def screens_page(self, params: dict[str, Any]) -> dict[str, Any]:
        return _json(self.request("GET", SCREENS_PATH, params=params))

    def screen(self, screen_id: str) -> dict[str, Any]:
        return _json(self.request("GET", f"{SCREENS_PATH}/{quote(screen_id, safe='')}"))

    def screen_history_page(self, screen_id: str, page_token: str | None = None) -> dict[str, Any]:
        params = {"pageSize": 500, **({"pageToken": page_token} if page_token else {})}
        return _json(
            self.request("GET", f"{SCREENS_PATH}/{quote(screen_id, safe='')}/history", params=params)
        )

    def put_webhook(
        self, webhook_id: str, url: str, events: list[str], description: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """PUT an endpoint; (created, the endpoint). A created one's answer holds its secret, shown once."""
        body: dict[str, Any] = {"url": url, "events": events}
        if description is not None:
            body["description"] = description
        resp = self.request("PUT", f"{WEBHOOKS_PATH}/{quote(webhook_id, safe='')}", json_body=body)
        return resp.status_code == 201, _json(resp)

    def webhooks_page(self, page_token: str | None = None) -> dict[str, Any]:
        params = {"pageSize": 200, **({"pageToken": page_token} if page_token else {})}
        return _json(self.request("GET", WEBHOOKS_PATH, params=params))

    def webhook_deliveries_page(
        self, webhook_id: str, page_size: int, page_token: str | None = None
    ) -> dict[str, Any]:
        params = {"pageSize": page_size, **({"pageToken": page_token} if page_token else {})}
        return _json(
            self.request("GET", f"{WEBHOOKS_PATH}/{quote(webhook_id, safe='')}/deliveries", params=params)
        )

    def put_booking(self, booking_id: str, booking: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(created, the booking's current version): a PUT of the same booking again writes nothing."""
        resp = self.request("PUT", f"{BOOKINGS_PATH}/{quote(booking_id, safe='')}", json_body=booking)
        return resp.status_code == 201, _json(resp)

    def bookings_page(self, params: dict[str, Any]) -> dict[str, Any]:
        return _json(self.request("GET", BOOKINGS_PATH, params=params))

    def booking(self, booking_id: str) -> dict[str, Any]:
        return _json(self.request("GET", f"{BOOKINGS_PATH}/{quote(booking_id, safe='')}"))

    def performance(self, booking_id: str, dark_after_hours: int | None = None) -> dict[str, Any]:
        """One booking's performance report, as JSON."""
        params: dict[str, Any] = {"bookingId": booking_id}
        if dark_after_hours is not None:
            params["darkAfterHours"] = dark_after_hours
        return _json(self.request("GET", PERFORMANCE_PATH, params=params))

    def performance_text(self, booking_id: str, out_format: str, dark_after_hours: int | None = None) -> str:
        """The report rendered by the server: format csv or html."""
        params: dict[str, Any] = {"bookingId": booking_id, "format": out_format}
        if dark_after_hours is not None:
            params["darkAfterHours"] = dark_after_hours
        return self.request("GET", PERFORMANCE_PATH, params=params).text

    def report_pages(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of a delivery report, following `collection.next_url` from the first page to the last."""
        page: dict[str, Any] = _json(
            self.request("GET", REPORT_PATH, params={**params, "per_page": REPORT_PAGE_SIZE})
        )
        seen: set[str] = set()
        while True:
            yield page
            next_url = (page.get("collection") or {}).get("next_url")
            if not next_url:
                return
            if origin(self.url(next_url)) != origin(self.base_url):
                # The credential goes with every request: never to a host the user did not configure.
                raise ApiError(200, "Unexpected response", f"next_url points to another host: {next_url}")
            if next_url in seen:
                raise ApiError(
                    200, "Unexpected response", f"next_url repeats a page already read: {next_url}"
                )
            seen.add(next_url)
            page = _json(self.request("GET", next_url))


def bulk_base(schema_version: str | None) -> str:
    return CANONICAL_BULK if schema_version is None else DYNAMIC_BULK


def job_path(job_id: str) -> str:
    base = CANONICAL_BULK if job_id.startswith("job-bulk-") else DYNAMIC_BULK
    return f"{base}/jobs/{quote(job_id, safe='')}"


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise ApiError(
            resp.status_code, "Unexpected response", f"not JSON: {resp.text[:200]!r}", url=resp.url
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            resp.status_code,
            "Unexpected response",
            f"expected a JSON object, got {body!r:.200}",
            url=resp.url,
        )
    return body
