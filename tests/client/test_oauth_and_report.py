"""OAuth2 client credentials in the CLI (token fetched, reused, renewed) and `coatro report` walking
every next_url, against a real local HTTP server (tests/client/conftest.py's ScriptedServer)."""

from __future__ import annotations

import base64
import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

from coatro_cli.api import REPORT_PATH, TOKEN_PATH, ApiClient, RetryPolicy, TokenSource
from tests.client.conftest import Reply, problem, sample_event, write_ndjson

CREDS = {"COATRO_CLIENT_ID": "cc_client/1", "COATRO_CLIENT_SECRET": "s3cret:+&"}


def token_reply(token: str, expires_in: int = 7200) -> Reply:
    return Reply(
        200,
        {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "pop:write"},
        {"Cache-Control": "no-store"},
    )


def test_send_with_client_credentials_fetches_a_token_once_and_sends_it_as_bearer(coatro, server, tmp_path):
    server.script = [token_reply("tok-1")]
    events = write_ndjson(tmp_path / "pop.ndjson", [sample_event(n) for n in range(3)])
    result = coatro(
        "send", events, "--batch-size", "1", "--no-progress", env={"COATRO_URL": server.url, **CREDS}
    )
    assert result.code == 0, result.stderr
    token_request, *api_requests = server.requests
    assert (token_request.method, token_request.path) == ("POST", TOKEN_PATH)
    assert parse_qs(token_request.body.decode()) == {"grant_type": ["client_credentials"]}
    scheme, _, value = token_request.headers["Authorization"].partition(" ")
    # RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
    assert scheme == "Basic" and base64.b64decode(value).decode() == "cc_client%2F1:s3cret%3A%2B%26"
    assert len(api_requests) == 3  # one token for all three batches
    assert all(
        r.headers["Authorization"] == "Bearer tok-1" and "X-API-Key" not in r.headers for r in api_requests
    )


def test_a_401_gets_a_new_token_once(coatro, server, tmp_path):
    events = write_ndjson(tmp_path / "pop.ndjson", [sample_event(1)])
    server.script = [
        token_reply("tok-1"),
        Reply(401, problem(401, "Unauthorized", "invalid token")),
        token_reply("tok-2"),
    ]
    result = coatro("send", events, "--no-progress", env={"COATRO_URL": server.url, **CREDS})
    assert result.code == 0, result.stderr
    assert [r.headers.get("Authorization", "")[:12] for r in server.requests] == [
        "Basic " + base64.b64encode(b"cc_client%2F1:s3cret%3A%2B%26").decode()[:6],
        "Bearer tok-1",
        "Basic " + base64.b64encode(b"cc_client%2F1:s3cret%3A%2B%26").decode()[:6],
        "Bearer tok-2",
    ]


def test_a_second_401_after_renewal_is_an_error_not_a_loop(coatro, server, tmp_path):
    events = write_ndjson(tmp_path / "pop.ndjson", [sample_event(1)])
    denied = Reply(401, problem(401, "Unauthorized", "invalid token"))
    server.script = [token_reply("tok-1"), denied, token_reply("tok-2"), denied]
    result = coatro("send", events, "--no-progress", env={"COATRO_URL": server.url, **CREDS})
    assert result.code == 1 and len(server.requests) == 4
    assert "401 Unauthorized" in result.stderr and "COATRO_CLIENT_ID" in result.stderr


def test_bad_client_credentials_are_reported_with_the_oauth_error(coatro, server):
    server.script = [
        Reply(
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed."},
            {"WWW-Authenticate": 'Basic realm="coatro"'},
        )
    ]
    result = coatro("job", "job-1", env={"COATRO_URL": server.url, **CREDS})
    assert result.code == 1 and len(server.requests) == 1  # no token renewal for the token request itself
    assert "401 invalid_client: Client authentication failed." in result.stderr


def test_the_token_is_renewed_before_it_expires(server):
    now = [0.0]
    tokens = TokenSource("id", "secret", clock=lambda: now[0])
    client = ApiClient(server.url, token_source=tokens, policy=RetryPolicy(max_attempts=1))
    server.script = [
        token_reply("tok-1", 7200),
        Reply(200, {"status": "completed"}),
        Reply(200, {"status": "completed"}),
        token_reply("tok-2", 7200),
        Reply(200, {"status": "completed"}),
    ]
    client.job("a")
    now[0] = 7100.0  # still more than a minute left
    client.job("b")
    now[0] = 7150.0  # less than a minute left: renew before using it
    client.job("c")
    assert tokens.fetched == 2
    assert [
        r.headers.get("Authorization") for r in server.requests if r.path.startswith("/coatro/v1/pop")
    ] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_an_api_key_wins_over_client_credentials(coatro, server, tmp_path):
    events = write_ndjson(tmp_path / "pop.ndjson", [sample_event(1)])
    result = coatro(
        "send", events, "--no-progress", env={"COATRO_URL": server.url, "COATRO_API_KEY": "k", **CREDS}
    )
    assert result.code == 0 and len(server.requests) == 1 and server.requests[0].headers["X-API-Key"] == "k"
    shown = coatro("config", env={"COATRO_API_KEY": "k", **CREDS})
    assert "client_id cc_client/1" in shown.stdout and "the API key wins" in shown.stdout
    assert CREDS["COATRO_CLIENT_SECRET"] not in shown.stdout


def test_half_configured_client_credentials_are_a_clear_error(coatro):
    result = coatro("job", "x", env={"COATRO_CLIENT_ID": "cc_1"})
    assert result.code == 1 and "COATRO_CLIENT_SECRET" in result.stderr


# -- coatro report ----------------------------------------------------------------------------------


def paged_report(server, pages: int, per_page: int = 2):
    """Serve a report of `pages` pages, each linking to the next with an absolute next_url keeping every filter."""

    def answer(request):
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        page = int(query.get("page", ["1"])[0])
        rows = [
            {
                "date": "2025-01-27",
                "campaignId": f"campaign-{page}-{i}",
                "plays": page * 10 + i,
                "durationMs": 30000,
                "impressions": {"total": 1.5, "male": 1.0, "female": 0.5},
                "firstPlayedAt": "2025-01-27T10:00:00.000Z",
                "lastPlayedAt": "2025-01-27T11:00:00.000Z",
            }
            for i in range(per_page)
        ]
        keep = "&".join(f"{k}={v[0]}" for k, v in query.items() if k not in ("page",))
        link = lambda n: f"{server.url}{REPORT_PATH}?{keep}&page={n}"  # noqa: E731
        collection = {
            "first_url": link(1),
            "last_url": link(pages),
            "next_url": link(page + 1) if page < pages else None,
            "prev_url": link(page - 1) if page > 1 else None,
            "per_page": 200,
            "size": pages * per_page,
        }
        return Reply(200, {"collection": collection, "result": rows, "status": 200})

    server.default = answer


def test_report_follows_every_next_url_and_writes_csv(coatro, server):
    paged_report(server, pages=3)
    result = coatro(
        "report",
        "--from",
        "2025-01-01",
        "--to",
        "2025-01-31",
        "--group-by",
        "date,campaignId",
        "--timezone",
        "Europe/Paris",
        "--campaign-id",
        "c1",
        env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"},
    )
    assert result.code == 0, result.stderr
    assert len(server.requests) == 3
    for request in server.requests:
        query = parse_qs(urlsplit(request.path).query)
        assert query["filter[from]"] == ["2025-01-01"] and query["filter[to]"] == ["2025-01-31"]
        assert query["groupBy"] == ["date,campaignId"] and query["timezone"] == ["Europe/Paris"]
        assert query["filter[campaignId]"] == ["c1"] and request.headers["X-API-Key"] == "k"
    assert parse_qs(urlsplit(server.requests[0].path).query)["per_page"] == ["200"]
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["campaignId"] for r in rows] == [f"campaign-{p}-{i}" for p in (1, 2, 3) for i in (0, 1)]
    assert rows[0]["impressions.total"] == "1.5" and rows[-1]["plays"] == "31"
    assert list(rows[0]) == [
        "date",
        "campaignId",
        "plays",
        "qualifiedPlays",
        "durationMs",
        "impressions.measured",
        "impressions.scheduled",
        "impressions.total",
        "impressions.male",
        "impressions.female",
        "firstPlayedAt",
        "lastPlayedAt",
    ]


def test_the_cli_names_the_report_keys_and_filters_the_api_takes():
    # The CLI is installed on its own (no shared/), so it keeps a copy of the canonical ids.
    from coatro_cli import report
    from shared.reports import params

    assert report.GROUP_KEYS == params.GROUP_KEYS
    assert sorted(report.FILTERS.values()) == sorted(params.DIMENSIONS)
    assert all(f"filter[{name}]" in params.KNOWN for name in report.FILTERS.values())


def test_report_csv_defuses_formulas_in_the_tenants_own_ids():
    from coatro_cli import report

    rows = [
        {
            "date": "2025-01-27",
            "campaignId": '=HYPERLINK("http://evil.example","x")',
            "plays": 1,
            "impressions": {"total": -1.5},
        }
    ]
    out = io.StringIO()
    assert report.write(iter(rows), out, "csv", ["date", "campaignId"]) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["campaignId"] == "'" + rows[0]["campaignId"] and row["date"] == "2025-01-27"
    assert row["impressions.total"] == "-1.5"  # numbers are not text: left as they are
    assert out.getvalue().endswith("\r\n")


def test_report_as_json_with_client_credentials(coatro, server, tmp_path):
    paged_report(server, pages=2)
    server.script = [token_reply("tok-r")]
    out = tmp_path / "report.json"
    result = coatro(
        "report",
        "--date",
        "2025-01-27",
        "--format",
        "json",
        "-o",
        out,
        env={"COATRO_URL": server.url, **CREDS},
    )
    assert result.code == 0, result.stderr
    assert [r["plays"] for r in json.loads(out.read_text())] == [10, 11, 20, 21]
    assert [r.headers.get("Authorization") for r in server.requests[1:]] == ["Bearer tok-r"] * 2


def test_report_never_sends_the_credential_to_another_host(coatro, server):
    server.script = [
        Reply(
            200,
            {
                "collection": {"next_url": "https://evil.example/coatro/v1/pop/reports/delivery?page=2"},
                "result": [],
                "status": 200,
            },
        )
    ]
    result = coatro("report", "--date", "2025-01-27", env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"})
    assert result.code == 1 and "another host" in result.stderr and len(server.requests) == 1


def test_report_needs_dates(coatro, server):
    result = coatro("report", "--group-by", "date", env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"})
    assert result.code == 2 and not server.requests
    assert (
        coatro(
            "report",
            "--date",
            "2025-01-27",
            "--group-by",
            "continent",
            env={"COATRO_URL": server.url, "COATRO_API_KEY": "k"},
        ).code
        == 2
    )
