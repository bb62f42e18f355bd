"""Errors Flask, werkzeug and functions-framework raise around our code are problem+json too."""

from __future__ import annotations

import functions_framework
import pytest

from functions import function_names
from tests.conftest import ROOT
from tests.infra.checks import EXPECTED_TRIGGERS

HTTP_FUNCTIONS = {name for name, trigger in EXPECTED_TRIGGERS.items() if trigger == "http"}


def _client(name: str):
    return functions_framework.create_app(
        target=name, source=str(ROOT / f"functions/{name}/main.py")
    ).test_client()


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://coatro.dev/problems/")
    return body


@pytest.mark.parametrize("name", function_names())
def test_every_function_answers_framework_errors_with_problems(stack, name):
    client = _client(name)
    if name in HTTP_FUNCTIONS:
        # functions-framework serves /favicon.ico and /robots.txt itself, with a 404.
        _assert_problem(client.get("/favicon.ico"), 404)
        _assert_problem(client.get("/robots.txt"), 404)
    else:
        # An event function takes POST only (405 from Flask), of JSON (415) holding a CloudEvent (400).
        response = client.get("/")
        _assert_problem(response, 405)
        assert "POST" in response.headers["Allow"]
        _assert_problem(
            client.post("/", data=b"not a cloudevent", headers={"Content-Type": "text/plain"}), 415
        )
        _assert_problem(client.post("/", json={"not": "a cloudevent"}), 400)


def test_every_function_is_covered():
    assert set(EXPECTED_TRIGGERS) == set(function_names())
