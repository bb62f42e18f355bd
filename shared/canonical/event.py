"""The canonical POP event of the public contract, and the message published for each one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from shared.platform.encoding import iso_utc
from shared.platform.problems import FieldError, field_error

MAX_ID_LENGTH = 128
MAX_DURATION_MS = 24 * 3600 * 1000  # a play longer than a day is a unit mistake, not an ad
MAX_PLAY_COUNT = 1_000_000  # one row of an aggregated export (say an hour of one creative on one screen)

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
Impressions = Annotated[float, Field(ge=0, allow_inf_nan=False)]
DurationMs = Annotated[int, Field(ge=0, le=MAX_DURATION_MS)]


def _utc_timestamp(value: str) -> str:
    """Accept ISO 8601 with a timezone; store it as RFC 3339 UTC so equal instants compare equal."""
    # Hot path (most events): already UTC as "YYYY-MM-DDTHH:MM:SSZ" or "...SS.mmmZ". Parsing the
    # part before the Z checks it is a real date and time; the result is what iso_utc would write.
    if value[-1:] == "Z" and value[10:11] == "T":
        if len(value) == 20 and _parses(value[:19]):
            return value[:19] + ".000Z"
        if len(value) == 24 and value[19] == "." and _parses(value[:23]):
            return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PydanticCustomError(
            "timestamp",
            "Input should be an ISO 8601 timestamp with a timezone, e.g. 2025-01-27T10:00:00Z",
        )
    try:
        return iso_utc(parsed)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise PydanticCustomError(
            "timestamp_range", "Input should be a timestamp whose UTC time is within years 1 to 9999"
        ) from None


def _parses(naive: str) -> bool:
    try:
        datetime.fromisoformat(naive)
    except ValueError:
        return False
    return True


Timestamp = Annotated[str, AfterValidator(_utc_timestamp)]


class _Strict(BaseModel):
    # Strict: "30000" is not an integer and true is not a number. Unknown fields are rejected
    # rather than dropped, so a misspelt field is reported instead of silently lost.
    # Non-finite floats serialize as Infinity/NaN (not JSON), so the publisher can refuse them.
    model_config = ConfigDict(strict=True, extra="forbid", ser_json_inf_nan="constants")


class AgeBuckets(_Strict):
    total: Impressions | None = None
    male: Impressions | None = None
    female: Impressions | None = None


class ImpressionData(_Strict):
    ageBuckets: AgeBuckets | None = None


class PopEvent(_Strict):
    eventId: Identifier | None = None
    screenId: Identifier | None = None
    siteId: Identifier | None = None
    campaignId: Identifier | None = None
    creativeId: Identifier | None = None
    playedAt: Timestamp | None = None
    durationMs: DurationMs | None = None  # what actually played
    # The creative's planned (scheduled) length, for qualification rules that compare it with
    # durationMs (a share of the planned length; see docs/events.md).
    plannedDurationMs: DurationMs | None = None
    # An aggregated row stands for this many plays (absent: one). Downstream counts sum it.
    playCount: Annotated[int, Field(ge=1, le=MAX_PLAY_COUNT)] | None = None
    impressions: ImpressionData | None = None
    context: dict[str, Any] | None = None
    device: dict[str, Any] | None = None


class PopEventMessage(PopEvent):
    """The data of one `pop-events` message: the canonical event plus where it came from."""

    eventId: str
    tenantId: str
    source: Literal["api", "bulk"]
    ingestedAt: str
    jobId: str | None = None
    row: int | None = None


class EventsAccepted(BaseModel):
    message: str = "Events accepted"
    acceptedAt: str
    eventCount: int


class EventsBatch(_Strict):
    """A request body of the events endpoint, as its fast path reads it (see `shared.events.api`)."""

    events: Annotated[list[PopEvent], Field(min_length=1)]


def _inner(annotation: Any) -> Any:
    """The type of an optional field: X of `X | None`."""
    return next(arg for arg in get_args(annotation) if arg is not type(None))


def _paths(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, type) of every field of `model`, a nested model's own fields after it."""
    for name, info in model.model_fields.items():
        kind = _inner(info.annotation)
        yield prefix + name, kind
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _paths(kind, f"{prefix}{name}.")


def _is_container(kind: Any) -> bool:
    return (isinstance(kind, type) and issubclass(kind, BaseModel)) or get_origin(kind) is dict


# The canonical field names, read from PopEvent: the one list the mapping language and the reports name
# fields by, in the contract's order. infra/openapi.yaml's PopEvent and the events table's schema file are
# written by hand; tests/unit/test_events_validation.py checks them against it.
_PATHS = dict(_paths(PopEvent))
FIELDS = tuple(PopEvent.model_fields)  # top level: eventId, ..., impressions, context, device
ID_FIELDS = tuple(name for name in FIELDS if _PATHS[name] == Identifier)  # eventId, screenId, ..., creativeId
SCALAR_FIELDS = tuple(name for name in FIELDS if not _is_container(_PATHS[name]))  # eventId, ..., playCount
# durationMs, plannedDurationMs
DURATION_FIELDS = tuple(name for name in FIELDS if _PATHS[name] == DurationMs)
# durationMs, plannedDurationMs, playCount: integers, which a mapping may read from numeric strings
INTEGER_FIELDS = tuple(name for name in FIELDS if get_args(_PATHS[name])[:1] == (int,))
# impressions, impressions.ageBuckets, context, device
CONTAINER_FIELDS = tuple(path for path, kind in _PATHS.items() if _is_container(kind))
IMPRESSION_FIELDS = tuple(  # impressions.ageBuckets.total, .male, .female
    path for path, kind in _PATHS.items() if path.startswith("impressions.") and not _is_container(kind)
)

pop_event = TypeAdapter(PopEvent)
events_batch = TypeAdapter(EventsBatch)
pop_event_list = TypeAdapter(list[PopEvent])

_FRIENDLY = {
    "extra_forbidden": "Unknown field; custom data belongs in context or device",
    "model_type": "Input should be a JSON object",
    "model_attributes_type": "Input should be a JSON object",
    "dict_type": "Input should be a JSON object",
}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Turn a pydantic ValidationError on a list of events into `{index, field, message}` items.

    The location's first element is the event's index; the rest is a dotted field path.
    """
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = list(err["loc"])
        index = loc[0] if loc and isinstance(loc[0], int) else None
        if index is not None:
            del loc[0]
        # Drop pydantic's internal union/function tags so the path is what the caller wrote.
        path = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
        out.append(field_error(".".join(path) or None, _FRIENDLY.get(err["type"], err["msg"]), index=index))
    return out
