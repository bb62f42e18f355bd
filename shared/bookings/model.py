"""A booking as a tenant records it: the fields of `PUT /coatro/v1/pop/bookings/{bookingId}`, checked.

`parse_booking` turns a request body into `BookingFields` or a list of `{index, field, message}` items
naming every bad field: pydantic's checks (strict types, bounds, unknown keys refused), the dates,
the flight's zone (IANA, or `screen`: each screen's own), the targets (screen ids or a selector, one of
the two), the ISO country of a selector, and a daily cap that could never
reach the goal within the flight.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.canonical.event import MAX_ID_LENGTH
from shared.platform import timezones
from shared.platform.problems import FieldError, field_error

SCREEN_ZONE = "screen"  # the flight's days are each screen's own local days
MAX_FLIGHT_DAYS = 366
MAX_TARGET_SCREENS = 5_000  # a booking document stays far below Firestore's 1 MiB
MAX_CREATIVES = 1_000
MAX_QUANTITY = 10**12
DEFAULT_UNDERDELIVERY_THRESHOLD = 0.9
METRICS = ("plays", "qualifiedPlays", "impressions")
# Set by the server: a body may not give them (bookingId may repeat the path's).
SERVER_FIELDS = ("version", "validFrom", "validTo", "cancelledAt", "updatedAt")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)  # as reports (shared/reports/params.py)


def _day(value: str) -> str:
    if _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None and FIRST_DAY <= day <= LAST_DAY:
            return value
    raise PydanticCustomError("date", "Input should be a date, YYYY-MM-DD, from 1900-01-01 to 2999-12-31")


def _zone(value: str) -> str:
    if value != SCREEN_ZONE and not timezones.is_iana_zone(value):
        raise PydanticCustomError(
            "time_zone",
            "unknown time zone {value}; expected an IANA time zone name such as Europe/London, "
            "or screen (each screen's own zone)",
            {"value": repr(value[:60])},
        )
    return value


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes from tzdata's iso3166.tab, as the screen registry reads them
    (shared/screens/reference.py: a domain does not import another, so the few lines are repeated)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text(encoding="utf-8")
    return frozenset(
        line.split("\t", 1)[0] for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _country(value: str) -> str:
    if value not in countries():
        raise PydanticCustomError(
            "country",
            "{value} is not an ISO 3166-1 alpha-2 country code (two capital letters, such as GB or US)",
            {"value": repr(value[:60])},
        )
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("unique", "Each id at most once")
    return values


Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
Day = Annotated[str, AfterValidator(_day)]


class _Strict(BaseModel):
    # As screens: "3" is not an integer, true is not a number, an unknown key is refused.
    model_config = ConfigDict(strict=True, extra="forbid")


class Flight(_Strict):
    """From `start` to `end` (both included), local days in `timeZone`, or in each screen's zone."""

    start: Day
    end: Day
    timeZone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_zone)]

    @model_validator(mode="after")
    def _ordered(self) -> Flight:
        days = (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days + 1
        if days < 1:
            raise PydanticCustomError("flight", "flight.end is before flight.start")
        if days > MAX_FLIGHT_DAYS:
            raise PydanticCustomError(
                "flight", "A flight lasts at most {days} days", {"days": MAX_FLIGHT_DAYS}
            )
        return self

    def days(self) -> int:
        return (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days + 1


class Selector(_Strict):
    """Screens whose version at the time of each play has these attributes (all given ones)."""

    # An OpenOOH enumeration id; one no screen has simply selects nothing (the registry checks ids).
    venueType: Annotated[int, Field(ge=1, le=999_999)] | None = None
    market: Text | None = None
    country: Annotated[str, AfterValidator(_country)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Selector:
        if self.venueType is None and self.market is None and self.country is None:
            raise PydanticCustomError("selector", "A selector needs venueType, market or country")
        return self


class Targets(_Strict):
    """Either a list of screen ids or a selector."""

    screenIds: (
        Annotated[list[Id], Field(min_length=1, max_length=MAX_TARGET_SCREENS), AfterValidator(_unique)]
        | None
    ) = None
    selector: Selector | None = None

    @model_validator(mode="after")
    def _one(self) -> Targets:
        if (self.screenIds is None) == (self.selector is None):
            raise PydanticCustomError("targets", "Give either targets.screenIds or targets.selector")
        return self


class Goal(_Strict):
    metric: Literal["plays", "qualifiedPlays", "impressions"]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    dailyCap: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] | None = None


class BookingFields(_Strict):
    """What a tenant says about a booking (everything but the server-set fields)."""

    bookingId: Id | None = None  # the path's; only checked, never stored from the body
    campaignId: Id
    creativeIds: (
        Annotated[list[Id], Field(min_length=1, max_length=MAX_CREATIVES), AfterValidator(_unique)] | None
    ) = None
    advertiser: Text
    flight: Flight
    targets: Targets
    goal: Goal
    underdeliveryThreshold: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = (
        DEFAULT_UNDERDELIVERY_THRESHOLD
    )

    def stored(self) -> dict[str, Any]:
        """The fields as a version keeps them: JSON, defaults filled in, no bookingId (the path's)."""
        return self.model_dump(mode="json", exclude={"bookingId"}, exclude_none=True)


_FRIENDLY = {
    "extra_forbidden": "Unknown field",
    "model_type": "Input should be a JSON object",
    "model_attributes_type": "Input should be a JSON object",
    "missing": "Field required",
}


def location_path(loc: Sequence[int | str]) -> str | None:
    """A pydantic location as the caller writes it: `targets.screenIds[2]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or "[" in part:  # pydantic's internal tags
            continue
        else:
            out += f".{part}" if out else part
    return out or None


def _cap_reaches_goal(fields: BookingFields) -> list[FieldError]:
    cap = fields.goal.dailyCap
    if cap is not None and cap * fields.flight.days() < fields.goal.quantity:
        return [
            field_error(
                "goal.dailyCap",
                f"goal.dailyCap {cap} x {fields.flight.days()} flight days is less than goal.quantity "
                f"{fields.goal.quantity}: the goal could never be reached",
            )
        ]
    return []


def parse_booking(booking_id: str, body: Any) -> BookingFields | list[FieldError]:
    """The booking of a request body, or every problem with it."""
    if not isinstance(body, dict):
        return [field_error(None, "The booking must be a JSON object")]
    errors: list[FieldError] = []
    for name in SERVER_FIELDS:
        if name in body:
            errors.append(field_error(name, f"{name} is set by the server; leave it out"))
    sent = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    mismatch = "bookingId" in sent and sent["bookingId"] != booking_id
    if mismatch:
        errors.append(field_error("bookingId", f"The body's bookingId is not the path's {booking_id!r}"))
    fields: BookingFields | None = None
    try:
        fields = BookingFields.model_validate(sent)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_context=False, include_input=False):
            if err["loc"] == ("bookingId",) and mismatch:
                continue  # already said
            errors.append(field_error(location_path(err["loc"]), _FRIENDLY.get(err["type"], err["msg"])))
    if fields is not None:
        errors += _cap_reaches_goal(fields)
    if errors or fields is None:
        return errors
    return fields
