"""Schema versions as data: how a bulk file's records map onto the canonical event.

A `SchemaMapping` names a version and says, for a file's fields (CSV columns, JSON keys, or dotted
paths into nested JSON objects), which canonical field each one fills:

    {"version": "snake-epoch-ms-1",
     "fields": {"screen_id": "screenId", "played_at_ms": "playedAt", "aud_total": "impressions.ageBuckets.total"},
     "timestamp_format": "epoch_millis",
     "constants": {"context.source": "cms-export"},
     "numeric_strings": true,
     "unmapped": "context"}

Rules, in order, for each field of a record:

1. a field named in ``fields`` goes to its target (a dotted source path such as ``"aud.total"``
   also reaches into a nested JSON object ``{"aud": {"total": ...}}``);
2. a field whose name is already a canonical path (``screenId``, ``impressions.ageBuckets.total``,
   ``context.weather``, ``device.model``, or a whole ``impressions`` / ``context`` / ``device``
   object) is kept where it is;
3. any other field is kept as ``context.<name>`` (``unmapped: "context"``) or left unknown so the
   canonical validation rejects the row (``unmapped: "reject"``).

Then ``constants`` are set on every event (overriding the file). ``playedAt`` is converted from
``timestamp_format``: ISO 8601 strings are passed to the canonical validation as they are; epoch
seconds / milliseconds (numbers, or numeric strings) become ISO 8601 UTC strings. With
``numeric_strings`` (default: on for CSV, off for JSON and NDJSON), string values for
``durationMs`` become integers ("30000", "30000.0") and for ``impressions.*`` floats; a string
that is not a number is left alone so the canonical validation reports it.

The built-in ``1.0`` is the canonical event itself (unmapped fields rejected, exactly like the events
endpoint), with CSV columns as dotted paths. Shipped examples live in ``shared/bulk/schema_examples/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from shared.events.models import PopEvent, field_errors, pop_event

SCALAR_FIELDS = ("eventId", "screenId", "siteId", "campaignId", "creativeId", "playedAt", "durationMs")
IMPRESSION_FIELDS = tuple(f"impressions.ageBuckets.{b}" for b in ("total", "male", "female"))
CONTAINER_FIELDS = ("impressions", "impressions.ageBuckets", "context", "device")
_FIXED = frozenset(SCALAR_FIELDS + IMPRESSION_FIELDS + CONTAINER_FIELDS)
_OPEN_PREFIXES = ("context.", "device.")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,32}")
_TS_NAMES = {"epoch_seconds": "epoch seconds", "epoch_millis": "epoch milliseconds"}
_ROUTE_CACHE_MAX = 10_000


def is_canonical_path(path: str) -> bool:
    """True for a path the canonical event has (context.* and device.* are open-ended)."""
    if path in _FIXED:
        return True
    if path.startswith(_OPEN_PREFIXES):
        return all(path.split(".")[1:])
    return False


class SchemaMapping(BaseModel):
    # Frozen: a mapping keeps its compiled lookups (`_compiled`), so it must never change after use.
    model_config = ConfigDict(extra="forbid", frozen=True)
    _compiled: dict[str, "CompiledMapping"] = PrivateAttr(default_factory=dict)

    version: str
    fields: dict[str, str] = Field(default_factory=dict)
    timestamp_format: Literal["iso8601", "epoch_seconds", "epoch_millis"] = "iso8601"
    constants: dict[str, Any] = Field(default_factory=dict)
    numeric_strings: bool | None = None  # None: on for CSV, off for JSON / NDJSON
    unmapped: Literal["context", "reject"] = "context"

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not VERSION_PATTERN.fullmatch(value):
            raise ValueError("version must be 1-32 characters: letters, digits, '.', '_' or '-'")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for source, target in value.items():
            if not source or any(not part for part in source.split(".")):
                raise ValueError(f"source field {source!r} is not a field name or dotted path")
            if not is_canonical_path(target):
                raise ValueError(f"target {target!r} (for {source!r}) is not a canonical field")
            if target in seen:
                raise ValueError(f"{seen[target]!r} and {source!r} both map to {target!r}")
            seen[target] = source
        return value

    @field_validator("constants")
    @classmethod
    def _constants(cls, value: dict[str, Any]) -> dict[str, Any]:
        for target in value:
            if not is_canonical_path(target):
                raise ValueError(f"constant {target!r} is not a canonical field")
        return value

    @model_validator(mode="after")
    def _nested_sources(self):
        for source in self.fields:
            if "." in source and source.split(".", 1)[0] in self.fields:
                raise ValueError(f"{source!r} reaches into {source.split('.', 1)[0]!r}, which is mapped whole")
        return self

    def compiled(self, fmt: str) -> "CompiledMapping":
        """The precomputed lookups for this mapping and format, made once per mapping object
        (pydantic attribute access is slow enough to matter per row)."""
        comp = self._compiled.get(fmt)
        if comp is None:
            numeric = self.numeric_strings if self.numeric_strings is not None else fmt == "csv"
            comp = self._compiled[fmt] = CompiledMapping(self, numeric)
        return comp


# --------------------------------------------------------------------------------------------
# Value conversions. Each returns the converted value, or raises _Bad(message).


class _Bad(Exception):
    pass


def _to_int(value):
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            try:
                f = float(value)
            except ValueError:
                return value
            return int(f) if f.is_integer() else value
    return value


def _to_float(value):
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return value
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _epoch(unit: str) -> Callable[[Any], str]:
    name = _TS_NAMES[unit]

    def convert(value):
        number = value
        if type(value) is str:
            try:
                number = int(value)
            except ValueError:
                try:
                    number = float(value)
                except ValueError:
                    number = None
        if type(number) not in (int, float) or number != number or number in (float("inf"), float("-inf")):
            raise _Bad(f"expected {name}, got {repr(value)[:60]}")
        try:
            if unit == "epoch_millis":
                dt = _EPOCH + timedelta(milliseconds=number)
            else:
                dt = _EPOCH + timedelta(seconds=number)
        except OverflowError:
            raise _Bad(f"{name} value {value!r} is out of range") from None
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return convert


# --------------------------------------------------------------------------------------------
# Compiled mapping


class CompiledMapping:
    """Per-mapping lookups precomputed once: record key -> (path, converter, label)."""

    def __init__(self, mapping: SchemaMapping, numeric: bool):
        self.mapping = mapping
        self.numeric = numeric
        self.reject = mapping.unmapped == "reject"
        self.routes: dict[str, tuple] = {}
        self.nested: dict[str, list[tuple[tuple[str, ...], tuple]]] = {}
        self.labels: dict[str, str] = {}  # canonical path -> how the file calls it
        for source, target in mapping.fields.items():
            route = self._target(target)
            if source != target:
                self.labels[target] = f"{source} ({target})"
            if "." in source and not is_canonical_path(source):
                top, rest = source.split(".", 1)
                self.nested.setdefault(top, []).append((tuple(rest.split(".")), route))
            self.routes[source] = route
        self.constants = [(tuple(k.split(".")), v) for k, v in mapping.constants.items()]
        # The record already is a canonical event: no renames, constants, conversions or context.
        self.direct = (not mapping.fields and not mapping.constants and self.reject and not numeric
                       and mapping.timestamp_format == "iso8601")

    def _target(self, target: str) -> tuple:
        convert = None
        if target == "playedAt" and self.mapping.timestamp_format != "iso8601":
            convert = _epoch(self.mapping.timestamp_format)
        elif self.numeric and target == "durationMs":
            convert = _to_int
        elif self.numeric and target in IMPRESSION_FIELDS:
            convert = _to_float
        return (target.split(".") if "." in target else target), convert, target

    def route(self, key: str) -> tuple:
        route = self.routes.get(key)
        if route is None:
            if is_canonical_path(key):
                route = self._target(key)
            elif self.reject:
                route = (key, None, key)
            else:
                route = (["context", key], None, f"context.{key}")
            if len(self.routes) < _ROUTE_CACHE_MAX:
                self.routes[key] = route
        return route

    def map(self, record: dict) -> tuple[dict, list[str]]:
        out: dict[str, Any] = {}
        errors: list[str] = []
        routes = self.routes
        nested = self.nested
        for key, value in record.items():
            if nested and key in nested and type(value) is dict:
                value = self._extract(key, value, out, errors)
                if not value:
                    continue
            route = routes.get(key) or self.route(key)
            self._put(out, route, value, errors)
        for path, value in self.constants:
            _set(out, path, value, errors, ".".join(path))
        return out, errors

    def _put(self, out: dict, route: tuple, value, errors: list[str]) -> None:
        path, convert, label = route
        if convert is not None:
            try:
                value = convert(value)
            except _Bad as exc:
                errors.append(f"{self.labels.get(label, label)}: {exc}")
                return
        if type(path) is str:
            out[path] = value
        else:
            _set(out, path, value, errors, label)

    def _extract(self, key: str, value: dict, out: dict, errors: list[str]) -> dict:
        """Apply the mapped dotted paths under `key`; return what is left of `value`."""
        rest = _copy_tree(value)
        for sub, route in self.nested[key]:
            node = rest
            for part in sub[:-1]:
                node = node.get(part) if type(node) is dict else None
            if type(node) is dict and sub[-1] in node:
                self._put(out, route, node.pop(sub[-1]), errors)
        return _prune(rest)

    def validate_json(self, payload: bytes) -> PopEvent | None:
        """The event of a JSON record validated straight from its bytes, when this mapping is the
        canonical event itself (`direct`); None when the record needs the full path (`to_event`),
        which alone words errors and handles what this does not (dotted keys, NaN, bad UTF-8)."""
        if b"NaN" in payload or b"Infinity" in payload:  # pydantic's parser would accept them
            return None
        try:
            return pop_event.validate_json(payload)
        except ValidationError:
            return None

    def to_event(self, record: dict) -> tuple[PopEvent | None, str | None]:
        """Map and validate one record: (event, None) or (None, "field: message; field: message")."""
        data, errors = self.map(record)
        try:
            event = pop_event.validate_python(data)
        except ValidationError as exc:
            for err in field_errors(exc):
                field = self.label(err["field"])
                errors.append(f"{field}: {err['message']}" if field else err["message"])
            return None, "; ".join(errors)
        if errors:
            return None, "; ".join(errors)
        return event, None

    def label(self, field: str | None) -> str | None:
        if field is None:
            return None
        return self.labels.get(field, field)


def _copy_tree(value: dict) -> dict:
    return {k: _copy_tree(v) if type(v) is dict else v for k, v in value.items()}


def _prune(value: dict) -> dict:
    for k in [k for k, v in value.items() if type(v) is dict]:
        if not _prune(value[k]):
            del value[k]
    return value


def _set(out: dict, path, value, errors: list[str], label: str) -> None:
    node = out
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif type(child) is not dict:
            errors.append(f"{label}: cannot be set because {part} is not an object")
            return
        node = child
    node[path[-1]] = value


# --------------------------------------------------------------------------------------------
# Public API


def row_to_event(record: dict, mapping: SchemaMapping, fmt: str) -> tuple[PopEvent | None, str | None]:
    """Map and validate one record: (event, None) or (None, "field: message; field: message").
    A loop over many rows calls `mapping.compiled(fmt).to_event` instead (one lookup, not one per row)."""
    return mapping.compiled(fmt).to_event(record)


def load_mapping(data: dict[str, Any]) -> SchemaMapping:
    """Validate a mapping given as plain data (a registered tenant mapping, a shipped example)."""
    return SchemaMapping.model_validate(data)


def mapping_problems(exc: ValidationError) -> list[str]:
    """Person-readable messages for a mapping that does not validate."""
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


BUILTIN: dict[str, SchemaMapping] = {
    "1.0": SchemaMapping(version="1.0", fields={}, unmapped="reject"),
}
