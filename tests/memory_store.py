"""In-memory stand-ins for the pipeline's backends (`shared.storage.protocols`), for unit tests of the
stages without emulators. Named as fakes: the integration tier runs the same stages on the Firestore,
Pub/Sub and Cloud Storage emulators.

`MemoryStore` keeps records as the Firestore module does (validated models, changes checked against
the model's fields, write-once creates); a transaction is a lock plus a copy of the documents that is
put back if the work raises, as Firestore rolls back.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from shared.bulk.pipeline.backends import Backends, Message
from shared.records.jobs import ChunkResult, ChunkTotals, FileRecord, JobRecord, JobState
from shared.records.notify import WebhookEvent

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _changed(record: M, changes: dict[str, Any]) -> M:
    unknown = set(changes) - set(type(record).model_fields)
    if unknown:
        raise ValueError(f"{type(record).__name__} has no field {', '.join(sorted(unknown))}")
    return type(record).model_validate({**record.model_dump(), **changes})


class MemoryStore:
    """A `JobStore` in a dict."""

    def __init__(self) -> None:
        self.files: dict[str, FileRecord] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.chunks: dict[str, dict[int, ChunkResult]] = {}
        self.transactions = 0
        self._lock = threading.RLock()

    def in_transaction(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            self.transactions += 1
            saved = (dict(self.files), dict(self.jobs))
            try:
                return work(object())
            except BaseException:
                self.files, self.jobs = saved
                raise

    def get_file(self, file_id: str, transaction: Any = None) -> FileRecord | None:
        return self.files.get(file_id)

    def update_file(self, file_id: str, transaction: Any = None, **changes: Any) -> None:
        self.files[file_id] = _changed(self.files[file_id], changes)

    def create_job(self, record: JobRecord) -> bool:
        with self._lock:
            if record.jobId in self.jobs:
                return False
            self.jobs[record.jobId] = record.model_copy(deep=True)
            return True

    def get_job(self, job_id: str, transaction: Any = None) -> JobRecord | None:
        return self.jobs.get(job_id)

    def update_job(self, job_id: str, transaction: Any = None, **changes: Any) -> None:
        self.jobs[job_id] = _changed(self.jobs[job_id], changes)

    def jobs_in_states(
        self, states: tuple[JobState, ...], limit: int, after: str | None = None
    ) -> list[JobRecord]:
        jobs = sorted((j for j in self.jobs.values() if j.status in states), key=lambda j: j.jobId)
        return [j for j in jobs if after is None or j.jobId > after][:limit]

    def jobs_to_announce(self, limit: int, after: str | None = None) -> list[JobRecord]:
        jobs = sorted((j for j in self.jobs.values() if j.noticePending), key=lambda j: j.jobId)
        return [j for j in jobs if after is None or j.jobId > after][:limit]

    def chunk_recorded(self, job_id: str, index: int) -> bool:
        return index in self.chunks.get(job_id, {})

    def record_chunk(self, job_id: str, result: ChunkResult) -> bool:
        with self._lock:
            chunks = self.chunks.setdefault(job_id, {})
            if result.index in chunks:
                return False
            chunks[result.index] = copy.deepcopy(result)
            return True

    def chunk_totals(self, job_id: str) -> ChunkTotals:
        results = self.chunks.get(job_id, {}).values()
        return ChunkTotals(
            len(results),
            sum(r.processedRows for r in results),
            sum(r.errorRows for r in results),
            sum(r.skippedRows for r in results),
        )


@dataclass
class MemoryObject:
    """One generation of an object: its bytes."""

    data: bytes
    generation: int
    crc32c: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @contextmanager
    def open(self, mode: str, chunk_size: int) -> Iterator[IO[bytes]]:
        yield io.BytesIO(self.data)


@dataclass
class MemoryUploads:
    """An `Uploads` bucket in a dict; `put` makes a new generation, as a re-upload does."""

    objects: dict[str, MemoryObject] = field(default_factory=dict)

    def put(self, name: str, data: bytes) -> MemoryObject:
        previous = self.objects.get(name)
        self.objects[name] = MemoryObject(data, previous.generation + 1 if previous else 1)
        return self.objects[name]

    def get(self, name: str) -> MemoryObject | None:
        return self.objects.get(name)


@dataclass
class MemoryTopics:
    """What was published: chunk messages and events, as (data, attributes)."""

    chunks: list[Message] = field(default_factory=list)
    events: list[Message] = field(default_factory=list)
    notices: list[WebhookEvent] = field(default_factory=list)  # webhook events (job.*)
    fail_notices: int = 0  # publishing notices fails this many more times

    def publish_notices(self, items: list[WebhookEvent]) -> int:
        if self.fail_notices > 0:
            self.fail_notices -= 1
            raise RuntimeError("publishing failed")
        self.notices.extend(items)
        return len(items)

    def publish_chunks(self, items: Iterable[Message]) -> None:
        self.chunks.extend(items)

    def publish_events(self, items: list[Message]) -> int:
        self.events.extend(items)
        return len(items)


@dataclass
class MemoryBackends:
    """The three fakes together, and the `Backends` the stages are given."""

    store: MemoryStore = field(default_factory=MemoryStore)
    uploads: MemoryUploads = field(default_factory=MemoryUploads)
    topics: MemoryTopics = field(default_factory=MemoryTopics)
    # (tenantId, screenId) -> its versions, for "timezone": "screen" mappings
    screens: dict[tuple[str, str], list] = field(default_factory=dict)

    def screen_histories(self, tenant_id: str, screen_ids: list[str]) -> dict[str, list]:
        return {s: self.screens[(tenant_id, s)] for s in screen_ids if (tenant_id, s) in self.screens}

    @property
    def backends(self) -> Backends:
        return Backends(
            store=self.store,
            uploads=self.uploads,
            publish_chunks=self.topics.publish_chunks,
            publish_events=self.topics.publish_events,
            screens=self.screen_histories,
            publish_notices=self.topics.publish_notices,
        )
