"""Serving the console's static files (functions/console/static/) with strict security headers.

Every response, a file or an error, carries:
- Content-Security-Policy: scripts and styles from this origin only (no inline script, no eval), fetches
  to this origin and to the storage origin that signed upload URLs point at, no plugins, no forms posted
  anywhere, no <base>, and `frame-ancestors 'none'` (CSP Level 3; https://www.w3.org/TR/CSP3/);
- X-Frame-Options: DENY, for browsers without frame-ancestors (RFC 7034);
- X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer, Cross-Origin-Opener-Policy: same-origin.

The files are a fixed set, read into memory (again only when one changes): a path names one of them exactly (flat names, no directories),
so nothing outside the folder can be reached. HTML is never cached (a new deploy shows at once); the
other files are revalidated by ETag.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Request, Response

from shared.platform.http import problem_response
from shared.platform.problems import Problem, method_not_allowed, not_found
from shared.platform.settings import get_settings

PREFIX = "/console"
CLOUD_STORAGE_ORIGIN = "https://storage.googleapis.com"  # where V4 signed URLs point (shared.bulk.signing)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def assets(folder: Path) -> dict[str, Asset]:
    """name -> Asset for every file directly in `folder`: read again only when a file changed (its size
    or modification time; deployed files never do, `make dev` picks up an edit at the next request)."""
    signature = tuple(
        (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name)
        if entry.is_file() and not entry.name.startswith(".")
    )
    return _read(folder, signature)


@lru_cache(maxsize=4)
def _read(folder: Path, signature: tuple[tuple[str, int, int], ...]) -> dict[str, Asset]:
    found = {}
    for name, _size, _mtime in signature:
        body = (folder / name).read_bytes()
        kind = TYPES.get(Path(name).suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        found[name] = Asset(body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return found


def storage_origin() -> str:
    """The origin the browser PUTs uploads to: the storage emulator's locally, Cloud Storage's otherwise."""
    url = get_settings().storage_public_url
    if not url:
        return CLOUD_STORAGE_ORIGIN
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers() -> dict[str, str]:
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {storage_origin()}",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


def _answer(status: int, body: bytes, content_type: str, **headers: str) -> Response:
    response = Response(body, status=status, content_type=content_type)
    for name, value in {**security_headers(), **headers}.items():
        response.headers[name] = value
    return response


def _refuse(problem: Problem) -> Response:
    response = problem_response(problem)
    for name, value in {**security_headers(), "Cache-Control": "no-store"}.items():
        response.headers[name] = value
    return response


def serve(request: Request, folder: Path) -> Response:
    """GET/HEAD /console/<name>; /console/ is index.html. Errors are problem+json, with the same headers."""
    if request.method not in ("GET", "HEAD"):
        return _refuse(method_not_allowed(["GET", "HEAD"]))
    path = request.path
    name = path.removeprefix(PREFIX + "/") if path.startswith(PREFIX + "/") else None
    asset = assets(folder).get(name or "index.html") if name is not None else None
    if asset is None:
        return _refuse(not_found("No such page of the console."))
    # HTML is never stored; the rest is revalidated: the ETag answers 304 while the file is the same.
    cache_control = "no-store" if asset.content_type.startswith("text/html") else "no-cache"
    if request.headers.get("If-None-Match") == asset.etag:
        return _answer(304, b"", asset.content_type, ETag=asset.etag, **{"Cache-Control": cache_control})
    body = b"" if request.method == "HEAD" else asset.body
    response = _answer(200, body, asset.content_type, ETag=asset.etag, **{"Cache-Control": cache_control})
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(asset.body))
    return response
