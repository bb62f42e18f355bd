"""A play export end to end on the local stack: started through the gateway, run by the stack's own
`exporter` (pushed from pop-exports), downloaded by signed URL from the storage emulator; its plays are
the cursor API's, read through the gateway too."""

from __future__ import annotations

import gzip
import json

import pytest
import requests

from shared.platform import clients
from tests import polling
from tests.integration.test_plays_export import make_rows

pytestmark = pytest.mark.e2e


def test_an_export_through_the_gateway_equals_the_cursor_walk(stack, tenant):
    tenant_id, key = tenant
    rows, first = make_rows(tenant_id, 40, seed=3)
    assert clients.bigquery().insert_rows_json(clients.events_table(), rows) == []
    headers = {"X-API-Key": key}
    window = {"filter[from]": "2025-02-01", "filter[to]": "2025-02-03"}
    started = requests.post(
        f"{stack.gateway_url}/coatro/v1/pop/exports/plays", json=window, headers=headers, timeout=30
    )
    assert started.status_code == 202, started.text
    location = stack.gateway_url + started.headers["Location"]
    view = polling.until(
        lambda: requests.get(location, headers=headers, timeout=30).json(),
        lambda v: v["state"] in ("succeeded", "failed"),
        timeout=120,
        interval=0.3,
    )
    assert view["state"] == "succeeded", view
    exported = b"".join(gzip.decompress(requests.get(f["url"], timeout=30).content) for f in view["files"])
    page = requests.get(f"{stack.gateway_url}/coatro/v1/pop/reports/plays", params={**window, "limit": 10_000},
                        headers={**headers, "Accept": "application/x-ndjson"}, timeout=60)  # fmt: skip
    assert page.status_code == 200 and "Coatro-Next-Cursor" not in page.headers
    assert exported == page.content
    assert sorted(json.loads(line)["eventId"] for line in exported.splitlines()) == sorted(first)
