"""`CompiledMapping`: a mapping's lookups precomputed once, applied to each record of a file.

For each parsed record (a CSV row, a JSON object, or an envelope holding records), in order:

1. envelope: the records at the ``records`` path, each with the ``envelope_fields`` copied in;
2. positional: a record that is an array becomes an object keyed by ``columns``;
3. ``null_values``: fields holding one of them are absent;
4. ``where``: a record failing any condition is skipped (neither an event nor an error);
5. the record's zone: ``timezone_field``, then ``timezone_lookup``, then the ingest's
   ``metadata.timezone``, then the mapping's ``timezone``. With ``"timezone": "screen"`` it is the
   zone of the mapped screenId's screen: a record with a zone-less timestamp stops after step 6 as
   `Pending`, and `finish` does steps 7 and 8 once the caller has read its screen (`shared.bulk.rows`);
6. ``drop``, then ``fallback`` sources, then each field goes to its target (``fields``, canonical
   names kept, others to ``context`` or rejected) through its transforms; ``constants`` are set;
7. timestamps are read (``timestamp_format``, the zone), ``endedAt`` derives ``durationMs`` or
   ``playedAt``; ``required`` fields are checked;
8. the canonical validation; then ``event_id`` makes the id from the chosen fields.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared.bulk.mapping import screen_zones, timestamps
from shared.bulk.mapping.model import (
    ENDED_AT,
    SCREEN_ZONE,
    FieldSpec,
    SchemaMapping,
    has_v2_keys,
    is_canonical_path,
    tenant_regex,
)
from shared.bulk.mapping.records import MAX_RECORDS_PER_ROW, EnvelopeError, Found, Levels, RecordsPath
from shared.bulk.mapping.screen_zones import ZoneSpan
from shared.bulk.mapping.timestamps import BadValue
from shared.canonical.event import FIELDS, IMPRESSION_FIELDS, INTEGER_FIELDS, PopEvent, field_errors
from shared.platform.encoding import STRICT_JSON, iso_utc

_ROUTE_CACHE_MAX = 10_000
COPY_FACTOR = 8  # envelope_fields copied into a row's records: at most this many times the row's own size
_COPY_SLACK = 64 * 1024
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*", re.IGNORECASE)
_TIMESTAMP_TARGETS = ("playedAt", ENDED_AT)

# (where in an envelope, event, error); both None: skipped. Under "timezone": "screen", the event
# may be a Pending record (`CompiledMapping.finish`).
Outcome = tuple[str | None, "PopEvent | Pending | None", str | None]
Record = dict[str, Any]
Convert = Callable[[Any], Any]  # a value's transforms: the new value, or BadValue / _Absent


# Route and Layout are read on every row: slotted classes read by attribute cost what a plain
# tuple's unpacking does (a NamedTuple's unpacking took about 20 ns more per field, measured).
@dataclass(frozen=True, slots=True)
class Route:
    """Where one source field of a record goes (made once per field name, used on every row)."""

    path: str | tuple[str, ...]  # a top-level canonical name, or the path of a nested one
    convert: Convert | None  # its transforms; None: the value is kept as it is
    label: str  # the target, as row errors name it (with the source: `labels`)


@dataclass(frozen=True, slots=True)
class Layout:
    """How records with one set of keys are mapped (made once per key set, used on every row)."""

    special: list[str]  # the keys that need routing; the others are canonical and kept as they are
    at_once: bool  # the others can be copied at once (see `CompiledMapping._layout`)


@dataclass(slots=True)
class Pending:
    """A record mapped but for its zone-less timestamps, which wait for its screen's zone history
    (``"timezone": "screen"``): the caller reads the screens of many records at once, then calls
    `CompiledMapping.finish`."""

    data: Record  # the mapped record (routed, constants set), timestamps not yet read
    errors: list[str]
    screen_id: Any  # the mapped screenId (None: the record has none)
    label: str | None = None  # its place in an envelope


class _Absent(Exception):
    """A value that means "no value" (a null sentinel): the field is left out."""


def unexpected_error(exc: Exception) -> str:
    """The row error of a record on which the mapping code raised: whatever a tenant's mapping does
    with one record is that record's error, never its chunk's. The cases known to raise are turned
    into their own messages where they happen; this names the category of anything left."""
    if isinstance(exc, RecursionError):
        return "Record nests too deeply for the mapping to read (more levels of objects and arrays than it follows)"
    if isinstance(exc, OverflowError):
        return f"A value of the record is out of range for the mapping ({str(exc)[:100]})"
    return f"The mapping could not be applied to this record ({type(exc).__name__}: {str(exc)[:100]})"


# --------------------------------------------------------------------------------------------
# Value conversions. Each returns the converted value, or raises BadValue / _Absent.


def _to_int(value: Any) -> Any:
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


def _to_float(value: Any) -> Any:
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _duration(unit: str) -> Convert:
    scale = 1000 if unit == "s" else 1

    def convert(value: Any) -> int:
        if type(value) is int:
            return value * scale
        if type(value) is str:
            m = _DURATION.fullmatch(value)
            if m:
                number, value_scale = float(m.group(1)), 1000 if (m.group(2) or unit).lower() == "s" else 1
                if math.isfinite(number * value_scale):
                    return round(number * value_scale)
                raise BadValue(f"{m.group(1)[:30]!r} is out of range for a duration")
        elif type(value) is float and value == value:
            if math.isfinite(value * scale):
                return round(value * scale)
            raise BadValue(f"{value!r} is out of range for a duration")
        raise BadValue(
            f"expected a duration ({'seconds' if unit == 's' else 'milliseconds'}, or a string like "
            f"'15s' or '1500ms'), got {repr(value)[:60]}"
        )

    return convert


def _as_string(value: Any) -> Any:
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    if type(value) is float:
        return repr(value)
    return value


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if type(value) is not dict or part not in value:
            raise _Absent
        value = value[part]
    return value


def _from_json(path: str) -> Convert:
    parts = tuple(path.split(".")) if path else ()

    def convert(value: Any) -> Any:
        if type(value) is not str:
            raise BadValue(f"expected a JSON string, got {repr(value)[:60]}")
        try:
            parsed = STRICT_JSON.decode(value)
        except ValueError as exc:
            raise BadValue(f"is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadValue("is JSON that nests too deeply to read") from None
        try:
            return _dig(parsed, parts)
        except _Absent:
            if not parts:
                raise
            raise _Absent from None

    return convert


def _extract(pattern: str) -> Convert:
    regex = tenant_regex(pattern)  # RE2: linear in the text, whatever the pattern
    group = 1 if regex.groups else 0

    def convert(value: Any) -> Any:
        if type(value) not in (str, int, float):
            raise BadValue(f"expected text to match {pattern!r}, got {repr(value)[:60]}")
        m = regex.search(value if type(value) is str else _as_string(value))
        if m is None:
            raise BadValue(f"{repr(value)[:60]} does not match {pattern!r}")
        return m.group(group)

    return convert


def _chain(steps: list[Convert]) -> Convert | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def convert(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return convert


def _get(record: Record, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


# --------------------------------------------------------------------------------------------


class CompiledMapping:
    """Per-mapping lookups precomputed once: record key -> (path, converter, label)."""

    def __init__(self, mapping: SchemaMapping, numeric: bool, ingest_zone: str | None = None):
        self.mapping = m = mapping
        self.numeric = numeric
        self.reject = m.unmapped == "reject"
        self.routes: dict[str, Route] = {}
        self.nested: dict[str, list[tuple[tuple[str, ...], Route]]] = {}  # top key -> (the rest, route)
        self.labels: dict[str, str] = {}  # canonical path -> how the file calls it
        self.fallbacks: list[tuple[str, tuple[str, ...]]] = []
        for source, spec in m.fields.items():
            if isinstance(spec, FieldSpec):
                target, route = spec.to, self._target(spec.to, spec)
                if spec.fallback:
                    self.fallbacks.append((source, tuple(spec.fallback)))
            else:
                target, route = spec, self._target(spec)
            if source != target:
                self.labels[target] = f"{source} ({target})"
            if "." in source and not is_canonical_path(source):
                top, rest = source.split(".", 1)
                self.nested.setdefault(top, []).append((tuple(rest.split(".")), route))
            self.routes[source] = route
        self.constants = [(tuple(k.split(".")), v) for k, v in m.constants.items()]
        self.time_format = m.timestamp_format
        # "timezone": "screen": zone-less timestamps in the zone of the record's screen (its history);
        # the ingest's metadata.timezone does not apply.
        self.screen_zoned = m.timezone == SCREEN_ZONE
        if self.screen_zoned:
            ingest_zone = None
        fixed = ingest_zone or (None if self.screen_zoned else m.timezone)
        self.default_zone = timestamps.zone(fixed) if fixed else None
        self.zoned = self.default_zone is not None or m.uses_zones()
        self.utc_fast = self.time_format == "iso8601"  # "...Z" needs no reading here: the validation reads it
        self.zone_field = tuple(m.timezone_field.split(".")) if m.timezone_field else None
        self.zone_lookup = (
            (tuple(m.timezone_lookup.field.split(".")), m.timezone_lookup.zones)
            if m.timezone_lookup
            else None
        )
        self.nulls = frozenset(m.null_values)
        self.records = RecordsPath.parse(m.records) if m.records else None
        self._inside_paths: dict[str, RecordsPath | None] = {}  # by a JSON document's array member
        self.envelope_fields = [(name, tuple(name.split("."))) for name in m.envelope_fields]
        self.columns = m.columns
        self.delimiter = m.delimiter
        self.where = [_condition(c.field, c.test, c.value) for c in m.where]
        self.required = [(name, tuple(name.split("."))) for name in m.required]
        self.drop = [(name, tuple(name.split("."))) for name in m.drop]
        # (canonical name, its path) of each field of the natural key
        self.event_id = [(name, tuple(name.split("."))) for name in m.event_id] if m.event_id else None
        self.layouts: dict[tuple[str, ...], Layout] = {}
        # Top-level canonical fields this mapping leaves as they are (no rename, no transform).
        self.plain = frozenset(
            name
            for name in FIELDS
            if name not in m.fields and name not in self.nested and self.route(name).convert is None
        )
        # The record already is a canonical event: no renames, constants, conversions or context.
        self.direct = (
            not m.fields
            and not m.constants
            and self.reject
            and not numeric
            and m.timestamp_format == "iso8601"
            and not m.uses_zones()
            and not has_v2_keys(m)
        )

    def _target(self, target: str, spec: FieldSpec | None = None) -> Route:
        steps: list[Convert] = []
        if spec is not None:
            if spec.null_values:
                nulls = frozenset(spec.null_values)

                def null_check(value: Any, nulls: frozenset[str] = nulls) -> Any:
                    if type(value) is str and value in nulls:
                        raise _Absent
                    return value

                steps.append(null_check)
            if spec.from_json is not None:
                steps.append(_from_json(spec.from_json))
            if spec.extract is not None:
                steps.append(_extract(spec.extract))
            if spec.string:
                steps.append(_as_string)
            if spec.unit is not None:
                steps.append(_duration(spec.unit))
        if target in INTEGER_FIELDS and self.numeric and not (spec and spec.unit):
            steps.append(_to_int)
        elif target in IMPRESSION_FIELDS and self.numeric:
            steps.append(_to_float)
        return Route(tuple(target.split(".")) if "." in target else target, _chain(steps), target)

    def route(self, key: str) -> Route:
        """The route of a source field that `fields` does not name: a canonical name stays (converted
        like a mapped one), any other goes to context (or is kept to be rejected, with `unmapped`)."""
        route = self.routes.get(key)
        if route is None:
            if is_canonical_path(key):
                route = self._target(key)
            elif self.reject:
                route = Route(key, None, key)
            else:
                route = Route(("context", key), None, f"context.{key}")
            if len(self.routes) < _ROUTE_CACHE_MAX:
                self.routes[key] = route
        return route

    # -- one record -------------------------------------------------------------------------

    def map(
        self, record: Record, zone: ZoneInfo | None = None, own: bool = False
    ) -> tuple[Record, list[str]]:
        """What the mapping makes of one record before canonical validation, and its conversion errors.
        With own, the record is the caller's to give away: it is changed in place instead of copied."""
        out, errors = self._routed(record, own)
        self._tail(out, errors, zone)
        return out, errors

    def _routed(self, record: Record, own: bool) -> tuple[Record, list[str]]:
        """The record's fields routed to their targets, with `constants`: `map` before timestamps."""
        errors: list[str] = []
        keys = tuple(record)
        layout = self.layouts.get(keys)  # rows of a file mostly share their keys: decide once per key set
        if layout is None:
            layout = self._layout(keys)
        if layout.at_once:
            # Fast path: fields already canonical are copied at once; only the others are routed.
            out = record if own else dict(record)
            routes, nested = self.routes, self.nested
            for key in layout.special:
                value = out.pop(key)
                route = routes.get(key) or self.route(key)
                path = route.path
                if type(path) is not str or key in nested:
                    self._route_into(out, key, value, errors)
                elif route.convert is None:
                    out[path] = value
                else:  # _put, inlined: most routed keys are a top-level field with a transform
                    try:
                        out[path] = route.convert(value)
                    except _Absent:
                        pass
                    except BadValue as exc:
                        errors.append(f"{self.labels.get(route.label, route.label)}: {exc}")
        else:  # a renamed field and the canonical one both present: record order decides (the last wins)
            out = {}
            for key, value in record.items():
                self._route_into(out, key, value, errors)
        for path, value in self.constants:
            _set(out, path, value, errors, ".".join(path))
        return out, errors

    def _tail(self, out: Record, errors: list[str], zone: ZoneInfo | timestamps.Localizer | None) -> None:
        """Timestamps read (zone-less ones in `zone`), `endedAt` derivations, `required`: `map` after routing."""
        played = out.get("playedAt")
        if (
            ENDED_AT in out
            or "playedAt" in out
            and not (self.utc_fast and type(played) is str and played[-1:] == "Z")
        ):
            self._times(out, errors, zone if zone is not None else self.default_zone)
        for name, path in (
            self.required if not errors else ()
        ):  # a missing field caused by an error is that error
            if _get(out, path) is None:
                errors.append(f"{self.label(name)}: required, but the record has no value for it")

    def _layout(self, keys: tuple[str, ...]) -> Layout:
        """For a record with these keys: the keys that need routing, and whether the others can be
        copied at once (no routed key lands on a top-level field the record also has, where the
        record's order would decide which value wins)."""
        special = [k for k in keys if k not in self.plain]
        tops = []
        for key in special:
            path = (self.routes.get(key) or self.route(key)).path
            tops.append(path if isinstance(path, str) else path[0])
        layout = Layout(
            special, all(top == key or top not in keys for key, top in zip(special, tops, strict=True))
        )
        if len(self.layouts) < _ROUTE_CACHE_MAX:
            self.layouts[keys] = layout
        return layout

    def _route_into(self, out: Record, key: str, value: Any, errors: list[str]) -> None:
        nested = self.nested
        if nested and key in nested and type(value) is dict:
            value = self._extract_nested(key, value, out, errors)
            if not value:
                return
        self._put(out, self.routes.get(key) or self.route(key), value, errors)

    def _put(self, out: Record, route: Route, value: Any, errors: list[str]) -> None:
        path, convert, label = route.path, route.convert, route.label
        if convert is not None:
            try:
                value = convert(value)
            except _Absent:
                return
            except BadValue as exc:
                errors.append(f"{self.labels.get(label, label)}: {exc}")
                return
        if isinstance(path, str):
            out[path] = value
        else:
            _set(out, path, value, errors, label)

    def _extract_nested(self, key: str, value: Record, out: Record, errors: list[str]) -> Record:
        """Apply the mapped dotted paths under `key`; return what is left of `value`. Only the
        objects on a mapped path are copied (and dropped once emptied), so the work is the paths'
        length, not the record's size or depth."""
        rest = dict(value)
        for sub, route in self.nested[key]:
            node, trail = rest, []
            for part in sub[:-1]:
                child = node.get(part)
                if type(child) is not dict:
                    break
                trail.append((node, part))
                node[part] = node = dict(child)
            else:
                if sub[-1] in node:
                    self._put(out, route, node.pop(sub[-1]), errors)
                    while trail and not node:  # an object the mapping emptied is not left behind
                        parent, part = trail.pop()
                        del parent[part]
                        node = parent
        return rest

    def _times(self, out: Record, errors: list[str], zone: ZoneInfo | timestamps.Localizer | None) -> None:
        fmt = self.time_format
        if fmt == "iso8601" and ENDED_AT not in out:
            value = out.get("playedAt")
            if zone is None and not self.zoned or type(value) is str and value[-1:] == "Z":
                return  # the canonical validation reads it as it is (the common case, kept fast)
        moments = {}
        for name in _TIMESTAMP_TARGETS:
            if name not in out:
                continue
            value = out[name]
            if value is None and (fmt == "iso8601" or fmt not in timestamps.EPOCH_UNITS):
                out.pop(name)  # null: absent, as the canonical validation reads it
                continue
            try:
                moments[name] = timestamps.parse(value, fmt, zone)
            except BadValue as exc:
                errors.append(f"{self.label(name)}: {exc}")
                out.pop(name)
        start, end = moments.get("playedAt"), moments.pop(ENDED_AT, None)
        out.pop(ENDED_AT, None)
        if end is not None:
            duration = out.get("durationMs")
            if duration is None and start is not None:
                if end < start:
                    errors.append(f"{self.label(ENDED_AT)}: is before {self.label('playedAt')}")
                else:
                    out["durationMs"] = round((end - start) / timedelta(milliseconds=1))
            elif start is None and "playedAt" not in out and type(duration) is int:
                try:
                    moments["playedAt"] = end - timedelta(milliseconds=duration)
                except OverflowError:
                    errors.append(
                        f"{self.label('durationMs')}: {duration!r} is out of range to derive "
                        f"{self.label('playedAt')} from {self.label(ENDED_AT)}"
                    )
        if "playedAt" in moments:
            try:
                out["playedAt"] = iso_utc(moments["playedAt"])
            except OverflowError:
                errors.append(f"{self.label('playedAt')}: is out of range")

    def to_event(self, record: Record, zone: ZoneInfo | None = None) -> tuple[PopEvent | None, str | None]:
        """Map and validate one record: (event, None) or (None, "field: message; field: message")."""
        return self._validated(*self.map(record, zone))

    def _validated(self, data: Record, errors: list[str]) -> tuple[PopEvent | None, str | None]:
        try:
            event = PopEvent.model_validate(data)
        except ValidationError as exc:
            for err in field_errors(exc):
                field = self.label(err["field"])
                errors.append(f"{field}: {err['message']}" if field else err["message"])
            return None, "; ".join(errors)
        if errors:
            return None, "; ".join(errors)
        if self.event_id is not None:
            key = []
            for name, path in self.event_id:
                value = _event_value(event, path)
                if value is None:
                    return None, f"event_id: {self.label(name)} is missing, so the event id cannot be made"
                key.append([name, value])
            event.eventId = (
                "evt-" + hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:32]
            )
        return event, None

    # -- a parsed record of the file (a row, or an envelope) ----------------------------------

    def outcomes(self, parsed: Any, member: str | None = None, position: int = 0) -> Iterator[Outcome]:
        """(label, event, error) for each record in one parsed record of the file; a skipped record
        has neither event nor error. `label` names the record's place inside an envelope.

        With `member`, `parsed` is the element at `position` (from 1) of the JSON document's array
        of that name, and the records path is read from the document (`document_problem` says
        when it cannot be)."""
        if member is not None:
            path = self._inside(member)
            if path is None:
                yield None, None, self.document_problem(member)
                return
            place = f"{member}[{position - 1}]"
        elif self.records is None:
            yield None, *self.one(parsed)
            return
        else:
            path, place = self.records, ""
        try:  # (references to the records, not copies) at most one more than allowed, to tell
            found = list(itertools.islice(path.records(parsed, place), MAX_RECORDS_PER_ROW + 1))
        except EnvelopeError as exc:
            yield None, None, str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - whatever the envelope holds, it is this row's error
            yield None, None, unexpected_error(exc)
            return
        if len(found) > MAX_RECORDS_PER_ROW:
            yield (
                None,
                None,
                (
                    f"records {path.text!r}: the row holds more than {MAX_RECORDS_PER_ROW:,} records, "
                    f"the limit per row; split it into rows of at most {MAX_RECORDS_PER_ROW:,}"
                ),
            )
            return
        copies: dict[int, list[tuple[str, Any]]] = {}  # by envelope levels (id): the values they give
        if self.envelope_fields:
            for _label, _record, _error, levels in found:
                if id(levels) not in copies:
                    copies[id(levels)] = self._envelope_values(levels)
            if len(found) > 1 and (error := self._copies_problem(parsed, found, copies)):
                yield None, None, error
                return
        for label, record, error, levels in found:
            if error is not None:
                yield label, None, error
                continue
            if self.envelope_fields:
                if type(record) is list and self.columns is not None:
                    record, error = self._positional(record)
                    if error:
                        yield label, None, f"{label}: {error}"
                        continue
                if type(record) is dict:
                    record = dict(record)
                    for name, value in copies[id(levels)]:
                        if name not in record:
                            record[name] = value
            event, error = self.one(record)
            if type(event) is Pending:
                event.label = label  # its error, when it is finished, names its place
            yield label, event, (f"{label}: {error}" if error else None)

    def _inside(self, member: str) -> RecordsPath | None:
        if self.records is None:
            return None
        if member not in self._inside_paths:
            self._inside_paths[member] = self.records.inside(member)
        return self._inside_paths[member]

    def document_problem(self, member: str) -> str | None:
        """Why this mapping cannot read the records of a JSON document whose rows are the elements
        of its array `member`, or None. (The splitter planned the file not knowing the mapping.)"""
        if self._inside(member) is not None:
            return None
        if self.records is None:
            return (
                f'The JSON object has no "events" array; its records are in its "{member}" array, which '
                f'a schema version reads with a records path starting there (such as "{member}[*]")'
            )
        return (
            f"The JSON document's records are in its \"{member}\" array, but the mapping's records path "
            f'{self.records.text!r} starts elsewhere; write it from the document, starting "{member}[*]"'
        )

    def _envelope_values(self, levels: Levels) -> list[tuple[str, Any]]:
        """The envelope_fields a record with these envelope levels gets: each from the nearest
        level that has it (the object holding the record first, the row last)."""
        out = []
        for name, path in self.envelope_fields:
            for level in reversed(levels):
                value = _get(level, path)
                if value is not None:
                    out.append((name, value))
                    break
        return out

    def _copies_problem(
        self, envelope: Any, found: list[Found], copies: dict[int, list[tuple[str, Any]]]
    ) -> str | None:
        """Why copying the envelope_fields into each record would make too much of one row, or None:
        the copies may come to at most COPY_FACTOR times the row itself (plus 64 KiB), so what a
        chunk's records hold stays within a multiple of the chunk's bytes."""
        sizes = {key: sum(_json_size(value) for _, value in values) for key, values in copies.items()}
        copied = sum(sizes[id(levels)] for _, _, _, levels in found)
        if copied <= _COPY_SLACK:
            return None
        limit = COPY_FACTOR * _json_size(envelope) + _COPY_SLACK
        if copied <= limit:
            return None
        return (
            f"envelope_fields: copying them into each of the row's {len(found):,} records makes {copied:,} bytes, "
            f"more than {COPY_FACTOR} times the row ({limit:,} bytes); send the envelope's fields with fewer records per row"
        )

    def one(self, record: Any) -> tuple[PopEvent | Pending | None, str | None]:
        """(event, None), (None, error), or (None, None) when the filters skip it: one record, not an
        envelope. The record is consumed (the mapping may change it in place). Under
        ``"timezone": "screen"``, a record with a zone-less timestamp is (Pending, None): mapped but
        for its timestamps, which `finish` reads once its screen's zones are known.

        Never raises for what is in the record: an exception out of the mapping code is the
        record's error (`unexpected_error`), so one record can never fail its chunk."""
        try:
            return self._one(record)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - see the docstring
            return None, unexpected_error(exc)

    def _one(self, record: Any) -> tuple[PopEvent | Pending | None, str | None]:
        if type(record) is list:
            record, error = self._positional(record)
            if error:
                return None, error
        elif type(record) is not dict:
            return None, f"Record should be a JSON object, not {type(record).__name__}"
        if self.nulls:
            record = {k: v for k, v in record.items() if not (type(v) is str and v in self.nulls)}
        for holds in self.where:
            if not holds(record):
                return None, None
        zone = None
        if self.zone_field is not None or self.zone_lookup is not None:
            zone, error = self._record_zone(record)
            if error:
                return None, error
        if self.drop or self.fallbacks:
            record = dict(record)
            for name, path in self.drop:
                _drop(record, name, path)
            for source, others in self.fallbacks:
                for other in others:
                    value = record.pop(other, None)
                    if record.get(source) is None and value is not None:
                        record[source] = value
        if self.screen_zoned:
            data, errors = self._routed(record, own=True)
            if self._local_times(data):
                return Pending(data, errors, data.get("screenId")), None
            self._tail(data, errors, None)
        else:
            data, errors = self.map(record, zone, own=True)
        return self._event(data, errors)

    def _event(self, data: Record, errors: list[str]) -> tuple[PopEvent | None, str | None]:
        if (
            not errors and self.event_id is None
        ):  # the common case without a call: valid, or its errors worded
            try:
                return PopEvent.model_validate(data), None
            except ValidationError:
                pass
        return self._validated(data, errors)

    def _local_times(self, data: Record) -> bool:
        """Whether a timestamp of this mapped record is zone-less (needs its screen's zone)."""
        fmt = self.time_format
        return any(timestamps.is_local(data.get(name), fmt) for name in _TIMESTAMP_TARGETS)

    def finish(
        self, pending: Pending, history: Sequence[ZoneSpan] | str
    ) -> tuple[PopEvent | None, str | None]:
        """The outcome of a record waiting for its screen (`Pending`, from `one` or `outcomes` under
        ``"timezone": "screen"``), given its screen's zone history, or why there is none (a phrase
        following the screen id: ``is not a registered screen``). That is a row error naming
        screenId, and the record's other errors come with it. Never raises (as `one`)."""
        try:
            data, errors = pending.data, pending.errors
            if isinstance(history, str):
                screen = pending.screen_id
                if screen is None:
                    problem = (
                        "required: the record's local timestamps are read in its screen's time zone "
                        "(timezone: screen)"
                    )
                else:
                    problem = f"{str(screen)[:130]!r} {history}"
                errors.append(f"{self.label('screenId')}: {problem}")
                event: PopEvent | None = None
                error: str | None = "; ".join(errors)
            else:
                self._tail(data, errors, screen_zones.localizer(history))
                event, error = self._event(data, errors)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in `one`
            event, error = None, unexpected_error(exc)
        if error and pending.label:
            error = f"{pending.label}: {error}"
        return event, error

    def _positional(self, values: list[Any]) -> tuple[Record | None, str | None]:
        columns = self.columns
        if columns is None:
            return None, "Record is an array; name its positions with columns in the mapping"
        if len(values) != len(columns):
            n = len(values)
            return (
                None,
                f"Record has {n} value{'' if n == 1 else 's'}; the mapping's columns name {len(columns)}",
            )
        return {k: v for k, v in zip(columns, values, strict=True) if v is not None and v != ""}, None

    def _record_zone(self, record: Record) -> tuple[ZoneInfo | None, str | None]:
        try:
            if self.zone_field is not None:
                name = _get(record, self.zone_field)
                if name is not None:
                    return timestamps.zone(name), None
            if self.zone_lookup is not None:
                path, zones = self.zone_lookup
                key = _get(record, path)
                if key is not None:
                    name = zones.get(str(_as_string(key)))
                    if name is not None:
                        return timestamps.zone(name), None
        except BadValue as exc:
            return None, f"{self.mapping.timezone_field}: {exc}"
        return None, None

    def label(self, field: str | None) -> str | None:
        if field is None:
            return None
        return self.labels.get(field, field)

    def validate_json(self, payload: bytes) -> PopEvent | None:
        """The event of a JSON record validated straight from its bytes, when this mapping is the
        canonical event itself (`direct`); None when the record needs the full path (`to_event`),
        which alone words errors and handles what this does not (dotted keys, NaN, bad UTF-8)."""
        if b"NaN" in payload or b"Infinity" in payload:  # pydantic's parser would accept them
            return None
        try:
            return PopEvent.model_validate_json(payload)
        except ValidationError:
            return None


def compile_mapping(mapping: SchemaMapping, fmt: str, zone: str | None = None) -> CompiledMapping:
    """The precomputed lookups of a mapping for a file format and an ingest zone (`metadata.timezone`),
    made once per mapping object and kept on it (pydantic attribute access is slow enough to matter
    per row). CSV reads numeric strings as numbers unless the mapping says otherwise."""
    key = (fmt, zone)
    compiled: CompiledMapping | None = mapping._compiled.get(key)
    if compiled is None:
        numeric = mapping.numeric_strings if mapping.numeric_strings is not None else fmt == "csv"
        compiled = mapping._compiled[key] = CompiledMapping(mapping, numeric, zone)
    return compiled


def _condition(field: str, test: str, value: Any) -> Callable[[Record], bool]:
    """A where condition as a function of the record (built once: it runs on every row)."""
    path = tuple(field.split("."))
    get: Callable[[Record], Any] = (lambda r: r.get(field)) if len(path) == 1 else (lambda r: _get(r, path))
    if test == "present":
        return (lambda r: r.get(field) is not None) if len(path) == 1 else (lambda r: get(r) is not None)
    if test == "absent":
        return (lambda r: r.get(field) is None) if len(path) == 1 else (lambda r: get(r) is None)
    matches = _Membership(value if test in ("in", "not_in") else [value])

    if test in ("equals", "in"):
        return lambda r: (a := get(r)) is not None and matches(a)
    return lambda r: (a := get(r)) is None or not matches(a)  # not_equals, not_in


class _Membership:
    """Whether a record's value is one of a condition's values: equal, or when one of the two is a
    string and the other not, equal as text (a CSV's "1" is the number 1), in O(1) whatever the
    list's length: the values are sets by type. A condition's values are scalars (the mapping's model refuses the rest)."""

    def __init__(self, values: list[Any]):
        self.strings = {v for v in values if type(v) is str}
        self.others = {v for v in values if type(v) is not str}
        self.others_as_strings = {str(_as_string(v)) for v in self.others}

    def __call__(self, actual: Any) -> bool:
        if type(actual) is str:
            return actual in self.strings or actual in self.others_as_strings
        try:
            return actual in self.others or str(_as_string(actual)) in self.strings
        except TypeError:  # an object or array: equal to no scalar, and no string is its text
            return False


def _json_size(value: Any) -> int:
    """About how many bytes `value` takes as JSON (what a copy of it costs downstream)."""
    if value is None:
        return 0
    if type(value) is str:
        return len(value) + 2
    if type(value) in (int, float, bool):
        return 8
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))


def _event_value(event: PopEvent, path: tuple[str, ...]) -> Any:
    value: Any = event
    for part in path:
        if value is None:
            return None
        value = value.get(part) if type(value) is dict else getattr(value, part, None)
    return value


def _drop(record: Record, name: str, path: tuple[str, ...]) -> None:
    """Remove a `drop` field from a record (a copy the caller owns): the top-level key as written (a
    CSV column may be called ``Stat.Date``), and the dotted path into nested objects (``auth.token``).
    The objects on the path are copied, not changed (they may be shared with other records of the
    envelope), and an object the drop empties goes too."""
    record.pop(name, None)
    if len(path) == 1:
        return
    node: Any = record
    for part in path[:-1]:
        node = node.get(part)
        if type(node) is not dict:
            return
    if path[-1] not in node:
        return
    node = record
    trail = []
    for part in path[:-1]:
        trail.append((node, part))
        node[part] = node = dict(node[part])
    del node[path[-1]]
    while trail and not node:
        parent, part = trail.pop()
        del parent[part]
        node = parent


def _set(out: Record, path: tuple[str, ...], value: Any, errors: list[str], label: str) -> None:
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
