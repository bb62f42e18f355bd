"""Firestore: the one module that names collections and fields. Typed models in, typed models out.

Documents:
- `apiKeys/{sha256hex}`: `ApiKeyRecord`
- `oauthClients/{clientId}`: `OAuthClientRecord` (the secret only as a salted hash)
- `tokenThrottles/{sha256 of a client id}`: `TokenThrottleRecord` (failed token requests; TTL `expireAt`)
- `schemas/{tenantId}:{version}`: `{tenantId, mapping}`, the mapping as plain data (`shared.bulk.schemas` reads it)
- `files/{fileId}`: `FileRecord` (its `plan`, a `FilePlan`, embedded)
- `jobs/{jobId}`: `JobRecord`
- `jobs/{jobId}/chunks/{index:06d}`: `ChunkResult`, written once: a chunk's commit point
- `screens/{tenantId}:{screenId}`: `ScreenRecord`, a screen's current version, and `timeZones` (every zone it has had)
- `screens/{tenantId}:{screenId}/versions/{version:06d}`: `ScreenRecord`, every version (type-2 history);
  one a PUT or DELETE wrote has `exportPending: true` until its row is in BigQuery's `screens` table
  (shared/screens/sync.py)
- `screenExports/{auto id}`: `{tenantId, versions: [{screenId, version}], createdAt}`, the versions one
  import batch opened, until their rows are in the `screens` table (`ScreenExport`)

Changes are given as model attribute names (`update_job(job_id, status="processing")`) and checked
against the model, so a misspelt field fails here instead of writing a field nobody reads. Every
read and write is bounded by `firestore_timeout_seconds` (retries included): a Firestore that does
not answer becomes an exception the HTTP layer turns into a 503, not a request that hangs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from google.api_core import exceptions, retry
from pydantic import BaseModel

from shared.platform import clients
from shared.platform.encoding import OutOfRange, member_path
from shared.platform.settings import get_settings
from shared.records.auth import ApiKeyRecord, OAuthClientRecord, TokenThrottleRecord
from shared.records.jobs import ChunkResult, ChunkTotals, FileRecord, JobRecord, JobState
from shared.records.screens import ScreenRecord
from shared.storage.protocols import Contention

API_KEYS, SCHEMAS, FILES, JOBS, CHUNKS = "apiKeys", "schemas", "files", "jobs", "chunks"
OAUTH_CLIENTS = "oauthClients"
SCREENS, SCREEN_VERSIONS = "screens", "versions"
# The outbox of the BigQuery mirror: set on a version document in the transaction that writes it,
# removed once its row is in the `screens` table. Only a version document keeps it.
EXPORT_PENDING = "exportPending"
# The outbox of an import batch: one document naming every version the batch opened (its versions are
# not marked), written in the batch's transaction, deleted once their rows are in the `screens` table.
SCREEN_EXPORTS = "screenExports"
TOKEN_THROTTLES = "tokenThrottles"
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

if TYPE_CHECKING:
    from google.cloud.firestore_v1.collection import CollectionReference
    from google.cloud.firestore_v1.document import DocumentReference
    from google.cloud.firestore_v1.transaction import Transaction


MAX_BATCH_WRITES = 500  # Firestore's limit of writes in one batch or transaction
MAX_NESTING = 16  # Firestore allows 20 levels of maps and arrays in a document; a job holds metadata at 1
MAX_DOCUMENT_BYTES = 1_048_576  # Firestore's limit for one document, counted as `stored_size` counts
_INT64 = range(-(2**63), 2**63)


def unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """(where, why) if Firestore cannot store a caller's JSON value exactly as it is, else None.

    Firestore's limits (https://firebase.google.com/docs/firestore/quotas): no array directly in an
    array, map keys non-empty and not of the reserved form `__name__`, integers within 64 bits, text
    in valid UTF-8 (a lone surrogate is not), and a bounded depth. A number a double cannot hold
    (`encoding.OutOfRange`: 1e400 would be stored as infinity, 1e-400 as 0) is refused as well.
    `path` names the value in the message ("" for a whole body: its members are named bare).
    """
    return _unstorable(value, path, 0)


def _unstorable(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    if isinstance(value, str):
        return None if _is_text(value) else (path, "holds a lone UTF-16 surrogate, which is not text")
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value in _INT64 else (path, "is an integer beyond 64 bits; send it as a string")
    if isinstance(value, float):
        if isinstance(value, OutOfRange) or not math.isfinite(value):
            size = "large" if value != 0 else "small"
            return path, f"is a number too {size} for a double (64-bit floating point); send it as a string"
        return None
    if not isinstance(value, (dict, list)):
        return None
    if depth >= MAX_NESTING:
        return path, f"nests more than {MAX_NESTING} levels of objects and arrays"
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, list):
                return (
                    f"{path}[{i}]",
                    "is an array directly inside an array, which cannot be stored; wrap it in an object",
                )
            if found := _unstorable(item, f"{path}[{i}]", depth + 1):
                return found
        return None
    for key, item in value.items():
        where = member_path(path, key if _is_text(key) else ascii(key))
        if not key:
            return path, "has an empty key"
        if not _is_text(key):
            return where, "is a key holding a lone UTF-16 surrogate, which is not text"
        if key.startswith("__") and key.endswith("__"):
            return where, "is a reserved name (keys of the form __name__ cannot be stored)"
        if found := _unstorable(item, where, depth + 1):
            return found
    return None


def stored_size(value: Any) -> int:
    """Bytes Firestore counts for a value (https://firebase.google.com/docs/firestore/storage-size):
    text is its UTF-8 bytes + 1, a number or timestamp 8, true/false/null 1, a map its names (+1 each)
    and values, an array its values. A document is its name, its fields and 32 bytes."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, dict):
        return sum(stored_size(str(k)) + stored_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(stored_size(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 8


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bounded() -> dict[str, Any]:
    seconds = get_settings().firestore_timeout_seconds
    # Aborted too: a single read or write aborted by a transaction's lock is safe to repeat.
    transient = retry.if_exception_type(
        exceptions.InternalServerError,
        exceptions.TooManyRequests,
        exceptions.ServiceUnavailable,
        exceptions.Aborted,
    )
    return {
        "retry": retry.Retry(predicate=transient, initial=0.1, maximum=2.0, timeout=seconds),
        "timeout": seconds,
    }


def _changes(model: type[BaseModel], changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(model.model_fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    return {k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in changes.items()}


def _update(
    ref: DocumentReference, model: type[BaseModel], transaction: Transaction | None, changes: dict[str, Any]
) -> None:
    fields = _changes(model, changes)
    if transaction is None:
        ref.update(fields, **_bounded())
    else:
        transaction.update(ref, fields)


def _read(ref: DocumentReference, model: type[M], transaction: Transaction | None = None) -> M | None:
    snap = ref.get(transaction=transaction, **_bounded())
    return model.model_validate(snap.to_dict()) if snap.exists else None


def in_transaction(work: Callable[[Any], T]) -> T:
    """Run `work(transaction)` in a Firestore transaction (retried on contention), return its result;
    Contention when it still could not commit."""
    from google.cloud import firestore

    try:
        result: T = firestore.transactional(work)(clients.firestore().transaction())
        return result
    except exceptions.Aborted as exc:
        raise Contention(str(exc)) from exc
    except ValueError as exc:  # the library's "Failed to commit transaction in N attempts"
        if isinstance(exc.__cause__, exceptions.Aborted):
            raise Contention(str(exc)) from exc
        raise


# For the storage modules of other domains (bookings, exports, notify, rollups, ...): the same bounds and reads.
bounded = _bounded
read = _read


# -- API keys -------------------------------------------------------------------------------------


def _api_key(digest: str) -> DocumentReference:
    return clients.firestore().collection(API_KEYS).document(digest)


def get_api_key(digest: str) -> ApiKeyRecord | None:
    return _read(_api_key(digest), ApiKeyRecord)


def put_api_key(digest: str, record: ApiKeyRecord) -> None:
    _api_key(digest).set(record.model_dump(), **_bounded())


def revoke_api_key(digest: str, at: str) -> bool:
    """Mark a key revoked; False if no such key exists."""
    if get_api_key(digest) is None:
        return False
    _api_key(digest).update(_changes(ApiKeyRecord, {"revokedAt": at}), **_bounded())
    return True


# -- OAuth2 clients ------------------------------------------------------------------------------


def _oauth_client(client_id: str) -> DocumentReference:
    return clients.firestore().collection(OAUTH_CLIENTS).document(client_id)


def get_oauth_client(client_id: str) -> OAuthClientRecord | None:
    return _read(_oauth_client(client_id), OAuthClientRecord)


def create_oauth_client(client_id: str, record: OAuthClientRecord) -> None:
    """Store a new client; an existing id is an error (ids are random, so this never happens by chance)."""
    _oauth_client(client_id).create(record.model_dump(), **_bounded())


def revoke_oauth_client(client_id: str, at: str) -> bool:
    """Mark a client revoked; False if no such client exists."""
    if get_oauth_client(client_id) is None:
        return False
    _oauth_client(client_id).update(_changes(OAuthClientRecord, {"revokedAt": at}), **_bounded())
    return True


# -- token endpoint throttling -------------------------------------------------------------------


def _token_throttle(key: str) -> DocumentReference:
    return clients.firestore().collection(TOKEN_THROTTLES).document(key)


def get_token_throttle(key: str) -> TokenThrottleRecord | None:
    return _read(_token_throttle(key), TokenThrottleRecord)


def update_token_throttle(
    key: str, change: Callable[[TokenThrottleRecord | None], TokenThrottleRecord]
) -> TokenThrottleRecord:
    """Replace a throttle record by `change(current)` in a transaction (concurrent failures all count)."""
    ref = _token_throttle(key)

    def work(transaction: Transaction) -> TokenThrottleRecord:
        record = change(_read(ref, TokenThrottleRecord, transaction))
        transaction.set(ref, record.model_dump())
        return record

    return in_transaction(work)


def delete_token_throttle(key: str) -> None:
    _token_throttle(key).delete(**_bounded())


# -- schema mappings ------------------------------------------------------------------------------


def _schema(tenant_id: str, version: str) -> DocumentReference:
    return clients.firestore().collection(SCHEMAS).document(f"{tenant_id}:{version}")


def get_schema(tenant_id: str, version: str) -> dict[str, Any] | None:
    """A tenant's mapping as registered (plain data; `shared.bulk.schemas.load_mapping` reads it)."""
    snap = _schema(tenant_id, version).get(**_bounded())
    return snap.get("mapping") if snap.exists else None


def _schema_document(tenant_id: str, mapping: dict[str, Any]) -> dict[str, Any]:
    return {"tenantId": tenant_id, "mapping": mapping}


def schema_unstorable(tenant_id: str, version: str, mapping: dict[str, Any]) -> tuple[str, str] | None:
    """(where, why) if the document `create_schema` would write cannot be stored, else None; `where`
    names the mapping's key ("constants", "fields.a", ...), not the document's."""
    stored = _schema_document(tenant_id, mapping)
    if found := unstorable(mapping, ""):
        return found
    name = f"{SCHEMAS}/{tenant_id}:{version}"
    size = stored_size(stored) + sum(stored_size(part) for part in name.split("/")) + 16 + 32
    if size > MAX_DOCUMENT_BYTES:
        key, largest = max(((k, stored_size(v)) for k, v in mapping.items()), key=lambda kv: kv[1])
        return key, (
            f"makes the mapping {size} bytes as stored, over Firestore's 1 MiB for one document "
            f"({key} takes {largest}; each number counts 8 bytes, each text its UTF-8 bytes + 1)"
        )
    return None


def create_schema(tenant_id: str, version: str, mapping: dict[str, Any]) -> bool:
    """Store a tenant's mapping (plain data, as `SchemaMapping.model_dump(mode="json")` gives it);
    False if that version exists."""
    try:
        _schema(tenant_id, version).create(_schema_document(tenant_id, mapping), **_bounded())
    except exceptions.AlreadyExists:
        return False
    return True


def schema_versions(tenant_id: str) -> list[str]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(SCHEMAS)
        .where(filter=FieldFilter("tenantId", "==", tenant_id))
        .select([])
    )
    return sorted(snap.id.split(":", 1)[1] for snap in query.stream(**_bounded()))


# -- files ----------------------------------------------------------------------------------------


def _file(file_id: str) -> DocumentReference:
    return clients.firestore().collection(FILES).document(file_id)


def create_file(record: FileRecord) -> None:
    _file(record.fileId).create(record.model_dump(), **_bounded())


def get_file(file_id: str, transaction: Transaction | None = None) -> FileRecord | None:
    return _read(_file(file_id), FileRecord, transaction)


def update_file(file_id: str, transaction: Transaction | None = None, **changes: Any) -> None:
    _update(_file(file_id), FileRecord, transaction, changes)


# -- jobs -----------------------------------------------------------------------------------------


def _job(job_id: str) -> DocumentReference:
    return clients.firestore().collection(JOBS).document(job_id)


def create_job(record: JobRecord) -> bool:
    """Create a job document once (one atomic write that fails if it exists); False if it existed."""
    try:
        _job(record.jobId).create(record.model_dump(), **_bounded())
    except exceptions.AlreadyExists:
        return False
    return True


def get_job(job_id: str, transaction: Transaction | None = None) -> JobRecord | None:
    return _read(_job(job_id), JobRecord, transaction)


def update_job(job_id: str, transaction: Transaction | None = None, **changes: Any) -> None:
    _update(_job(job_id), JobRecord, transaction, changes)


def jobs_in_states(states: tuple[JobState, ...], limit: int, after: str | None = None) -> list[JobRecord]:
    """Up to `limit` jobs whose status is one of `states`, in jobId order, after the job `after` if
    given (a page; served by the automatic single-field index, which orders by document name)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    jobs = clients.firestore().collection(JOBS)
    query = jobs.where(filter=FieldFilter("status", "in", list(states))).order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": jobs.document(after)})
    query = query.limit(limit)
    return [JobRecord.model_validate(snap.to_dict()) for snap in query.stream(**_bounded())]


def jobs_to_announce(limit: int, after: str | None = None) -> list[JobRecord]:
    """Up to `limit` jobs whose webhook event waits to be published (`noticePending`), in jobId order
    after `after` (the automatic single-field index)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    jobs = clients.firestore().collection(JOBS)
    query = jobs.where(filter=FieldFilter("noticePending", "==", True)).order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": jobs.document(after)})
    return [JobRecord.model_validate(snap.to_dict()) for snap in query.limit(limit).stream(**_bounded())]


# -- chunk results --------------------------------------------------------------------------------


def _chunks(job_id: str) -> CollectionReference:
    chunks: CollectionReference = _job(job_id).collection(CHUNKS)
    return chunks


def chunk_id(index: int) -> str:
    return f"{index:06d}"


def chunk_recorded(job_id: str, index: int) -> bool:
    return _chunks(job_id).document(chunk_id(index)).get(**_bounded()).exists


def record_chunk(job_id: str, result: ChunkResult) -> bool:
    """Write a chunk's result once (its commit point); False if another delivery already did."""
    try:
        _chunks(job_id).document(chunk_id(result.index)).create(result.model_dump(), **_bounded())
    except exceptions.AlreadyExists:
        return False
    return True


def chunk_totals(job_id: str) -> ChunkTotals:
    """Sums over a job's chunk results (Firestore aggregation): no hot counter document."""
    agg = (
        _chunks(job_id)
        .count(alias="chunks")
        .sum("processedRows", alias="processed")
        .sum("errorRows", alias="errors")
        .sum("skippedRows", alias="skipped")
    )
    values = {r.alias: r.value for r in agg.get(**_bounded())[0]}
    return ChunkTotals(
        int(values["chunks"]),
        int(values["processed"] or 0),
        int(values["errors"] or 0),
        int(values["skipped"] or 0),
    )


def chunks_with_errors(job_id: str, from_chunk: str | None, limit: int) -> Iterator[tuple[str, ChunkResult]]:
    """A job's chunk results that hold errors, in chunk order, starting at chunk id `from_chunk`."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    chunks = _chunks(job_id)
    query = chunks.where(filter=FieldFilter("hasErrors", "==", True)).order_by("__name__")
    if from_chunk:
        query = query.start_at({"__name__": chunks.document(from_chunk)})
    for snap in query.limit(limit).stream(**_bounded()):
        yield snap.id, ChunkResult.model_validate(snap.to_dict())


# -- screens --------------------------------------------------------------------------------------


class ScreenWrite(Protocol):
    """What a change to a screen writes (shared.screens.history.Transition): the current version closed
    (None for a new screen) and the next one."""

    @property
    def closed(self) -> ScreenRecord | None: ...

    @property
    def opened(self) -> ScreenRecord: ...


def _screen_id(tenant_id: str, screen_id: str) -> str:
    return f"{tenant_id}:{screen_id}"


def _screen(tenant_id: str, screen_id: str) -> DocumentReference:
    return clients.firestore().collection(SCREENS).document(_screen_id(tenant_id, screen_id))


def _screen_versions(tenant_id: str, screen_id: str) -> CollectionReference:
    versions: CollectionReference = _screen(tenant_id, screen_id).collection(SCREEN_VERSIONS)
    return versions


def screen_version_id(version: int) -> str:
    return f"{version:06d}"


# Firestore stores no array directly inside an array, so a screen's 7 x 24 impression schedule is kept
# as 7 maps {"hours": [24 multipliers]}; the records and the API see the plain 7 x 24 array.
_SCHEDULE_ROW = "hours"


def _encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    audience = fields.get("audience")
    if not isinstance(audience, dict) or not isinstance(audience.get("impressionSchedule"), list):
        return fields
    rows = [{_SCHEDULE_ROW: row} if isinstance(row, list) else row for row in audience["impressionSchedule"]]
    return {**fields, "audience": {**audience, "impressionSchedule": rows}}


def _decode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    audience = fields.get("audience")
    if not isinstance(audience, dict) or not isinstance(audience.get("impressionSchedule"), list):
        return fields
    rows = [row[_SCHEDULE_ROW] for row in audience["impressionSchedule"]]
    return {**fields, "audience": {**audience, "impressionSchedule": rows}}


def _screen_document(record: ScreenRecord, marked: bool = True) -> dict[str, Any]:
    """A version's document, marked as not yet in BigQuery (EXPORT_PENDING) unless `marked` is False:
    whoever writes a version writes its outbox entry (this mark, or a SCREEN_EXPORTS document naming
    it) in the same transaction or batch, so no version is left unmirrored. The current document
    (`_current_document`) does not keep the mark."""
    document = record.model_dump()
    document["fields"] = _encode_fields(record.fields)
    if marked:
        document[EXPORT_PENDING] = True
    return document


def _current_document(record: ScreenRecord) -> dict[str, Any]:
    return _screen_document(record, marked=False)


def _screen_record(document: dict[str, Any] | None) -> ScreenRecord:
    record = ScreenRecord.model_validate(document)
    return record.model_copy(update={"fields": _decode_fields(record.fields)})


def _read_screen(ref: DocumentReference, transaction: Transaction | None = None) -> ScreenRecord | None:
    snap = ref.get(transaction=transaction, **_bounded())
    return _screen_record(snap.to_dict()) if snap.exists else None


def get_screen(tenant_id: str, screen_id: str) -> ScreenRecord | None:
    """A tenant's screen as it is now (its current version); None for another tenant's or an unknown id."""
    return _read_screen(_screen(tenant_id, screen_id))


def change_screen(
    tenant_id: str,
    screen_id: str,
    change: Callable[[ScreenRecord | None], ScreenWrite | None],
) -> tuple[ScreenRecord | None, ScreenWrite | None]:
    """In one transaction: read the current version, ask `change` what to write (None: nothing), write
    the closed version, the opened one and the new current document. Concurrent changes are serialised
    by the transaction, so no version is lost. The opened version is marked EXPORT_PENDING in the same
    transaction (the BigQuery mirror's outbox; `shared.screens.sync` exports it once this commits).
    Returns (the version read, what was written)."""
    ref = _screen(tenant_id, screen_id)

    def work(transaction: Transaction) -> tuple[ScreenRecord | None, ScreenWrite | None]:
        snap = ref.get(transaction=transaction, **_bounded())
        current = _screen_record(snap.to_dict()) if snap.exists else None
        write = change(current)
        if write is None:
            return current, None
        _write_screen_change(transaction, ref, snap.to_dict() if snap.exists else None, current, write)
        return current, write

    return in_transaction(work)


def _write_screen_change(
    transaction: Transaction,
    ref: DocumentReference,
    document: dict[str, Any] | None,
    current: ScreenRecord | None,
    write: ScreenWrite,
    marked: bool = True,
) -> None:
    """What a change writes, in its transaction: the closed version's validTo, the opened version
    (marked EXPORT_PENDING unless `marked` is False: then the caller writes a SCREEN_EXPORTS document
    naming it in the same transaction), the new current document (with every zone the screen has had).
    `document` is the current document as read (None for a new screen)."""
    versions = ref.collection(SCREEN_VERSIONS)
    if write.closed is not None:  # only validTo changes; its export mark stays as it is
        transaction.update(
            versions.document(screen_version_id(write.closed.version)), {"validTo": write.closed.validTo}
        )
    transaction.set(
        versions.document(screen_version_id(write.opened.version)), _screen_document(write.opened, marked)
    )
    current_document = _current_document(write.opened)
    zones = _zones_so_far(document, current)
    if zones is not None:  # the current document also says every zone the screen has had
        current_document[SCREEN_ZONES] = sorted({*zones, _zone_of(write.opened)})
    transaction.set(ref, current_document)


# The current document of a screen holds `timeZones`: every zone its versions have had (sorted). A screen
# that has only ever had one zone needs no read of its history to read local times (ingest under
# "timezone": "screen"). Documents written before it have none: their history is read when needed.
SCREEN_ZONES = "timeZones"
MAX_SCREEN_VERSIONS_READ = 1_000  # versions of one screen read for its zone history (the newest)
_ZONE_HISTORY_FIELDS = [
    "tenantId",
    "screenId",
    "version",
    "validFrom",
    "validTo",
    "updatedAt",
    "fields.timeZone",
]


def _zone_of(record: ScreenRecord) -> str:
    return str(record.fields.get("timeZone"))


def _zones_so_far(document: dict[str, Any] | None, current: ScreenRecord | None) -> list[str] | None:
    if current is None or document is None:
        return []
    zones = document.get(SCREEN_ZONES)
    if isinstance(zones, list):
        return [str(z) for z in zones]
    return [_zone_of(current)] if current.version == 1 else None  # written before: unknown


def _valid_screen_id(screen_id: str) -> bool:
    """Whether `screen_id` can be a registered screen's id (the screens API takes a path segment of at
    most 128 characters), so that reading it as a document is safe."""
    return 0 < len(screen_id) <= 128 and "/" not in screen_id and screen_id not in (".", "..")


def screen_zone_histories(tenant_id: str, screen_ids: Iterable[str]) -> dict[str, list[ScreenRecord]]:
    """The versions a tenant's screens need for their zone history, by screenId (unknown ones and
    another tenant's are left out): the current documents in one batched read (`get_all`, 300 at a
    time); a screen whose versions have all had the same zone is its current version alone; only one
    whose zone changed (or whose document does not say) has its versions read (up to
    MAX_SCREEN_VERSIONS_READ, the newest)."""
    wanted = [s for s in dict.fromkeys(screen_ids) if _valid_screen_id(s)]
    out: dict[str, list[ScreenRecord]] = {}
    history: list[str] = []
    database = clients.firestore()
    for start in range(0, len(wanted), 300):
        refs = [_screen(tenant_id, s) for s in wanted[start : start + 300]]
        for snap in database.get_all(refs, **_bounded()):
            if not snap.exists:
                continue
            document = snap.to_dict() or {}
            record = _screen_record(document)
            if record.tenantId != tenant_id or snap.id != _screen_id(tenant_id, record.screenId):
                continue
            zones = _zones_so_far(document, record)
            out[record.screenId] = [record]
            if record.version > 1 and (zones is None or len(zones) > 1):
                history.append(record.screenId)
    for screen_id in history:
        # Only what a zone history needs (not the schedules), newest first (by the indexed `version`).
        query = (
            _screen_versions(tenant_id, screen_id)
            .select(_ZONE_HISTORY_FIELDS)
            .order_by("version", direction="DESCENDING")
            .limit(MAX_SCREEN_VERSIONS_READ)
        )
        found = [_screen_record(snap.to_dict()) for snap in query.stream(**_bounded())]
        if found:
            out[screen_id] = found
    return out


def screen_unstorable(fields: dict[str, Any]) -> tuple[str, str] | None:
    """(where, why) if a screen's fields (a request body, as sent) cannot be stored as they are, else None."""
    return unstorable(_encode_fields(fields), "")


def list_screens(
    tenant_id: str, filters: dict[str, Any], after: str | None, limit: int
) -> list[ScreenRecord]:
    """Up to `limit` current screens of a tenant in screenId order, after screenId `after`, whose
    fields equal `filters` (of venueType, market, country, active). Equality filters and document
    order only: Firestore serves them from its automatic single-field indexes (merged)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    unknown = set(filters) - {"venueType", "market", "country", "active"}
    if unknown:
        raise ValueError(f"screens cannot be filtered on {', '.join(sorted(unknown))}")
    collection = clients.firestore().collection(SCREENS)
    query = collection.where(filter=FieldFilter("tenantId", "==", tenant_id))
    for name, value in filters.items():
        query = query.where(filter=FieldFilter(name, "==", value))
    query = query.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": collection.document(_screen_id(tenant_id, after))})
    return [_screen_record(snap.to_dict()) for snap in query.limit(limit).stream(**_bounded())]


def screen_versions(tenant_id: str, screen_id: str, after: int | None, limit: int) -> list[ScreenRecord]:
    """Up to `limit` versions of a screen, oldest first, after version `after`."""
    versions = _screen_versions(tenant_id, screen_id)
    query = versions.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": versions.document(screen_version_id(after))})
    return [_screen_record(snap.to_dict()) for snap in query.limit(limit).stream(**_bounded())]


def screen_versions_to_export(
    limit: int, after: str | None, written_before: datetime
) -> tuple[list[ScreenRecord], str | None]:
    """A page of the versions, of every tenant, still marked EXPORT_PENDING, in document path order
    after the path `after`: (those first written before `written_before`, the path to page on from;
    None on the last page). A collection-group query on one field: its index is in infra/firestore.tf."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    client = clients.firestore()
    query = (
        client.collection_group(SCREEN_VERSIONS)
        .where(filter=FieldFilter(EXPORT_PENDING, "==", True))
        .order_by("__name__")
    )
    if after is not None:
        query = query.start_after({"__name__": client.document(after)})
    snaps = list(query.limit(limit).stream(**_bounded()))
    records = [
        _screen_record(snap.to_dict())
        for snap in snaps
        if snap.create_time is None or _instant(snap.create_time) < written_before
    ]
    return records, (snaps[-1].reference.path if len(snaps) == limit else None)


def _instant(value: Any) -> datetime:
    """A snapshot's time as an aware datetime (a query answers a protobuf Timestamp, a get a datetime)."""
    if isinstance(value, datetime):
        return value
    converted: datetime = value.ToDatetime(tzinfo=UTC)
    return converted


def _commit_in_batches(items: Sequence[T], write: Callable[[Any, T], None]) -> None:
    """`write(batch, item)` for every item, committed MAX_BATCH_WRITES writes at a time."""
    client = clients.firestore()
    for start in range(0, len(items), MAX_BATCH_WRITES):
        batch = client.batch()
        for item in items[start : start + MAX_BATCH_WRITES]:
            write(batch, item)
        batch.commit(**_bounded())


def screen_versions_exported(records: list[ScreenRecord]) -> None:
    """Remove the EXPORT_PENDING mark of these versions (their rows are in BigQuery), in batches."""
    from google.cloud import firestore

    def unmark(batch: Any, record: ScreenRecord) -> None:
        ref = _screen_versions(record.tenantId, record.screenId).document(screen_version_id(record.version))
        batch.update(ref, {EXPORT_PENDING: firestore.DELETE_FIELD})

    _commit_in_batches(records, unmark)


# At most this many screens per change_screens transaction: each writes up to 3 documents (the closed
# version, the opened one, the current document) and a transaction holds at most 500 writes.
MAX_SCREENS_PER_TRANSACTION = 150


@dataclass(frozen=True)
class ScreenChanges:
    """What a change_screens transaction did: per change, in order, (the version read, what was
    written); and the SCREEN_EXPORTS document naming the versions it opened (None if it opened none)."""

    results: list[tuple[ScreenRecord | None, ScreenWrite | None]]
    export_id: str | None


def change_screens(
    tenant_id: str,
    changes: Sequence[tuple[str, Callable[[ScreenRecord | None], ScreenWrite | None]]],
) -> ScreenChanges:
    """`change_screen` for many screens (distinct ids, at most MAX_SCREENS_PER_TRANSACTION) in one
    transaction: read every current version at once (one batched read), ask each screen's `change`
    what to write, write all of it in the one commit, as `change_screen` writes it, except that the
    opened versions are not marked EXPORT_PENDING: one SCREEN_EXPORTS document names them all (one
    write for the batch, deleted by `screen_exports_done` once their rows are in BigQuery).
    `write.opened` of each written one is what the commit opened."""
    if len(changes) > MAX_SCREENS_PER_TRANSACTION:
        raise ValueError(f"at most {MAX_SCREENS_PER_TRANSACTION} screens per transaction")
    refs = [_screen(tenant_id, screen_id) for screen_id, _ in changes]
    if len({ref.path for ref in refs}) != len(refs):
        raise ValueError("a screen is given twice in one change_screens")

    def work(transaction: Transaction) -> ScreenChanges:
        snaps = {snap.reference.path: snap for snap in transaction.get_all(refs, **_bounded())}
        results: list[tuple[ScreenRecord | None, ScreenWrite | None]] = []
        opened: list[dict[str, Any]] = []
        for ref, (_, change) in zip(refs, changes, strict=True):
            snap = snaps.get(ref.path)
            document = snap.to_dict() if snap is not None and snap.exists else None
            current = _screen_record(document) if document is not None else None
            write = change(current)
            results.append((current, write))
            if write is not None:
                _write_screen_change(transaction, ref, document, current, write, marked=False)
                opened.append({"screenId": write.opened.screenId, "version": write.opened.version})
        if not opened:
            return ScreenChanges(results, None)
        outbox = clients.firestore().collection(SCREEN_EXPORTS).document()
        transaction.set(outbox, {"tenantId": tenant_id, "versions": opened, "createdAt": datetime.now(UTC)})
        return ScreenChanges(results, outbox.id)

    return in_transaction(work)


@dataclass(frozen=True)
class ScreenExport:
    """A SCREEN_EXPORTS document: the versions (screenId, version) of a tenant one import batch opened."""

    export_id: str
    tenant_id: str
    versions: list[tuple[str, int]]


def screen_exports_to_retry(
    limit: int, written_before: datetime, after: Any = None
) -> tuple[list[ScreenExport], Any]:
    """A page of the SCREEN_EXPORTS documents created before `written_before`, oldest first, after
    the cursor `after`: (them, the cursor to page on from; None on the last page). A range and an
    order on the one field `createdAt`: its automatic single-field index serves it."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore()
        .collection(SCREEN_EXPORTS)
        .where(filter=FieldFilter("createdAt", "<", written_before))
        .order_by("createdAt")
    )
    if after is not None:
        query = query.start_after(after)
    snaps = list(query.limit(limit).stream(**_bounded()))
    exports = []
    for snap in snaps:
        document = snap.to_dict() or {}
        versions = [(str(v["screenId"]), int(v["version"])) for v in document.get("versions", [])]
        exports.append(ScreenExport(snap.id, str(document.get("tenantId")), versions))
    return exports, (snaps[-1] if len(snaps) == limit else None)


def screen_export_versions(export: ScreenExport) -> list[ScreenRecord]:
    """The version documents a SCREEN_EXPORTS document names (one batched read; a missing one is left out)."""
    refs = [
        _screen_versions(export.tenant_id, screen_id).document(screen_version_id(version))
        for screen_id, version in export.versions
    ]
    records = []
    for start in range(0, len(refs), 300):
        snaps = clients.firestore().get_all(refs[start : start + 300], **_bounded())
        records += [_screen_record(snap.to_dict()) for snap in snaps if snap.exists]
    order = {key: i for i, key in enumerate(export.versions)}
    return sorted(records, key=lambda r: order.get((r.screenId, r.version), 0))


def screen_exports_done(export_ids: Sequence[str]) -> None:
    """Delete these SCREEN_EXPORTS documents (their versions' rows are in BigQuery), in batches."""
    exports = clients.firestore().collection(SCREEN_EXPORTS)
    _commit_in_batches(export_ids, lambda batch, export_id: batch.delete(exports.document(export_id)))


def count_screens(tenant_id: str, filters: dict[str, Any] | None = None) -> int:
    """How many current screens a tenant has whose fields equal `filters` (as list_screens): one
    count() aggregation, no document read."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = clients.firestore().collection(SCREENS).where(filter=FieldFilter("tenantId", "==", tenant_id))
    for name, value in (filters or {}).items():
        query = query.where(filter=FieldFilter(name, "==", value))
    result: Any = query.count().get(**_bounded())  # [[AggregationResult]]
    return int(result[0][0].value)
