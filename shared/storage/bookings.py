"""Firestore documents of bookings and of the scheduled booking checks.

Collections:
- `bookings/{tenantId}:{bookingId}`: `BookingRecord`, a booking's current version;
- `bookings/{tenantId}:{bookingId}/versions/{version:06d}`: `BookingRecord`, every version (type-2
  history, as screens keep theirs);
- `darkScreens/{tenantId}:{screenId}`: `DarkScreenRecord`, the dark spell last announced as
  `screen.dark` for a screen (so a spell is announced once, however many checks see it);
- `bookingChecks/hourly`: `{hour: "YYYYMMDDHH", after, done, at}`, the hour whose booking checks
  run or ran, and where they stopped (the sweeper runs them at most once an hour, a time budget per
  tick, going on at the next tick of the same hour).

Everything is read by tenant-prefixed document id or with a tenantId equality filter: another
tenant's booking reads as an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from shared.platform import clients
from shared.records.bookings import BookingRecord, DarkScreenRecord
from shared.storage.firestore import bounded as _bounded
from shared.storage.firestore import in_transaction, unstorable

if TYPE_CHECKING:
    from google.cloud.firestore import CollectionReference, DocumentReference, Transaction

BOOKINGS, BOOKING_VERSIONS = "bookings", "versions"
DARK_SCREENS = "darkScreens"
BOOKING_CHECKS, HOURLY = "bookingChecks", "hourly"


class BookingWrite(Protocol):
    """What a change to a booking writes (shared.bookings.history.Transition)."""

    @property
    def closed(self) -> BookingRecord | None: ...

    @property
    def opened(self) -> BookingRecord: ...


def _doc_id(tenant_id: str, item_id: str) -> str:
    return f"{tenant_id}:{item_id}"


def _booking(tenant_id: str, booking_id: str) -> DocumentReference:
    return clients.firestore().collection(BOOKINGS).document(_doc_id(tenant_id, booking_id))


def _versions(tenant_id: str, booking_id: str) -> CollectionReference:
    versions: CollectionReference = _booking(tenant_id, booking_id).collection(BOOKING_VERSIONS)
    return versions


def version_id(version: int) -> str:
    return f"{version:06d}"


def booking_unstorable(body: dict[str, Any]) -> tuple[str, str] | None:
    """(where, why) if a booking body (as sent) cannot be stored as it is, else None."""
    return unstorable(body, "")


def get_booking(tenant_id: str, booking_id: str) -> BookingRecord | None:
    """A tenant's booking as it is now (its current version); None for another tenant's or an unknown id."""
    snap = _booking(tenant_id, booking_id).get(**_bounded())
    return BookingRecord.model_validate(snap.to_dict()) if snap.exists else None


def change_booking(
    tenant_id: str, booking_id: str, change: Callable[[BookingRecord | None], BookingWrite | None]
) -> tuple[BookingRecord | None, BookingWrite | None]:
    """In one transaction: read the current version, ask `change` what to write (None: nothing), write
    the closed version's validTo, the opened version and the new current document. Returns (the
    version read, what was written)."""
    ref = _booking(tenant_id, booking_id)

    def work(transaction: Transaction) -> tuple[BookingRecord | None, BookingWrite | None]:
        snap = ref.get(transaction=transaction, **_bounded())
        current = BookingRecord.model_validate(snap.to_dict()) if snap.exists else None
        write = change(current)
        if write is None:
            return current, None
        versions = ref.collection(BOOKING_VERSIONS)
        if write.closed is not None:
            transaction.update(
                versions.document(version_id(write.closed.version)), {"validTo": write.closed.validTo}
            )
        transaction.set(versions.document(version_id(write.opened.version)), write.opened.model_dump())
        transaction.set(ref, write.opened.model_dump())
        return current, write

    return in_transaction(work)


def list_bookings(
    tenant_id: str, filters: dict[str, Any], after: str | None, limit: int
) -> list[BookingRecord]:
    """Up to `limit` current bookings of a tenant in bookingId order, after bookingId `after`, whose
    fields equal `filters` (of campaignId, active): equality filters and document order only, served by
    Firestore's automatic single-field indexes."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    unknown = set(filters) - {"campaignId", "active"}
    if unknown:
        raise ValueError(f"bookings cannot be filtered on {', '.join(sorted(unknown))}")
    collection = clients.firestore().collection(BOOKINGS)
    query = collection.where(filter=FieldFilter("tenantId", "==", tenant_id))
    for name, value in filters.items():
        query = query.where(filter=FieldFilter(name, "==", value))
    query = query.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(_doc_id(tenant_id, after))})
    return [BookingRecord.model_validate(s.to_dict()) for s in query.limit(limit).stream(**_bounded())]


def booking_versions(tenant_id: str, booking_id: str, after: int | None, limit: int) -> list[BookingRecord]:
    """Up to `limit` versions of a booking, oldest first, after version `after`."""
    versions = _versions(tenant_id, booking_id)
    query = versions.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": versions.document(version_id(after))})
    return [BookingRecord.model_validate(s.to_dict()) for s in query.limit(limit).stream(**_bounded())]


def booking_document_id(record: BookingRecord) -> str:
    return _doc_id(record.tenantId, record.bookingId)


def active_bookings(after: str | None, limit: int) -> tuple[list[BookingRecord], str | None]:
    """A page of the bookings in force, of every tenant, in document order after the document id
    `after`: (the page, the id to page on from; None on the last page)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = clients.firestore().collection(BOOKINGS)
    query = collection.where(filter=FieldFilter("active", "==", True)).order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(after)})
    snaps = list(query.limit(limit).stream(**_bounded()))
    records = [BookingRecord.model_validate(s.to_dict()) for s in snaps]
    return records, (snaps[-1].id if len(snaps) == limit else None)


# -- scheduled checks -----------------------------------------------------------------------------


def claim_hour(hour: str, at: str) -> tuple[bool, str | None]:
    """Whether the booking checks of `hour` (YYYYMMDDHH) have work left, and the booking document id
    to go on after (None: from the start). One transaction reads the marker: a new hour starts over;
    the same hour goes on where the last run stopped, or has nothing left once done."""
    ref = clients.firestore().collection(BOOKING_CHECKS).document(HOURLY)

    def work(transaction: Transaction) -> tuple[bool, str | None]:
        snap = ref.get(transaction=transaction, **_bounded())
        marker = (snap.to_dict() or {}) if snap.exists else {}
        if marker.get("hour") == hour:
            return (False, None) if marker.get("done") else (True, marker.get("after"))
        transaction.set(ref, {"hour": hour, "after": None, "done": False, "at": at})
        return True, None

    return in_transaction(work)


def save_progress(hour: str, after: str | None, done: bool, at: str) -> None:
    """Where the checks of `hour` stopped (the last booking document checked), or that they are done."""
    ref = clients.firestore().collection(BOOKING_CHECKS).document(HOURLY)
    ref.set({"hour": hour, "after": after, "done": done, "at": at}, **_bounded())


def _dark(tenant_id: str, screen_id: str) -> DocumentReference:
    return clients.firestore().collection(DARK_SCREENS).document(_doc_id(tenant_id, screen_id))


def get_dark_screen(tenant_id: str, screen_id: str) -> DarkScreenRecord | None:
    snap = _dark(tenant_id, screen_id).get(**_bounded())
    return DarkScreenRecord.model_validate(snap.to_dict()) if snap.exists else None


def put_dark_screen(record: DarkScreenRecord) -> None:
    _dark(record.tenantId, record.screenId).set(record.model_dump(), **_bounded())
