"""The web console (issue 20) in a real browser: headless Chromium from Debian, driven by Playwright,
against the local stack of the session (tests/conftest.py). One browser serves every test here; each
test has its own browser context (no shared storage) and its own tenant.

If Chromium is missing the tests fail, saying how to install it (local/browser.py); nothing is skipped.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from playwright.sync_api import expect

from local.browser import BrowserMissing, launch
from shared.auth import api_keys, oauth_clients
from shared.auth.callers import SCOPES
from shared.platform import clients
from tests.conftest import bigquery_rows, unique

pytestmark = pytest.mark.e2e
REPORT = "/coatro/v1/pop/reports/delivery"
XSS = "<img src=x onerror=alert(1)>"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser(stack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        try:
            browser = launch(playwright)
        except BrowserMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        yield browser
        browser.close()


@pytest.fixture
def client(stack) -> tuple[str, str, str]:
    """A fresh tenant and its OAuth2 client with every scope: (tenant_id, client_id, secret)."""
    tenant_id = unique("console")
    client_id, secret = oauth_clients.create_client(tenant_id, list(SCOPES), label="console test")
    return tenant_id, client_id, secret


class Watched:
    """A page, with what it said: dialogs it opened, script errors, CSP violations."""

    def __init__(self, browser, width: int = 1280, height: int = 800):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # What the Content-Security-Policy refused (Chromium logs each as "Refused to ..."): the
        # console itself must never need anything the policy forbids.
        self.refused: list[str] = []
        self.page.on(
            "console",
            lambda message: message.text.startswith("Refused") and self.refused.append(message.text),
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    one = Watched(browser)
    yield one
    one.close()


def sign_in(page, stack, client_id: str, secret: str) -> None:
    page.goto(stack.console_url)
    page.get_by_label("Client id").fill(client_id)
    page.get_by_label("Client secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("body[data-page=jobs][data-state=ready]")


def ready(page, name: str) -> None:
    page.wait_for_selector(f"body[data-page={name}][data-state=ready]")


def fits_a_phone(page) -> bool:
    """At 390x844 nothing is wider than the screen: wide tables scroll inside their own region."""
    page.set_viewport_size({"width": 390, "height": 844})
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_every_console_response_has_the_strict_headers(stack):
    for path, status in (("/console/", 200), ("/console/app.js", 200), ("/console/no-such-file", 404)):
        response = requests.get(stack.gateway_url + path, timeout=30)
        assert response.status_code == status, path
        policy = response.headers["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
        assert directives["script-src"] == ["'self'"], policy  # no inline script, no eval
        assert directives["default-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert (
        requests.get(stack.gateway_url + "/console/app.js", timeout=30)
        .headers["Content-Type"]
        .startswith("text/javascript")
    )
    assert requests.get(stack.gateway_url + "/console/..%2Fmain.py", timeout=30).status_code == 404


def test_sign_in_shows_the_tenant_keeps_the_token_in_memory_only_and_sign_out_forgets_it(
    stack, watched, client
):
    tenant_id, client_id, secret = client
    page = watched.page
    # With the keyboard alone: the client id field has the focus, Tab moves on, Enter signs in.
    page.goto(stack.console_url)
    ready(page, "sign-in")
    assert page.is_hidden("#who") and page.is_hidden("#nav")  # no tenant, no pages before signing in
    page.keyboard.type(client_id)
    page.keyboard.press("Tab")
    page.keyboard.type(secret)
    page.keyboard.press("Enter")
    ready(page, "jobs")
    assert page.text_content("#tenant") == tenant_id
    # A 503 says to retry, and Retry does.
    page.route(
        "**/bulk/jobs?*",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "1"},
            content_type="application/problem+json",
            body=json.dumps({"status": 503, "title": "Service unavailable", "detail": "Busy."}),
        ),
    )
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_role("alert").filter(has_text="Retry").wait_for()
    page.unroute("**/bulk/jobs?*")
    page.get_by_role("button", name="Retry").click()
    page.get_by_text("No jobs yet.").wait_for()
    stored = page.evaluate(
        """async () => ({
            local: Object.keys(localStorage).length, session: Object.keys(sessionStorage).length,
            cookie: document.cookie, databases: (await indexedDB.databases()).length,
            caches: (await caches.keys()).length })"""
    )
    assert stored == {"local": 0, "session": 0, "cookie": "", "databases": 0, "caches": 0}
    assert watched.context.cookies() == []
    assert watched.context.storage_state()["origins"] == []  # nothing kept for any origin
    # Signing out forgets it: the sign-in form is back and the pages need signing in again.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#sign-in")
    assert page.is_hidden("#who") and page.text_content("#tenant") == ""
    page.goto(stack.console_url + "#/jobs")
    page.wait_for_selector("#sign-in")
    # A wrong secret is refused with a message; an API key is held the same way.
    page.get_by_label("Client id").fill(client_id)
    page.get_by_label("Client secret").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#sign-in-status [role=alert]")
    key = api_keys.create_key(tenant_id, label="console")
    page.get_by_role("radio", name="API key").check()
    page.get_by_role("textbox", name="API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    ready(page, "jobs")
    assert page.text_content("#tenant") == tenant_id
    assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    # A 401 (an expired token or a revoked key: answered here by the browser itself, since a revoked
    # key stays valid for the functions' key cache) returns to sign-in, saying why, and forgets the key.
    page.route(
        "**/bulk/jobs?*",
        lambda route: route.fulfill(
            status=401,
            content_type="application/problem+json",
            body=json.dumps({"status": 401, "title": "Unauthorized"}),
        ),
    )
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_selector("#sign-in")
    assert "sign in again" in page.text_content("main")
    assert page.is_hidden("#nav")
    assert watched.errors == [] and watched.dialogs == [] and watched.refused == []


def test_upload_a_file_with_a_bad_row_and_see_the_job_end_partially_completed(stack, watched, client):
    _, client_id, secret = client
    page = watched.page
    sign_in(page, stack, client_id, secret)
    page.get_by_text("No jobs yet.").wait_for()  # the empty state
    rows = [
        {
            "eventId": unique("ok"),
            "screenId": "scr-1",
            "playedAt": "2025-01-27T10:00:00Z",
            "durationMs": 15000,
        },
        {"eventId": "bad-2", "durationMs": "thirty"},
        {
            "eventId": unique("ok"),
            "screenId": "scr-2",
            "playedAt": "2025-01-27T10:01:00Z",
            "durationMs": 15000,
        },
    ]
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    page.locator("#nav").get_by_role("link", name="Upload").click()
    ready(page, "upload")
    page.get_by_label("File").set_input_files(
        {"name": "plays.ndjson", "mimeType": "application/x-ndjson", "buffer": content}
    )
    assert page.input_value("#upload-format") == "ndjson"
    page.get_by_label("Schema version").select_option("1.0")
    page.get_by_role("button", name="Upload and ingest").click()
    page.wait_for_selector("#job-summary .badge.partially_completed")
    assert page.text_content("[data-fact=processed] dd") == "2"
    assert page.text_content("[data-fact=errors] dd") == "1"
    assert page.get_attribute("#job-progress", "value") == "100"
    page.wait_for_selector("#errors-table")
    cells = page.locator("#errors-table tbody tr").first.locator("td").all_text_contents()
    assert cells[0] == "2" and "durationMs" in cells[1], cells
    # The CSV download holds the same row.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0] == "row,error" and text.splitlines()[1].startswith("2,")
    # The job is in the list, newest first.
    page.locator("#nav").get_by_role("link", name="Jobs").click()
    ready(page, "jobs")
    assert "partially completed" in page.locator("#jobs-table tbody tr").first.text_content()
    assert fits_a_phone(page)
    assert watched.errors == [] and watched.dialogs == [] and watched.refused == []


def test_register_a_mapping_after_previewing_it(stack, watched, client):
    tenant_id, client_id, secret = client
    page = watched.page
    sign_in(page, stack, client_id, secret)
    page.locator("#nav").get_by_role("link", name="Schemas").click()
    ready(page, "schemas")
    # The example mapping and sample preview at once: two events and the row that cannot be read.
    page.wait_for_selector("#preview-counts")
    assert page.text_content("#preview-counts [data-fact=events] dd") == "2"
    assert page.text_content("#preview-counts [data-fact=errors] dd") == "1"
    assert "yesterday" in page.text_content("#preview-errors")
    # An invalid mapping: the errors name its keys, live.
    mapping = page.get_by_label("Mapping (JSON)")
    good = mapping.input_value()
    mapping.fill(json.dumps({"fields": {"a": "eventId"}, "no_such_key": 1}))
    page.wait_for_selector("#preview [role=alert]")
    assert "no_such_key" in page.text_content("#preview [role=alert]")
    # Back to the good one, with a sample row changed: the preview follows.
    mapping.fill(good)
    sample = page.get_by_label("Sample", exact=True)
    sample.fill(sample.input_value().replace("yesterday", "1737972120000"))
    expect(page.locator("#preview-counts [data-fact=events] dd")).to_have_text("3")
    version = unique("cms")[:32]
    page.get_by_label("Version name").fill(version)
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#register-status .ok")
    page.wait_for_selector(f"#schemas-table >> text={version}")
    stored = requests.get(
        f"{stack.gateway_url}/coatro/v1/pop/dynamic/schemas/{version}",
        headers={"X-API-Key": api_keys.create_key(tenant_id)},
        timeout=30,
    ).json()
    assert stored["mapping"]["fields"] == json.loads(good)["fields"]
    assert fits_a_phone(page)  # the editor and the preview, one above the other
    assert watched.errors == [] and watched.dialogs == [] and watched.refused == []


def test_the_report_chart_plots_the_apis_numbers_and_shows_a_hostile_campaign_id_as_text(
    stack, watched, client
):
    tenant_id, client_id, secret = client
    key = api_keys.create_key(tenant_id, label="console")
    campaigns = ["spring", "summer", XSS]
    events = []
    for i in range(30):
        events.append(
            {
                "eventId": unique("rep"),
                "screenId": f"scr-{i % 3}",
                "campaignId": campaigns[i % 3] if i % 4 else campaigns[(i + 1) % 3],
                "playedAt": f"2025-01-{20 + i % 3:02d}T{i % 24:02d}:00:00Z",
                "durationMs": 10_000,
                "impressions": {"ageBuckets": {"total": float(i)}},
            }
        )
    sent = requests.post(
        stack.gateway_url + "/coatro/v1/pop/events",
        json={"events": events},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    bigquery_rows(tenant_id, len(events))
    api = requests.get(
        stack.gateway_url + REPORT,
        params={
            "filter[from]": "2025-01-19",
            "filter[to]": "2025-01-23",
            "groupBy": "date,campaignId",
            "per_page": 200,
        },
        headers={"X-API-Key": key},
        timeout=60,
    ).json()["result"]
    expected_plays = {(r["date"], r["campaignId"]): float(r["plays"]) for r in api}
    expected_impressions = {(r["date"], r["campaignId"]): r["impressions"]["total"] for r in api}
    # the API's numbers are the events' own (an independent count)
    counted: dict[tuple[str, str], float] = defaultdict(float)
    for event in events:
        counted[(event["playedAt"][:10], event["campaignId"])] += 1
    assert expected_plays == counted

    page = watched.page
    sign_in(page, stack, client_id, secret)
    page.locator("#nav").get_by_role("link", name="Reports").click()
    ready(page, "reports")
    page.get_by_label("From").fill("2025-01-19")
    page.get_by_label("To").fill("2025-01-23")
    page.get_by_role("button", name="Show report").click()
    page.wait_for_selector("#report-chart rect")

    def plotted() -> dict[tuple[str, str], float]:
        return {
            (rect["date"], rect["group"]): float(rect["value"])
            for rect in page.eval_on_selector_all("#report-chart rect", "rs => rs.map(r => ({...r.dataset}))")
        }

    assert plotted() == expected_plays
    days = page.eval_on_selector_all("#report-chart g.bar", "gs => gs.map(g => g.dataset.date)")
    assert days == ["2025-01-19", "2025-01-20", "2025-01-21", "2025-01-22", "2025-01-23"]
    page.get_by_label("Measure").select_option("impressions")
    page.wait_for_selector("#report-chart[data-metric=Impressions]")
    assert plotted() == pytest.approx(expected_impressions)
    # The hostile campaign id is text in the legend and the table, never an element; nothing ran.
    assert XSS in page.locator(".legend").text_content()
    assert XSS in page.locator("#report-table").text_content()
    assert page.locator("main img").count() == 0
    assert fits_a_phone(page)  # the chart, its legend and the table
    assert watched.dialogs == [] and watched.errors == [] and watched.refused == []
    # And were markup ever injected, the policy would refuse its inline handler.
    page.evaluate(
        """() => { window.violations = [];
        document.addEventListener('securitypolicyviolation', e => window.violations.push(e.violatedDirective));
        document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="window.pwned = 1">'); }"""
    )
    # (polled with evaluate: a predicate for wait_for_function is a string the policy will not evaluate)
    for _ in range(100):
        if page.evaluate("window.violations.length"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.violations") == ["script-src-attr"]
    assert page.evaluate("window.pwned") is None
    assert watched.dialogs == []


class OtherOrigin:
    """A site on another origin (another port) that tries to use the console and the API."""

    def __init__(self, html: str):
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_another_origin_can_neither_call_the_api_nor_frame_the_console(stack, watched, tenant):
    _, key = tenant
    site = OtherOrigin(
        f'<!doctype html><title>elsewhere</title><iframe id="f" src="{stack.console_url}"></iframe>'
    )
    try:
        page = watched.page
        page.goto(site.url)
        page.wait_for_load_state("load")
        # Framing is refused (frame-ancestors 'none', X-Frame-Options DENY): the frame holds no console.
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.url == "chrome-error://chromewebdata/"  # Chromium's page for a refused frame
        assert frame.query_selector("#main") is None
        # The API grants no other origin: with a credential (preflighted) or without, the browser refuses.
        outcome = page.evaluate(
            """async ([api, key]) => {
                const attempt = async (init) => {
                    try { const r = await fetch(api, init); return 'read ' + r.status; }
                    catch (e) { return 'blocked'; } };
                return [await attempt({headers: {'X-API-Key': key}}), await attempt({})]; }""",
            [stack.gateway_url + "/coatro/v1/pop/dynamic/bulk/jobs", key],
        )
        assert outcome == ["blocked", "blocked"]
        # Nor may it PUT to a signed upload URL: the bucket's CORS is the console's origin only.
        upload = requests.post(
            stack.gateway_url + "/coatro/v1/pop/dynamic/bulk/upload-url",
            json={"fileName": "x.ndjson", "format": "ndjson"},
            headers={"X-API-Key": key},
            timeout=30,
        ).json()
        put = page.evaluate(
            """async ([url, type]) => { try { await fetch(url, {method: 'PUT', headers: {'Content-Type': type}, body: '{}'});
                return 'sent'; } catch (e) { return 'blocked'; } }""",
            [upload["uploadUrl"], upload["contentType"]],
        )
        assert put == "blocked"
    finally:
        site.close()


def test_a_bookings_pacing_chart_plots_the_performance_apis_daily_series_and_lists_a_dark_screen(
    stack, watched, client
):
    tenant_id, client_id, secret = client
    headers = {"X-API-Key": api_keys.create_key(tenant_id, label="console")}
    tag = unique("pace")
    playing, dark = f"{tag}-on", f"{tag}-dark"
    imported = requests.post(
        stack.gateway_url + "/coatro/v1/pop/screens/import",
        data="".join(json.dumps({"screenId": s, "timeZone": "UTC"}) + "\n" for s in (playing, dark)),
        headers={**headers, "Content-Type": "application/x-ndjson"},
        timeout=120,
    )
    assert imported.status_code == 200, imported.text
    now = datetime.now(UTC)
    first = now.date() - timedelta(days=2)
    booking_id = f"{tag}-b"
    booking = {
        "campaignId": f"{tag}-camp",
        "advertiser": XSS,
        "flight": {
            "start": first.isoformat(),
            "end": (first + timedelta(days=4)).isoformat(),
            "timeZone": "UTC",
        },
        "targets": {"screenIds": [playing, dark]},
        "goal": {"metric": "plays", "quantity": 100},
    }
    put = requests.put(
        f"{stack.gateway_url}/coatro/v1/pop/bookings/{booking_id}", json=booking, headers=headers, timeout=30
    )
    assert put.status_code == 201, put.text
    # Plays written as the BigQuery subscription writes them (publish_time now): 3 on the flight's
    # first day, 2 on its second, 1 today; none on the dark screen.
    at = [datetime.combine(first, time(12), UTC)] * 3 + [
        datetime.combine(first + timedelta(days=1), time(12), UTC)
    ] * 2
    at.append(now - timedelta(seconds=30))
    rows = [
        {
            "tenantId": tenant_id, "eventId": f"{tag}-{i}", "screenId": playing, "campaignId": booking["campaignId"],
            "playedAt": when.isoformat(), "durationMs": 5000, "publish_time": datetime.now(UTC).isoformat(),
            "message_id": f"{tag}-{i}", "subscription_name": "test",
        }
        for i, when in enumerate(at)
    ]  # fmt: skip
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []
    report = requests.get(
        stack.gateway_url + "/coatro/v1/pop/reports/performance",
        params={"bookingId": booking_id},
        headers=headers,
        timeout=120,
    ).json()
    daily = {d["date"]: d for d in report["daily"]}
    assert daily[first.isoformat()]["delivered"] == 3 and report["delivered"] == 6  # the plays' own count
    today = report["asOf"][:10]

    page = watched.page
    sign_in(page, stack, client_id, secret)
    page.locator("#nav").get_by_role("link", name="Bookings").click()
    ready(page, "bookings")
    page.locator("#bookings-table").get_by_role("link", name=booking_id).click()
    page.wait_for_selector("#pacing-chart rect.delivered")
    ready(page, "bookings")
    bars = page.eval_on_selector_all("#pacing-chart rect.delivered", "rs => rs.map(r => ({...r.dataset}))")
    assert [b["date"] for b in bars] == [d for d in daily if d <= today]
    for bar in bars:
        assert float(bar["value"]) == daily[bar["date"]]["cumulative"]
        assert float(bar["delivered"]) == daily[bar["date"]]["delivered"]
    second = (first + timedelta(days=1)).isoformat()
    assert page.get_attribute(f"#pacing-chart rect[data-date='{second}']", "data-value") == "5"
    planned = page.eval_on_selector_all(
        "#pacing-chart circle.planned", "cs => cs.map(c => [c.dataset.date, Number(c.dataset.value)])"
    )
    assert planned == [[d["date"], d["planned"]] for d in report["daily"]]
    assert page.text_content("[data-fact=delivered] dd") == "6"
    assert page.locator("#dark-table tbody tr").count() == 1
    assert dark in page.locator("#dark-table").text_content()
    assert playing not in page.locator("#dark-table").text_content()
    assert XSS in page.text_content("#pacing-results") and page.locator("main img").count() == 0
    assert fits_a_phone(page)  # the chart and both tables
    assert watched.errors == [] and watched.dialogs == [] and watched.refused == []
