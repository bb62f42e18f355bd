"""The page links of a report: only ever at the configured public address or at a forwarded host that
is a valid host[:port], never at the reports function's own address; else relative."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared.platform import clients
from shared.platform.settings import Settings
from shared.reports import api
from shared.reports.params import parse

REPORT = "/coatro/v1/pop/reports/delivery"
FUNCTION = "127.0.0.1:8123"  # the reports function's own address, as the gateway reaches it
QUERY = {"filter[date]": "2025-01-27", "per_page": "2", "page": "2"}


def links(headers: dict[str, str], host: str = FUNCTION, path: str = REPORT) -> list[str]:
    builder = EnvironBuilder(path=path, base_url=f"http://{host}", query_string=QUERY, headers=headers)
    request = Request(builder.get_environ())
    collection = api._links(request, parse(MultiDict(QUERY)), size=10)
    out = [collection.first_url, collection.last_url, collection.next_url, collection.prev_url]
    for url in out:
        assert FUNCTION not in url, url
        assert parse_qs(urlsplit(url).query)["filter[date]"] == ["2025-01-27"]
    return out


def origins(headers: dict[str, str], **kwargs) -> set[str]:
    return {
        "{0.scheme}://{0.netloc}".format(urlsplit(url)) if url.startswith("http") else ""
        for url in links(headers, **kwargs)
    }


@pytest.fixture(autouse=True)
def no_configured_base_url(monkeypatch):
    monkeypatch.delenv("COATRO_PUBLIC_BASE_URL", raising=False)
    clients.reset()
    yield
    clients.reset()


def test_the_forwarded_host_and_proto():
    assert origins({"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https"}) == {
        "https://api.example.com"
    }
    assert origins({"X-Forwarded-Host": "localhost:8080", "X-Forwarded-Proto": "http"}) == {
        "http://localhost:8080"
    }
    assert origins({"X-Forwarded-Host": "127.0.0.1:8080", "X-Forwarded-Proto": "HTTP"}) == {
        "http://127.0.0.1:8080"
    }
    assert origins({"X-Forwarded-Host": "[::1]:8080", "X-Forwarded-Proto": "http"}) == {"http://[::1]:8080"}
    assert origins({"X-Forwarded-Host": "API.Example.com", "X-Forwarded-Proto": "https"}) == {
        "https://api.example.com"
    }


def test_the_host_the_nearest_proxy_appended_not_one_the_caller_sent():
    # Envoy (API Gateway) appends the Host it rewrote to X-Forwarded-Host: the caller's own value comes first.
    assert origins(
        {"X-Forwarded-Host": "evil.example, api.example.com", "X-Forwarded-Proto": "http, https"}
    ) == {"https://api.example.com"}


def test_an_invalid_host_never_gives_the_functions_own_address():
    # The local gateway forwards an empty X-Forwarded-Host when the caller's Host is not a host: the links
    # then showed the function's internal address (the Host the gateway sent it).
    assert origins({"X-Forwarded-Host": "", "X-Forwarded-Proto": "http"}) == {""}
    assert origins({}) == {""}  # called directly, not through a gateway
    assert links({})[0].startswith(REPORT + "?")


@pytest.mark.parametrize(
    "host",
    [
        "api.example.com/evil",
        "api.example.com?x",
        "api.example.com#x",
        "user@evil.example",
        "a b",
        "evil.example:99999",
        "evil.example:0",
        "evil.example:",
        "evil.example:8o",
        "ex_ample.com",
        "-a.example",
        "a-.example",
        "a..example",
        "example.",
        ".example",
        "x" * 64 + ".example",
        "1.2.3",
        "256.1.1.1",
        "01.2.3.4",
        "host.123",
        "[::1",
        "[::1]x",
        "[::1%25eth0]",
        "[v1.x]",
        "::1",
        "bücher.example",
        "evil\t.example",
        "١٢٧.0.0.1",
        "*",
        "%65vil.example",
    ],
)
def test_an_invalid_forwarded_host_gives_relative_links(host):
    assert origins({"X-Forwarded-Host": host, "X-Forwarded-Proto": "https"}) == {""}


@pytest.mark.parametrize("proto", ["javascript", "ftp", "", "https://evil.example", "ws"])
def test_only_http_and_https(proto):
    assert origins({"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": proto}) == {""}


def test_no_proto_no_absolute_links():
    assert origins({"X-Forwarded-Host": "api.example.com"}) == {""}


def test_the_links_are_the_reports_path_whatever_path_reached_the_function():
    assert links({}, path="/anything/else")[0].startswith(REPORT + "?")


def test_the_configured_base_url_wins(monkeypatch):
    monkeypatch.setenv("COATRO_PUBLIC_BASE_URL", "https://pop.example.com/")
    clients.reset()
    headers = {"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "http"}
    assert all(url.startswith("https://pop.example.com" + REPORT + "?") for url in links(headers))
    assert all(url.startswith("https://pop.example.com" + REPORT + "?") for url in links({}))


@pytest.mark.parametrize(
    "url",
    [
        "pop.example.com",
        "ftp://pop.example.com",
        "https://user@pop.example.com",
        "https://pop.example.com?x=1",
        "https://pop.example.com/#x",
        "https://a b",
        "https://",
    ],
)
def test_a_base_url_that_is_not_one_is_refused_at_start(url):
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url=url)


@pytest.mark.parametrize(
    "url, kept",
    [
        ("https://pop.example.com/", "https://pop.example.com"),
        ("http://localhost:8080/api", "http://localhost:8080/api"),
        ("", None),
    ],
)
def test_a_base_url(url, kept):
    assert Settings(public_base_url=url).public_base_url == kept
