"""Reference lists a screen is checked against, shipped as data: the OpenOOH venue taxonomy and the
ISO 3166-1 alpha-2 country codes.

- Venue types: `openooh_venue_taxonomy.json` beside this module, every enumeration id of the OpenOOH
  Venue Taxonomy 1.2.1 (https://github.com/openooh/venue-taxonomy, specification-1.2.md); the file says
  how it was made and that nothing in it is guessed.
- Countries: the IANA time zone database's `iso3166.tab` as the pinned `tzdata` package ships it (249
  codes in 2026.6; the database takes them from ISO 3166-1 and keeps them current). One list for the
  whole project, as `shared.platform.timezones` is for zone names.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

TAXONOMY_FILE = Path(__file__).resolve().parent / "openooh_venue_taxonomy.json"


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TAXONOMY_FILE.read_text(encoding="utf-8"))
    return document


@lru_cache(maxsize=1)
def venue_types() -> dict[int, str]:
    """Enumeration id -> name, for every venue type of the taxonomy (deprecated ones included)."""
    return {entry["id"]: entry["name"] for entry in taxonomy()["venueTypes"]}


def taxonomy_version() -> str:
    version: str = taxonomy()["version"]
    return version


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code in tzdata's iso3166.tab ("CC<TAB>name" lines, '#' comments)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text(encoding="utf-8")
    return frozenset(
        line.split("\t", 1)[0] for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
