"""Structured JSON logs in Cloud Logging's format. Never log keys or event payloads, only ids.

`context(jobId=..., fileId=...)` adds fields to every line logged inside it (and to an exception
that escapes it, so the line that finally reports the failure names the job too). `exception()`
writes an error with its traceback in Error Reporting's format: a JSON payload whose `@type` is
ReportedErrorEvent and whose `stack_trace` is `traceback.format_exc()`
(https://cloud.google.com/error-reporting/docs/formatting-error-messages).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from shared.platform.settings import get_settings

REPORTED_ERROR_EVENT = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
_context: ContextVar[Mapping[str, Any]] = ContextVar("log_context", default=MappingProxyType({}))


def log(severity: str, message: str, **fields: Any) -> None:
    entry = {"severity": severity, "message": message, **_context.get(), **fields}
    print(json.dumps(entry, default=str), file=sys.stderr, flush=True)


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)


def exception(
    message: str, exc: BaseException, http_request: dict[str, Any] | None = None, **fields: Any
) -> None:
    """An unexpected failure, with its traceback, as Error Reporting groups it."""
    entry: dict[str, Any] = {
        "@type": REPORTED_ERROR_EVENT,
        "stack_trace": "".join(traceback.format_exception(exc)),
        "serviceContext": {"service": get_settings().service_name},
        **getattr(exc, "log_context", {}),
        **fields,
    }
    if http_request:
        entry["context"] = {"httpRequest": http_request}
    log("ERROR", message, **entry)


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    except BaseException as exc:
        if not hasattr(exc, "log_context"):  # the innermost context is the most complete
            try:
                setattr(exc, "log_context", dict(_context.get()))  # noqa: B010 (any exception type)
            except AttributeError:  # an exception type without __dict__
                pass
        raise
    finally:
        _context.reset(token)
