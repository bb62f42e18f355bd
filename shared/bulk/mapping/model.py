"""`SchemaMapping`: a schema version as data, validated when it is registered (errors name the key)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import re2
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.bulk.mapping import timestamps
from shared.bulk.mapping.records import RecordsPath
from shared.canonical.event import (
    CONTAINER_FIELDS,
    DURATION_FIELDS,
    IMPRESSION_FIELDS,
    INTEGER_FIELDS,
    SCALAR_FIELDS,
)
from shared.platform import timezones

ENDED_AT = "endedAt"  # not canonical: the end of the play, from which durationMs or playedAt is derived
_FIXED = frozenset(SCALAR_FIELDS + IMPRESSION_FIELDS + CONTAINER_FIELDS)
_OPEN_PREFIXES = ("context.", "device.")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,32}")
TIMESTAMP_NAMES = ("iso8601", "epoch_seconds", "epoch_millis", "epoch_micros")
MAX_LOOKUP_ENTRIES = 10_000
# "timezone": "screen": zone-less timestamps are in the zone of the record's screen, as the screen
# registry held it at that instant (shared.bulk.mapping.screen_zones). Not an IANA name.
SCREEN_ZONE = "screen"
MAX_PATTERN_CHARS = 1_000
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the tenant's 400, not a line on the function's stderr
_RE2_OPTIONS.max_mem = (
    8 << 20
)  # RE2's default program budget, stated: a pattern that needs more does not compile


def tenant_regex(pattern: str) -> Any:
    """A tenant's regular expression, compiled with RE2, which matches in time linear in the text
    whatever the pattern (no backtracking: ``^(a+)+$`` costs what ``^a+$`` does). RE2 has no
    backreferences or lookarounds, and ``\\d``, ``\\w``, ``\\s`` are ASCII only
    (https://github.com/google/re2/wiki/Syntax). Raises re2.error."""
    return re2.compile(pattern, _RE2_OPTIONS)


def is_canonical_path(path: str) -> bool:
    """True for a path the canonical event has (context.* and device.* are open-ended)."""
    if path in _FIXED:
        return True
    if path.startswith(_OPEN_PREFIXES):
        return all(path.split(".")[1:])
    return False


def _source_path(path: str, what: str) -> str:
    if not path or any(not part for part in path.split(".")):
        raise ValueError(f"{what} {path!r} is not a field name or dotted path")
    return path


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Part):
    """A source field with transforms: ``{"to": "durationMs", "unit": "s"}``."""

    to: str
    fallback: list[str] = Field(default_factory=list)  # other sources, tried in order when this one is absent
    null_values: list[str] = Field(default_factory=list)  # values meaning "absent", besides the mapping's
    from_json: str | None = (
        None  # the value is a JSON string: take this dotted path out of it ("" for all of it)
    )
    extract: str | None = None  # a regular expression: the value is its first group (or the whole match)
    string: bool = False  # numbers become strings (ids exported as numbers)
    unit: Literal["ms", "s"] | None = (
        None  # durationMs, plannedDurationMs: the unit of a bare number; "15s" / "1500ms" say their own
    )

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, value: list[str]) -> list[str]:
        return [_source_path(p, "fallback source") for p in value]

    @field_validator("extract")
    @classmethod
    def _extract(cls, value: str | None) -> str | None:
        if value is not None:
            if len(value) > MAX_PATTERN_CHARS:
                raise ValueError(
                    f"extract is {len(value)} characters; a pattern has at most {MAX_PATTERN_CHARS}"
                )
            try:
                pattern = tenant_regex(value)
            except re2.error as exc:
                reason = (
                    exc.args[0].decode("utf-8", "replace")
                    if exc.args and isinstance(exc.args[0], bytes)
                    else exc
                )
                raise ValueError(
                    f"extract {value[:100]!r} is not a regular expression RE2 can run ({reason}); patterns run in "
                    "linear time, so backreferences and lookarounds are not available"
                ) from None
            if pattern.groups > 1:
                raise ValueError(
                    f"extract {value!r} has {pattern.groups} groups; use one (or none for the whole match)"
                )
        return value

    @model_validator(mode="after")
    def _target(self) -> FieldSpec:
        if not (is_canonical_path(self.to) or self.to == ENDED_AT):
            raise ValueError(f"to: {self.to!r} is not a canonical field (nor {ENDED_AT})")
        if self.unit is not None and self.to not in DURATION_FIELDS:
            raise ValueError(f"unit applies to {' and '.join(DURATION_FIELDS)}, not to {self.to!r}")
        if self.string and self.to in ("playedAt", ENDED_AT) + INTEGER_FIELDS + IMPRESSION_FIELDS:
            raise ValueError(f"string does not apply to {self.to!r}, which is not a string")
        return self


# A plain target name, or a FieldSpec: chosen by the value's type, so errors come from one branch.
FieldTarget = Annotated[
    Annotated[str, Tag("name")] | Annotated[FieldSpec, Tag("spec")],
    Discriminator(lambda v: "name" if isinstance(v, str) else "spec"),
]


class TimezoneLookup(_Part):
    """Zones by the value of a record's field: ``{"field": "player_id", "zones": {"1201": "America/Toronto"}}``."""

    field: str
    zones: dict[str, str] = Field(max_length=MAX_LOOKUP_ENTRIES)

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        return _source_path(value, "field")

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        for key, name in value.items():
            if not timezones.is_iana_zone(name):
                raise ValueError(
                    f"zones[{key!r}]: unknown time zone {name!r} (expected an IANA name such as Europe/London)"
                )
        return value


CONDITION_TESTS = ("equals", "not_equals", "in", "not_in", "present", "absent")


class Condition(_Part):
    """One test on a record's field, written ``{"field": "Type", "equals": "media"}`` (or not_equals,
    in, not_in, present: true, absent: true); a record is kept when all of a mapping's conditions hold."""

    field: str
    test: Literal["equals", "not_equals", "in", "not_in", "present", "absent"]
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _written(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "test" in data:
            return data
        tests = [k for k in CONDITION_TESTS if k in data]
        unknown = sorted(set(data) - set(CONDITION_TESTS) - {"field"})
        if unknown:
            raise ValueError(
                f"unknown key {unknown[0]!r}; a condition has a field and one of {', '.join(CONDITION_TESTS)}"
            )
        if len(tests) != 1:
            raise ValueError(
                f"a condition has a field and exactly one of {', '.join(CONDITION_TESTS)}"
                + (f" (it has {', '.join(tests)})" if tests else "")
            )
        test = tests[0]
        value = data[test]
        if test in ("present", "absent") and value is not True:
            raise ValueError(f"{test} must be true")
        if test in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"{test} must be a list of values")
        for i, item in enumerate(value if test in ("in", "not_in") else [value]):
            if isinstance(item, (dict, list)):
                where = f"{test}[{i}]" if test in ("in", "not_in") else test
                raise ValueError(
                    f"{where}: a condition compares with strings, numbers, booleans or null, not "
                    f"{'an object' if isinstance(item, dict) else 'an array'}"
                )
        return {"field": data.get("field"), "test": test, "value": value}

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        return _source_path(value, "field")

    @model_serializer
    def _write(self) -> dict[str, Any]:
        return {"field": self.field, self.test: self.value}


class SchemaMapping(BaseModel):
    # Frozen: a mapping keeps its compiled lookups, so it must never change after use.
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The mapping's compiled forms by (format, ingest zone), made and kept by
    # `shared.bulk.mapping.compiled.compile_mapping` (which imports this module, never the reverse).
    _compiled: dict[tuple[str, str | None], Any] = PrivateAttr(default_factory=dict)

    version: str
    fields: dict[str, FieldTarget] = Field(default_factory=dict)
    timestamp_format: str = "iso8601"
    timezone: str | None = None
    timezone_field: str | None = None
    timezone_lookup: TimezoneLookup | None = None
    constants: dict[str, Any] = Field(default_factory=dict)
    numeric_strings: bool | None = None  # None: on for CSV, off for JSON / NDJSON
    unmapped: Literal["context", "reject"] = "context"
    null_values: list[str] = Field(default_factory=list)
    records: str | None = None
    envelope_fields: list[str] = Field(default_factory=list)
    columns: list[str] | None = None
    delimiter: str = ","
    header: bool = True
    where: list[Condition] = Field(default_factory=list)
    required: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    event_id: list[str] | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not VERSION_PATTERN.fullmatch(value):
            raise ValueError("version must be 1-32 characters: letters, digits, '.', '_' or '-'")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str | FieldSpec]) -> dict[str, str | FieldSpec]:
        seen: dict[str, str] = {}
        for source, spec in value.items():
            _source_path(source, "source field")
            target = spec if isinstance(spec, str) else spec.to
            if isinstance(spec, str) and not is_canonical_path(target) and target != ENDED_AT:
                raise ValueError(f"target {target!r} (for {source!r}) is not a canonical field")
            if target in seen:
                raise ValueError(f"{seen[target]!r} and {source!r} both map to {target!r}")
            seen[target] = source
        return value

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, value: str) -> str:
        if value not in TIMESTAMP_NAMES:
            problem = timestamps.pattern_problem(value)
            if problem:
                raise ValueError(f"{value!r} {problem}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and value != SCREEN_ZONE and not timezones.is_iana_zone(value):
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as Europe/London, or "
                f"{SCREEN_ZONE!r} for the zone of each record's screen)"
            )
        return value

    @field_validator("timezone_field")
    @classmethod
    def _timezone_field(cls, value: str | None) -> str | None:
        return None if value is None else _source_path(value, "timezone_field")

    @field_validator("constants")
    @classmethod
    def _constants(cls, value: dict[str, Any]) -> dict[str, Any]:
        for target in value:
            if not is_canonical_path(target):
                raise ValueError(f"constant {target!r} is not a canonical field")
        return value

    @field_validator("records")
    @classmethod
    def _records(cls, value: str | None) -> str | None:
        if value is not None:
            RecordsPath.parse(value)  # raises ValueError naming the problem
        return value

    @field_validator("envelope_fields", "drop")
    @classmethod
    def _source_list(cls, value: list[str]) -> list[str]:
        return [_source_path(p, "field") for p in value]

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("columns must name at least one column")
            for i, name in enumerate(value):
                if not name:
                    raise ValueError(f"column {i} has an empty name")
            if len(set(value)) != len(value):
                raise ValueError("columns names a column twice")
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if len(value) != 1 or value in '"\r\n':
            raise ValueError(f"{value!r} is not a delimiter: use one character such as ',' ';' '|' or a tab")
        return value

    @field_validator("required", "event_id")
    @classmethod
    def _canonical_list(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        for path in value or ():
            if not is_canonical_path(path) or path in CONTAINER_FIELDS:
                raise ValueError(f"{path!r} is not a canonical field")
        if info.field_name == "event_id" and value is not None and not value:
            raise ValueError("name at least one canonical field")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SchemaMapping:
        for source in self.fields:
            if "." in source and source.split(".", 1)[0] in self.fields:
                raise ValueError(
                    f"{source!r} reaches into {source.split('.', 1)[0]!r}, which is mapped whole"
                )
        if self.timezone == SCREEN_ZONE and (self.timezone_field or self.timezone_lookup):
            other = "timezone_field" if self.timezone_field else "timezone_lookup"
            raise ValueError(
                f"timezone: {SCREEN_ZONE!r} reads each record's zone from its registered screen; it cannot "
                f"be combined with {other}: use one or the other"
            )
        if not self.header and self.columns is None:
            raise ValueError("header: a file without a header row needs columns naming its columns in order")
        if self.envelope_fields and self.records is None:
            raise ValueError(
                "envelope_fields: there is no envelope; set records to the path of the records inside it"
            )
        if "eventId" in (self.event_id or ()):
            raise ValueError("event_id: eventId cannot be part of its own key")
        if self.event_id and "eventId" in self.targets():
            raise ValueError(f"event_id: eventId is already mapped from {self.targets()['eventId']!r}")
        targets = self.targets()
        known = None if self.columns is None else set(self.columns) | set(self.envelope_fields)
        for i, condition in enumerate(self.where):
            name = condition.field
            top = name.split(".", 1)[0]
            if known is not None and name not in known and top not in known:
                raise ValueError(
                    f"where[{i}]: field {name!r} cannot exist: the records' fields are {sorted(known)}"
                )
            if name in targets and name not in self.fields and known is None:
                raise ValueError(
                    f"where[{i}]: {name!r} is the canonical field filled from {targets[name]!r}; "
                    f"conditions test the record's own fields: use {targets[name]!r}"
                )
        for zone_field in (self.timezone_field, self.timezone_lookup.field if self.timezone_lookup else None):
            if (
                zone_field is not None
                and known is not None
                and zone_field not in known
                and zone_field.split(".", 1)[0] not in known
            ):
                raise ValueError(
                    f"timezone field {zone_field!r} cannot exist: the records' fields are {sorted(known)}"
                )
        if known is not None:
            for source in self.fields:
                if source not in known and source.split(".", 1)[0] not in known:
                    raise ValueError(
                        f"fields: {source!r} cannot exist: the records' fields are {sorted(known)}"
                    )
        for name in self.drop:
            if name in self.fields:
                raise ValueError(f"drop: {name!r} is mapped in fields; a field is either mapped or dropped")
        if ENDED_AT in targets and not ({"playedAt", "durationMs"} & (set(targets) | set(self.constants))):
            raise ValueError(
                f"{targets[ENDED_AT]!r} maps to {ENDED_AT}, which needs playedAt or durationMs to derive the other"
            )
        return self

    def __eq__(self, other: object) -> bool:
        # The same mapping whatever was compiled from it (pydantic would compare the private cache too).
        return type(other) is type(self) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # mutable-looking dicts inside; never a dict key

    def targets(self) -> dict[str, str]:
        """Canonical target -> the source field it is filled from."""
        return {(s if isinstance(s, str) else s.to): src for src, s in self.fields.items()}

    def uses_zones(self) -> bool:
        return bool(self.timezone or self.timezone_field or self.timezone_lookup)


def has_v2_keys(m: SchemaMapping) -> bool:
    """Whether the mapping uses a key beyond v1's (fields as plain renames, timestamp_format,
    constants, numeric_strings, unmapped)."""
    return bool(
        m.timezone
        or m.timezone_field
        or m.timezone_lookup
        or m.null_values
        or m.records
        or m.envelope_fields
        or m.columns is not None
        or m.delimiter != ","
        or not m.header
        or m.where
        or m.required
        or m.drop
        or m.event_id
        or any(not isinstance(spec, str) for spec in m.fields.values())
    )
