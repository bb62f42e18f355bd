"""What the bulk stages need of storage, as protocols: the job documents (`JobStore`) and the uploaded
objects (`Uploads`).

`shared.storage.firestore` (the module itself) is the `JobStore` of every deployed function and of
the integration tests, which run it on the Firestore emulator; `shared.storage.uploads.CloudUploads`
reads the uploads bucket. `tests/memory_store.py` holds in-memory ones, so the stages' logic is unit
tested without emulators.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol, TypeVar

from google.api_core import exceptions

from shared.records.jobs import ChunkResult, ChunkTotals, FileRecord, JobRecord, JobState

T = TypeVar("T")


class Contention(exceptions.Aborted):
    """A transaction gave up after its retries: other transactions hold its documents.
    An Aborted, so an HTTP function answers it with a 503 and Retry-After."""

    def __init__(self, message: str) -> None:
        super().__init__(message)  # type: ignore[no-untyped-call]  # google.api_core's is unannotated


class JobStore(Protocol):
    """Files (`FileRecord`, with the plan), jobs (`JobRecord`) and their chunk results (`ChunkResult`).

    `transaction` is the object `in_transaction` hands its work: reads and updates given it are part
    of that transaction. Changes are `FileRecord` / `JobRecord` attribute names, checked against the
    model. `record_chunk` and `create_job` write once: False when the document already exists.
    """

    def in_transaction(self, work: Callable[[Any], T]) -> T: ...

    def get_file(self, file_id: str, transaction: Any = None) -> FileRecord | None: ...

    def update_file(self, file_id: str, transaction: Any = None, **changes: Any) -> None: ...

    def create_job(self, record: JobRecord) -> bool: ...

    def get_job(self, job_id: str, transaction: Any = None) -> JobRecord | None: ...

    def update_job(self, job_id: str, transaction: Any = None, **changes: Any) -> None: ...

    def jobs_in_states(
        self, states: tuple[JobState, ...], limit: int, after: str | None = None
    ) -> list[JobRecord]: ...

    def jobs_to_announce(self, limit: int, after: str | None = None) -> list[JobRecord]:
        """Jobs whose `noticePending` is set (their webhook event not yet published), in jobId order."""
        ...

    def chunk_recorded(self, job_id: str, index: int) -> bool: ...

    def record_chunk(self, job_id: str, result: ChunkResult) -> bool: ...

    def chunk_totals(self, job_id: str) -> ChunkTotals: ...


class UploadObject(Protocol):
    """One generation of an uploaded object."""

    @property
    def generation(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def crc32c(self) -> str | None: ...

    def open(self, mode: str, chunk_size: int) -> AbstractContextManager[IO[bytes]]:
        """A seekable binary stream of this generation only (raises NotFound once it is replaced)."""
        ...


class Uploads(Protocol):
    """The uploads bucket."""

    def get(self, name: str) -> UploadObject | None:
        """The object's current generation, or None if there is no such object."""
        ...
