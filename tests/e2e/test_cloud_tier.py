"""The cloud tier (tests/cloud, `make test-cloud`) really works: run as `make test-cloud` runs it, against
the local stack's gateway instead of a deployed project, with credentials given and with the tenant it
creates itself; and without a URL it skips, saying why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.auth import oauth_clients
from tests.conftest import ROOT


def run_cloud_tier(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COATRO_CLOUD_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/cloud", "-p", "no:cacheprovider", "-q", "-rs"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_without_a_deployed_url_the_cloud_tier_skips_and_says_why():
    result = run_cloud_tier()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 skipped" in result.stdout and "passed" not in result.stdout, result.stdout
    assert "COATRO_CLOUD_BASE_URL is not set" in result.stdout, result.stdout


@pytest.mark.parametrize("credentials", ["given", "created by the tier"])
def test_the_cloud_tier_passes_against_the_local_stack(stack, tenant, credentials):
    env = {"COATRO_CLOUD_BASE_URL": stack.gateway_url, "COATRO_CLOUD_TIMEOUT": "120"}
    if credentials == "given":
        client_id, secret = oauth_clients.create_client(tenant[0], ["pop:write", "reports:read"])
        env |= {
            "COATRO_CLOUD_API_KEY": tenant[1],
            "COATRO_CLOUD_CLIENT_ID": client_id,
            "COATRO_CLOUD_CLIENT_SECRET": secret,
        }
    result = run_cloud_tier(**env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout and "skipped" not in result.stdout, result.stdout


def test_the_cloud_tier_fails_when_the_deployment_does_not_answer(stack):
    """A configured URL is never a reason to skip: a wrong one is a failure."""
    result = run_cloud_tier(
        COATRO_CLOUD_BASE_URL=stack.gateway_url,
        COATRO_CLOUD_API_KEY="not-a-key",
        COATRO_CLOUD_CLIENT_ID="cc_nobody",
        COATRO_CLOUD_CLIENT_SECRET="wrong",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the API key does not work" in result.stdout and "skipped" not in result.stdout, result.stdout
