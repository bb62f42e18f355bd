"""`coatro send`: stream events to POST /coatro/v1/pop/events in batches, and account for each one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from coatro_cli.api import ApiClient, ApiError, NetworkError
from coatro_cli.events import Batch, Unreadable, batches, read_events


@dataclass
class SendSummary:
    events_read: int = 0
    accepted: int = 0
    rejected: int = 0  # events in batches the server refused (400)
    unreadable: int = 0  # input the client could not send at all
    batches_rejected: int = 0
    requests: int = 0
    retries: int = 0
    stopped: str | None = None  # why sending stopped before the end of the input

    @property
    def not_accepted(self) -> int:
        return self.rejected + self.unreadable

    @property
    def ok(self) -> bool:
        return self.not_accepted == 0 and self.stopped is None

    def text(self) -> str:
        parts = [
            f"{plural(self.events_read, 'event')} read, {self.accepted} accepted, {self.not_accepted} not accepted",
            f"{plural(self.requests, 'request')} ({plural(self.retries, 'retry', 'retries')}, "
            f"{plural(self.batches_rejected, 'batch', 'batches')} rejected)",
        ]
        out = "summary: " + "; ".join(parts)
        if self.stopped:
            out += f"\nstopped early: {self.stopped}"
        return out


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _invalid_indexes(error: ApiError, batch_len: int) -> set[int]:
    return {
        e["index"]
        for e in error.errors
        if isinstance(e, dict) and isinstance(e.get("index"), int) and 0 <= e["index"] < batch_len
    }


@dataclass
class Sender:
    client: ApiClient
    source_name: str
    report: Callable[[str], None]
    skip_invalid: bool = False
    on_events: Callable[[int], None] = lambda n: None

    def send(self, stream: TextIO, max_events: int, max_bytes: int) -> SendSummary:
        summary = SendSummary()
        requests_before, retries_before = self.client.requests_made, self.client.retries
        try:
            self._send_all(read_events(stream), max_events, max_bytes, summary)
        finally:
            summary.requests = self.client.requests_made - requests_before
            summary.retries = self.client.retries - retries_before
        return summary

    def _send_all(self, items: Iterable, max_events: int, max_bytes: int, summary: SendSummary) -> None:
        for item in batches(items, max_events, max_bytes):
            if isinstance(item, Unreadable):
                summary.unreadable += 1
                summary.events_read += 0 if item.fatal else 1
                self.report(f"{self.source_name}:{item.line}: {item.message}")
                if item.fatal:
                    summary.stopped = f"the input cannot be read past line {item.line}"
                    return
                continue
            summary.events_read += len(item.events)
            try:
                self._send_batch(item, summary)
            except NetworkError as exc:
                summary.rejected += len(item.events)
                summary.stopped = f"{exc.message()}; events from line {item.events[0].line} on were not sent"
                return
            except ApiError as exc:
                # 401, 413, 415, 5xx after retries: every later batch would fail the same way.
                summary.rejected += len(item.events)
                self.report(f"error: batch {item.number} ({item.lines()}): " + "\n".join(exc.lines()))
                summary.stopped = f"the server refused batch {item.number}; events from line {item.events[0].line} on were not sent"
                return

    def _send_batch(self, batch: Batch, summary: SendSummary) -> None:
        try:
            accepted = self._post(batch)
        except ApiError as exc:
            if exc.status != 400:
                raise
            summary.batches_rejected += 1
            self._report_invalid(batch, exc)
            bad = _invalid_indexes(exc, len(batch.events))
            if not (self.skip_invalid and bad):
                summary.rejected += len(batch.events)
                return
            # The server rejects a batch whole; resend only the events it did not complain about.
            rest = Batch(batch.number, [e for i, e in enumerate(batch.events) if i not in bad])
            summary.rejected += len(bad)
            if not rest.events:
                return
            rest.size = len(rest.body())
            try:
                accepted = self._post(rest)
            except ApiError as again:
                if again.status != 400:
                    raise
                summary.rejected += len(rest.events)
                self._report_invalid(rest, again)
                return
            self.report(f"batch {batch.number}: sent again without its {len(bad)} invalid events")
        summary.accepted += accepted

    def _post(self, batch: Batch) -> int:
        answer = self.client.post_events(batch.gzipped())
        count = answer.get("eventCount")
        accepted = count if isinstance(count, int) else len(batch.events)
        self.on_events(len(batch.events))
        return accepted

    def _report_invalid(self, batch: Batch, error: ApiError) -> None:
        """The server's per-event errors, each pointing at its line in the input."""
        lines = [
            f"error: batch {batch.number} ({batch.lines()}) was rejected: {error.status} {error.title}: {error.detail}"
        ]
        for e in error.errors:
            if not isinstance(e, dict):
                lines.append(f"  {e}")
                continue
            index, fld, message = e.get("index"), e.get("field"), e.get("message", "")
            prefix = f"{fld}: " if fld else ""
            if isinstance(index, int) and 0 <= index < len(batch.events):
                lines.append(f"  {self.source_name}:{batch.events[index].where()}: {prefix}{message}")
            else:
                lines.append(f"  batch {batch.number}: {prefix}{message}")
        if not self.skip_invalid:
            lines.append(
                f"  none of the {len(batch.events)} events of this batch were accepted; "
                "fix the lines above and send again, or use --skip-invalid to send the valid ones"
            )
        self.report("\n".join(lines))
