"""How values are written on the wire: strict JSON in, RFC 3339 UTC timestamps out."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def iso_utc(moment: datetime, timespec: str = "milliseconds") -> str:
    """RFC 3339 in UTC with a `Z`, the one timestamp format the API and the events carry."""
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now() -> str:
    return iso_utc(datetime.now(timezone.utc))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# Python's json accepts NaN and Infinity, which are not JSON (RFC 8259) and could not reach
# BigQuery; every body and every bulk row is decoded with this instead.
STRICT_JSON = json.JSONDecoder(parse_constant=_not_json)
