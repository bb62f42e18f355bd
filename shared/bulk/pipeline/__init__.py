"""The bulk pipeline, one module per stage:

- `splitter`: a finalized upload is read once and planned into chunks (`split_upload`);
- `fan_out`: a job whose file is planned publishes one pop-chunks message per chunk (`create_job`, `fan_out`);
- `worker`: a chunk's rows are mapped, published to pop-events and recorded (`process_chunk`; a
  chunk that kept failing is recorded as errors by `dead_letter_chunk`);
- `completion`: chunk results are recorded and the job ends once all are in (`finish_if_done`);
- `sweep`: every unfinished job is moved on, whatever died on its way (`sweep_jobs`).

The stages reach storage, the uploads bucket and Pub/Sub only through `backends.Backends` (the
protocols of `shared.storage.protocols`): the functions use `backends.cloud()`, unit tests an
in-memory set (tests/memory_store.py), the integration tests the emulators.

Every step is safe to run twice (Eventarc and Pub/Sub deliver at least once):
- a finalize event for a generation already planned (or older than the one recorded) changes nothing;
- the fan-out is claimed in a Firestore transaction, so one of `ingest`, `splitter` and the sweep
  publishes the chunks; a claim whose publishing failed is released, and one left by a dead
  instance goes stale and is retaken by the sweep (every minute): no job depends on a client
  calling ingest again;
- a chunk result is created once (`create` fails if it exists): that write is the chunk's commit point;
- every path that may have recorded the last chunk result (including a skipped redelivery, and the
  sweep) checks whether the job is done; its final state is set in a transaction, once.

Counter invariant at the end of every job: processedRows + errorRows + skippedRows == totalRows, where
a row is a record: a line of NDJSON, an element of a JSON array or a CSV record, or, with a mapping
whose `records` path looks inside envelopes, each record inside one (an envelope that cannot be read
is one error row). The plan's count of lines / elements is the job's totalRows until it ends.

Every log line of a job's work carries its `jobId` and `fileId` (`logs.context`).
"""
