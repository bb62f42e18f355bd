"""Structured JSON logs in Cloud Logging's format. Never log keys or event payloads, only ids."""

from __future__ import annotations

import json
import sys
from typing import Any


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {"severity": severity, "message": message, **fields}
    print(json.dumps(entry, default=str), file=sys.stderr, flush=True)


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
