"""The console's file server (shared/console/assets.py): exact names only, strict headers on everything."""

from __future__ import annotations

from flask import Flask, request

from shared.console.assets import serve
from shared.platform.settings import get_settings

app = Flask(__name__)


def get(folder, path: str, **headers):
    with app.test_request_context(path, headers=headers):
        return serve(request, folder)


def test_files_by_exact_name_with_their_type_and_the_security_headers(tmp_path, monkeypatch):
    monkeypatch.setenv("COATRO_STORAGE_PUBLIC_URL", "http://127.0.0.1:9023/")
    get_settings.cache_clear()
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "app.js").write_text("export {};")
    page = get(tmp_path, "/console/")
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    script = get(tmp_path, "/console/app.js")
    assert script.content_type.startswith("text/javascript") and script.headers["Cache-Control"] == "no-cache"
    assert get(tmp_path, "/console/app.js", **{"If-None-Match": script.headers["ETag"]}).status_code == 304
    for response in (page, script, get(tmp_path, "/console/../x"), get(tmp_path, "/console/APP.JS")):
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
        assert "connect-src 'self' http://127.0.0.1:9023;" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    missing = get(tmp_path, "/console/../x")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    # an edited file is served as edited (make dev), with a new ETag
    (tmp_path / "app.js").write_text("export const x = 1;")
    assert get(tmp_path, "/console/app.js").headers["ETag"] != script.headers["ETag"]
    get_settings.cache_clear()
