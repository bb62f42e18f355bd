"""A screen as a tenant registers it: the fields of `PUT /coatro/v1/pop/screens/{screenId}`, checked.

`parse_screen` turns a request body into `ScreenFields` or a list of `{index, field, message}` items
naming every bad field: pydantic's checks (strict types, bounds, unknown keys refused), the IANA zone,
the OpenOOH venue type and the ISO country, and the impression schedule's 500 rule, which names the
weekday and hour of each large value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from shared.canonical.event import MAX_DURATION_MS, MAX_ID_LENGTH
from shared.platform import timezones
from shared.platform.problems import FieldError, field_error
from shared.screens import reference

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HOURS = 24
LARGE_MULTIPLIER = (
    500  # a multiplier of 500 or more needs allowLarge: more often a unit mistake than an audience
)
MAX_MULTIPLIER = 1_000_000_000
MAX_SCREENS = 100_000  # faces of one screen record (a large network's single sign is a few dozen)
# Set by the server: a body may not give them (screenId may repeat the path's).
SERVER_FIELDS = ("version", "validFrom", "validTo", "activeTo", "updatedAt")


def _zone(value: str) -> str:
    if not timezones.is_iana_zone(value):
        raise PydanticCustomError(
            "time_zone", "unknown time zone {value}; " + timezones.HINT, {"value": repr(value[:60])}
        )
    return value


def _venue_type(value: int) -> int:
    if value not in reference.venue_types():
        raise PydanticCustomError(
            "venue_type",
            "{value} is not a venue type of the OpenOOH Venue Taxonomy {version} (an enumeration id such as 1, 101 or 10101)",
            {"value": value, "version": reference.taxonomy_version()},
        )
    return value


def _source_type(value: int) -> int:
    if value not in (1, 2, 3):
        raise PydanticCustomError(
            "source_type", "Input should be 1, 2 or 3 (AdCOM 1.0 DOOH multiplier source)"
        )
    return value


def _country(value: str) -> str:
    if value not in reference.countries():
        raise PydanticCustomError(
            "country",
            "{value} is not an ISO 3166-1 alpha-2 country code (two capital letters, such as GB or US)",
            {"value": repr(value[:60])},
        )
    return value


Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Multiplier = Annotated[float, Field(ge=0, le=MAX_MULTIPLIER, allow_inf_nan=False)]
ScreenId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]


class _Strict(BaseModel):
    # As the canonical event: "3" is not an integer, true is not a number, an unknown key is refused.
    model_config = ConfigDict(strict=True, extra="forbid")


class Location(_Strict):
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Audience(_Strict):
    """Impressions per play by weekday and hour: the multiplier OpenRTB 2.6 carries in `Imp.qty`
    (`multiplier`, `sourcetype`, `vendor`). `sourceType` is AdCOM 1.0's list "DOOH Multiplier
    Measurement Source Types" (1 measurement vendor, 2 publisher, 3 exchange), `vendor` who measured."""

    # 7 weekdays (Monday first) x 24 hours (0-23) of multipliers >= 0.
    impressionSchedule: (
        Annotated[
            list[Annotated[list[Multiplier], Field(min_length=HOURS, max_length=HOURS)]],
            Field(min_length=len(WEEKDAYS), max_length=len(WEEKDAYS)),
        ]
        | None
    ) = None
    allowLarge: bool = False
    sourceType: Annotated[int, AfterValidator(_source_type)] | None = None  # strict: true is not 1
    vendor: Text | None = None


class Qualification(_Strict):
    """What a play needs to count: at least `minDurationMs` on screen, and (when given) at least
    `minShareOfPlanned` of its planned duration."""

    minDurationMs: Annotated[int, Field(ge=0, le=MAX_DURATION_MS)] = 1000
    minShareOfPlanned: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


class ScreenFields(_Strict):
    """What a tenant says about a screen (everything but the server-set fields)."""

    screenId: ScreenId | None = None  # the path's; only checked, never stored from the body
    name: Text | None = None
    timeZone: Annotated[str, StringConstraints(max_length=64), AfterValidator(_zone)]
    venueType: Annotated[int, AfterValidator(_venue_type)] | None = None
    location: Location | None = None
    address: LongText | None = None
    city: Text | None = None
    region: Text | None = None
    country: Annotated[str, AfterValidator(_country)] | None = None
    market: Text | None = None
    screens: Annotated[int, Field(ge=1, le=MAX_SCREENS)] = 1
    audience: Audience | None = None
    qualification: Qualification = Field(default_factory=Qualification)

    def stored(self) -> dict[str, Any]:
        """The fields as a version keeps them: JSON, defaults filled in, no screenId (the path's)."""
        return self.model_dump(mode="json", exclude={"screenId"})


_FRIENDLY = {
    "extra_forbidden": "Unknown field",
    "model_type": "Input should be a JSON object",
    "model_attributes_type": "Input should be a JSON object",
    "missing": "Field required",
}


def location_path(loc: Sequence[int | str]) -> str | None:
    """A pydantic location as the caller writes it: `audience.impressionSchedule[2][14]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or "[" in part:  # pydantic's internal tags
            continue
        else:
            out += f".{part}" if out else part
    return out or None


def large_values(body: dict[str, Any]) -> list[FieldError]:
    """Every multiplier of 500 or more in a body's impression schedule, unless allowLarge is true,
    each named with its weekday and hour. Read from the body as sent, so the refusal comes with any
    other bad field."""
    audience = body.get("audience")
    if not isinstance(audience, dict) or audience.get("allowLarge") is True:
        return []
    schedule = audience.get("impressionSchedule")
    if not isinstance(schedule, list):
        return []
    errors = []
    for day, hours in enumerate(schedule[: len(WEEKDAYS)]):
        if not isinstance(hours, list):
            continue
        for hour, value in enumerate(hours[:HOURS]):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= LARGE_MULTIPLIER:
                where = f"audience.impressionSchedule[{day}][{hour}]"
                errors.append(
                    field_error(
                        where,
                        f"{where} ({WEEKDAYS[day]} {hour:02d}:00) is {value:g}; values of "
                        f"{LARGE_MULTIPLIER} or more need allowLarge",
                    )
                )
    return errors


def parse_screen(screen_id: str, body: Any) -> ScreenFields | list[FieldError]:
    """The screen of a request body, or every problem with it."""
    if not isinstance(body, dict):
        return [field_error(None, "The screen must be a JSON object")]
    errors: list[FieldError] = []
    for name in SERVER_FIELDS:
        if name in body:
            errors.append(field_error(name, f"{name} is set by the server; leave it out"))
    sent = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    if "screenId" in sent and sent["screenId"] != screen_id:
        errors.append(field_error("screenId", f"The body's screenId is not the path's {screen_id!r}"))
    fields: ScreenFields | None = None
    try:
        fields = ScreenFields.model_validate(sent)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_context=False, include_input=False):
            if err["loc"] == ("screenId",) and "screenId" in sent and sent["screenId"] != screen_id:
                continue  # already said
            errors.append(field_error(location_path(err["loc"]), _FRIENDLY.get(err["type"], err["msg"])))
    errors += large_values(sent)
    if errors or fields is None:
        return errors
    return fields
