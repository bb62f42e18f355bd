"""Request bodies of the bulk API (the upload, ingest and schema endpoints): parsed into their models,
and an ingest's or a preview's metadata checked, each failure a 400 naming the field."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.canonical.event import field_errors
from shared.platform import timezones
from shared.platform.problems import field_error, validation_failed
from shared.platform.settings import get_settings
from shared.storage import firestore

Body = TypeVar("Body", bound=BaseModel)


def parse_body(model: type[Body], body: Any) -> Body:
    if not isinstance(body, dict):
        raise validation_failed(
            "The body must be a JSON object.",
            [field_error(None, "Input should be a JSON object")],
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_failed("The request is invalid.", field_errors(exc)) from None


def check_metadata(metadata: dict[str, Any] | None) -> None:
    """A 400 naming what an ingest's (or a preview's) metadata holds that a job could not keep as sent:
    more than the size limit, a value Firestore cannot store, a timezone that is no IANA zone name."""
    if metadata is None:
        return
    limit = get_settings().max_metadata_bytes
    if len(json.dumps(metadata)) > limit:
        raise validation_failed(
            "The request is invalid.",
            [field_error("metadata", f"metadata is limited to {limit} bytes of JSON")],
        )
    if problem := firestore.unstorable(metadata, "metadata"):
        where, why = problem
        raise validation_failed("The request is invalid.", [field_error(where, f"{where} {why}")])
    zone = metadata.get("timezone")
    if zone is not None and not timezones.is_iana_zone(zone):
        raise validation_failed(
            "The request is invalid.",
            [
                field_error(
                    "metadata.timezone",
                    f"unknown time zone {str(zone)[:60]!r}; use an IANA name such as Europe/London or UTC",
                )
            ],
        )
