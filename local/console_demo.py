"""Realistic data for the web console, and pictures of it: `make screenshots` (docs/console.md).

    python -m local.console_demo [--out docs/screenshots]

Starts its own local stack on free ports, fills a fresh tenant through the API as a customer would
(screens with a changed one, a week of plays of four campaigns with impressions, a mapping, two bulk
jobs of which one has bad rows), then signs in to the console in headless Chromium (local/browser.py)
and saves a PNG of every page to --out, at 1280x800 (and the jobs page at 390x844).
`seed` is also what bench/console.py measures the console against.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from local.stack import ROOT, Ports, Stack
from shared.auth import api_keys, oauth_clients
from shared.auth.callers import SCOPES

BULK = "/coatro/v1/pop/dynamic/bulk"
BOOKING = "spring-launch-2w"
CAMPAIGNS = ["spring-launch", "city-break", "coffee-morning", "summer-sale"]
SCREENS = [
    ("lhr-t5-001", "T5 arrivals", "London", "GB", "Europe/London", 10101),
    ("lhr-t5-002", "T5 departures", "London", "GB", "Europe/London", 10101),
    ("man-pic-001", "Piccadilly concourse", "Manchester", "GB", "Europe/London", 10102),
    ("par-gdn-001", "Gare du Nord hall", "Paris", "FR", "Europe/Paris", 10102),
    ("par-cdg-014", "CDG T2E gate 14", "Paris", "FR", "Europe/Paris", 10101),
]
MAPPING = {
    "fields": {
        "play_id": "eventId",
        "screen_id": "screenId",
        "campaign_id": "campaignId",
        "creative_id": "creativeId",
        "played_at_ms": "playedAt",
        "duration_ms": "durationMs",
    },
    "timestamp_format": "epoch_millis",
    "numeric_strings": True,
}


@dataclass
class Demo:
    tenant_id: str
    client_id: str
    secret: str
    key: str
    first_day: str
    last_day: str
    jobs: list[str]


def _call(method: str, url: str, key: str, **kwargs: Any) -> requests.Response:
    response = requests.request(method, url, headers={"X-API-Key": key}, timeout=60, **kwargs)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return response


def _bulk(stack: Stack, key: str, name: str, content: bytes, version: str) -> str:
    fmt = "csv" if name.endswith(".csv") else "ndjson"
    upload = _call(
        "POST", f"{stack.gateway_url}{BULK}/upload-url", key, json={"fileName": name, "format": fmt}
    ).json()
    put = requests.put(
        upload["uploadUrl"], data=content, headers={"Content-Type": upload["contentType"]}, timeout=60
    )
    put.raise_for_status()
    return _call(
        "POST",
        f"{stack.gateway_url}{BULK}/ingest",
        key,
        json={"fileId": upload["fileId"], "schemaVersion": version},
    ).json()["jobId"]


def seed(stack: Stack, days: int = 7, plays: int = 600) -> Demo:
    rng = random.Random(20)
    tenant_id = f"acme-media-{uuid.uuid4().hex[:6]}"
    client_id, secret = oauth_clients.create_client(tenant_id, list(SCOPES), label="console demo")
    key = api_keys.create_key(tenant_id, label="console demo")
    base = stack.gateway_url
    for screen_id, name, market, country, zone, venue in SCREENS:
        body = {"name": name, "timeZone": zone, "venueType": venue, "country": country, "market": market}
        _call("PUT", f"{base}/coatro/v1/pop/screens/{screen_id}", key, json=body)
    _call(
        "PUT",
        f"{base}/coatro/v1/pop/screens/lhr-t5-001",
        key,
        json={**body, "name": "T5 arrivals hall", "screens": 2},
    )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    events = []
    for i in range(plays):
        day = first + timedelta(
            days=rng.randrange(days), hours=rng.randrange(6, 23), minutes=rng.randrange(60)
        )
        campaign = rng.choices(CAMPAIGNS, weights=[4, 3, 2, 1])[0]
        events.append(
            {
                "eventId": f"demo-{i}",
                "screenId": rng.choice(SCREENS)[0],
                "campaignId": campaign,
                "creativeId": f"{campaign}-{rng.randrange(3)}",
                "playedAt": day.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "durationMs": rng.choice([10000, 15000, 30000]),
                "impressions": {"ageBuckets": {"total": float(rng.randrange(5, 60))}},
            }
        )
    for start in range(0, len(events), 500):
        _call("POST", f"{base}/coatro/v1/pop/events", key, json={"events": events[start : start + 500]})
    _call("PUT", f"{base}/coatro/v1/pop/dynamic/schemas/cms-export-1", key, json=MAPPING)
    good = "".join(json.dumps({**e, "eventId": f"bulk-{e['eventId']}"}) + "\n" for e in events[:200]).encode()
    lines = ["play_id,screen_id,campaign_id,creative_id,played_at_ms,duration_ms"]
    for i in range(120):
        when = int((first + timedelta(hours=8 + i % 12)).timestamp() * 1000)
        played = "yesterday" if i % 29 == 7 else str(when)
        lines.append(
            f"csv-{i},{SCREENS[i % 5][0]},{CAMPAIGNS[i % 4]},cr-{i % 3},{played},{15000 if i % 31 else 'long'}"
        )
    jobs = [
        _bulk(stack, key, "cms-export-monday.csv", ("\n".join(lines) + "\n").encode(), "cms-export-1"),
        _bulk(stack, key, "player-logs.ndjson", good, "1.0"),
    ]
    for job in jobs:  # wait for both to end
        for _ in range(600):
            status = _call("GET", f"{base}{BULK}/jobs/{job}", key).json()["status"]
            if status in ("completed", "partially_completed", "failed"):
                break
            time.sleep(0.2)
    # the plays are in the report once the BigQuery subscription stand-in has written them
    report = f"{base}/coatro/v1/pop/reports/delivery"
    window = {
        "filter[from]": first.date().isoformat(),
        "filter[to]": today.date().isoformat(),
        "groupBy": "campaignId",
    }
    for _ in range(600):
        rows = _call("GET", report, key, params=window).json()["result"]
        if sum(r["plays"] for r in rows) >= plays + 200:
            break
        time.sleep(0.3)
    # a booking of the first campaign: two weeks of flight, half gone, on every screen
    booking = {
        "campaignId": CAMPAIGNS[0],
        "advertiser": "Acme Springs Ltd",
        "flight": {
            "start": first.date().isoformat(),
            "end": (first + timedelta(days=13)).date().isoformat(),
            "timeZone": "UTC",
        },
        "targets": {
            "screenIds": [*(s[0] for s in SCREENS), "lhr-t5-003"]
        },  # a screen that never played: dark
        "goal": {"metric": "plays", "quantity": 800},
    }
    _call("PUT", f"{base}/coatro/v1/pop/bookings/{BOOKING}", key, json=booking)
    return Demo(tenant_id, client_id, secret, key, first.date().isoformat(), today.date().isoformat(), jobs)


def sign_in(page: Any, stack: Stack, demo: Demo) -> None:
    page.goto(stack.console_url)
    page.wait_for_selector("body[data-page=sign-in][data-state=ready]")
    page.fill("#client-id", demo.client_id)
    page.fill("#client-secret", demo.secret)
    page.click("#sign-in-button")
    page.wait_for_selector("body[data-page=jobs][data-state=ready]")


def _visit(page: Any, stack: Stack, route: str, page_name: str) -> None:
    page.goto(f"{stack.console_url}#/{route}")
    page.wait_for_selector(f"body[data-page={page_name}][data-state=ready]")


def screenshots(stack: Stack, demo: Demo, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from local.browser import launch

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(stack.console_url)
        page.wait_for_selector("body[data-page=sign-in][data-state=ready]")
        page.fill("#client-id", demo.client_id)

        def shot(name: str, full: bool = False) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full)
            saved.append(path)

        shot("sign-in")
        sign_in(page, stack, demo)
        shot("jobs")
        _visit(page, stack, f"jobs/{demo.jobs[0]}", "jobs")
        page.wait_for_selector("#errors-table")
        shot("job", full=True)
        _visit(page, stack, "upload", "upload")
        page.set_input_files(
            "#upload-file", {"name": "cms-export-tuesday.csv", "mimeType": "text/csv", "buffer": b"x\n"}
        )
        page.select_option("#upload-schema", "cms-export-1")
        shot("upload")
        _visit(page, stack, "schemas/cms-export-1", "schemas")
        page.wait_for_selector("#preview-counts")
        page.fill("#version-name", "cms-export-2")
        shot("schemas", full=True)
        _visit(page, stack, "screens", "screens")
        shot("screens")
        _visit(page, stack, "screens/lhr-t5-001", "screens")
        shot("screen-history")
        _visit(page, stack, "reports", "reports")
        page.fill("#report-from", demo.first_day)
        page.fill("#report-to", demo.last_day)
        page.click("#report-button")
        page.wait_for_selector("#report-chart rect")
        shot("reports", full=True)
        _visit(page, stack, "bookings", "bookings")
        shot("bookings")
        _visit(page, stack, f"bookings/{BOOKING}", "bookings")
        page.wait_for_selector("#pacing-chart")
        shot("booking-pacing", full=True)
        context.close()
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        page = phone.new_page()
        sign_in(page, stack, demo)
        shot("jobs-phone")
        phone.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    stack = Stack(ports=Ports.free(), settings_env={"COATRO_SWEEP_INTERVAL_SECONDS": "3600"})
    try:
        stack.start()
        demo = seed(stack)
        for path in screenshots(stack, demo, args.out):
            print(
                f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KiB"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
