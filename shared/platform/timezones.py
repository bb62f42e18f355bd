"""Time-zone names: those of the IANA time zone database proper, one check for ingest, mappings and
reports.

The names are the ``tzdata`` package's list (the IANA database's Zone and Link names, 598 in 2026.6),
not whatever files the machine's zoneinfo directory holds: that directory also answers to
``posixrules``, ``localtime``, ``posix/...`` and ``right/...`` (``right/`` zones count leap seconds,
so their times are not UTC times), and to nothing the same on every machine.

`is_iana_zone` is the check, and the only one: `iana_zone` (the ZoneInfo of an admitted name) and every
caller (an ingest's metadata.timezone, a mapping's timezone and zones, a report's timezone) go through
it, each wording its own refusal. Nothing else opens a ZoneInfo.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TypeGuard
from zoneinfo import ZoneInfo

HINT = "expected an IANA time zone name such as Europe/London or UTC"


class UnknownZone(ValueError):
    """Not a name of the IANA time zone database; the message says so, for a person."""


@lru_cache(maxsize=1)
def names() -> frozenset[str]:
    """Every zone and link name of the IANA database (from the pinned tzdata package)."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_iana_zone(name: object) -> TypeGuard[str]:
    """The check: `name` is a zone or link name of the IANA database (a str, not a subclass; not
    ``right/UTC``, ``posixrules`` or anything else only the machine knows). Callers word the refusal."""
    return type(name) is str and name in names()


def iana_zone(name: object) -> ZoneInfo:
    """The zone called `name`, or UnknownZone for anything `is_iana_zone` refuses."""
    if not is_iana_zone(name):
        raise UnknownZone(f"unknown time zone {str(name)[:60]!r} ({HINT})")
    return _zone(name)
