"""Cloud Function `console`: GET /console/ and its static files (the web console, docs/console.md)."""

from pathlib import Path

import functions_framework
from flask import Request, Response

from shared.console.assets import serve

STATIC = Path(__file__).resolve().parent / "static"


@functions_framework.http
def console(request: Request) -> Response:
    return serve(request, STATIC)
