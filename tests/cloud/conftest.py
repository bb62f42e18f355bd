"""The cloud tier: a few end-to-end checks against a DEPLOYED Coatro, over its public HTTP API.

`make test-cloud` runs it (`make test` never collects tests/cloud). Configuration, from the environment:

  COATRO_CLOUD_BASE_URL       the gateway (`terraform -chdir=infra output -raw gateway_url`). Not set:
                              every test here is skipped, saying so; that is the only reason to skip.
  COATRO_CLOUD_API_KEY        an API key of the tenant to test with, and
  COATRO_CLOUD_CLIENT_ID      an OAuth2 client of that tenant (scopes pop:write reports:read)
  COATRO_CLOUD_CLIENT_SECRET  (`python -m tools.admin create-key` / `create-client`, docs/deploy.md).
                              Not given: the tier creates a tenant of its own, named by Prefixer, with
                              a key and a client (`python -m tools.admin`, so GOOGLE_CLOUD_PROJECT and
                              credentials that may write the project's Firestore), and revokes both at
                              the end of the session.
  COATRO_CLOUD_TIMEOUT        seconds to wait for a job to end or an event to reach a report (300).

Names: tenants, schema versions, file names, event and campaign ids start with the Prefixer prefix
`coatro-st-<UTC time>-<random>` (test_utils.prefixer), so a run's resources are recognisable and their
age readable from the name. Cleanup: the key and client this tier created are revoked when the session
ends. Nothing else can be deleted through the API: schema versions are immutable (no DELETE), files and
jobs have no delete operation and end by retention (bucket lifecycle, Firestore TTL), events by the
table's partition expiry. Stale schema versions of earlier runs (older than Prefixer's max age, a day)
are counted at the end of the run, so the growth is visible.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from test_utils.prefixer import Prefixer

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = "/coatro/v1/pop/dynamic/schemas"
NOT_CONFIGURED = (
    "COATRO_CLOUD_BASE_URL is not set: there is no deployed Coatro to test, so the cloud tier is skipped "
    "(set it to the gateway URL, see docs/testing.md)"
)
# Schema versions are at most 32 characters: "coatro-st-" + 14 digits of UTC time + "-" + 6 hex digits.
PREFIXER = Prefixer("coatro", "st", separator="-")
STALE_VERSIONS = pytest.StashKey[list[str]]()


@dataclass
class Deployment:
    """Where the deployed API is and how to call it as one tenant."""

    base_url: str
    api_key: str
    client_id: str
    client_secret: str
    timeout: float
    prefix: str = field(default_factory=PREFIXER.create_prefix)
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.base_url + path

    def name(self, what: str) -> str:
        """A resource name of this run: the Prefixer prefix, then `what`."""
        return f"{self.prefix}-{what}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-API-Key": self.api_key, **kwargs.pop("headers", {})}
        return self.session.request(method, self.url(path), headers=headers, timeout=60, **kwargs)


def admin(*args: str) -> list[str]:
    """Run `python -m tools.admin ...` (the deployer's own tool) and return its stdout lines."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.admin", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"tools.admin {args[0]} failed: {result.stderr}"
    return result.stdout.splitlines()


@pytest.fixture(scope="session")
def deployment(request) -> Deployment:
    base_url = os.environ.get("COATRO_CLOUD_BASE_URL", "").strip().rstrip("/")
    if not base_url:
        pytest.skip(NOT_CONFIGURED)
    timeout = float(os.environ.get("COATRO_CLOUD_TIMEOUT", "300"))
    given = [os.environ.get(f"COATRO_CLOUD_{name}", "") for name in ("API_KEY", "CLIENT_ID", "CLIENT_SECRET")]
    if all(given):
        found = Deployment(base_url, *given, timeout=timeout)
    elif any(given):
        pytest.fail(
            "set all of COATRO_CLOUD_API_KEY, COATRO_CLOUD_CLIENT_ID and COATRO_CLOUD_CLIENT_SECRET, "
            "or none (the tier then creates its own tenant with tools.admin)",
            pytrace=False,
        )
    else:
        if not os.environ.get("GOOGLE_CLOUD_PROJECT"):
            pytest.fail(
                "no credentials: set COATRO_CLOUD_API_KEY, COATRO_CLOUD_CLIENT_ID and COATRO_CLOUD_CLIENT_SECRET, "
                "or GOOGLE_CLOUD_PROJECT (with credentials that may write its Firestore) for the tier to "
                "create a tenant of its own",
                pytrace=False,
            )
        prefix = PREFIXER.create_prefix()
        tenant = prefix  # a tenant id of this run: 1-64 letters, digits, '.', '_' or '-'
        key = admin("create-key", tenant, "--label", "cloud tier (tests/cloud)")[0]
        request.addfinalizer(lambda: admin("revoke-key", key))
        lines = dict(
            line.split("=", 1)
            for line in admin(
                "create-client", tenant, "--scopes", "pop:write", "reports:read", "--label", "cloud tier"
            )
        )
        request.addfinalizer(lambda: admin("revoke-client", lines["client_id"]))
        found = Deployment(base_url, key, lines["client_id"], lines["client_secret"], timeout, prefix=prefix)
    listed = found.call("GET", SCHEMAS)
    assert listed.status_code == 200, f"the API key does not work at {base_url}: {listed.text}"
    request.config.stash[STALE_VERSIONS] = [
        s["version"] for s in listed.json()["schemas"] if PREFIXER.should_cleanup(s["version"])
    ]
    return found


def pytest_terminal_summary(terminalreporter, config):
    """Say what earlier runs left that the API cannot delete: this tenant's stale schema versions."""
    if stale := config.stash.get(STALE_VERSIONS, None):
        terminalreporter.write_line(
            f"cloud tier: {len(stale)} schema versions of runs older than a day remain for this tenant "
            "(schema versions are immutable: the API has no DELETE for them)"
        )
