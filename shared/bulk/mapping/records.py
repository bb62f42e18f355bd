"""Records inside an envelope: a path such as ``pop`` or ``requests[*].adPlay``.

Segments are object keys separated by dots; ``[*]`` after a key walks every element of that array.
When the path ends on an array, each element is a record; when it ends on an object, that object
is one record. Each record is labelled by where it is (``pop[2]``, ``requests[0].adPlay``), so a
row error names the line (or array position) and the record's place inside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)(\[\*\])?")
# Records one row (a line, an array element) may hold. Chunks are cut by rows and bytes, so this
# bounds a chunk's records whatever a mapping finds inside its rows; a row over it is one row error.
MAX_RECORDS_PER_ROW = 10_000


class EnvelopeError(Exception):
    """The envelope does not hold records where the path says; the whole envelope is one row error."""


class RecordsPath:
    def __init__(self, steps: list[tuple[str, bool]], text: str):
        self.steps, self.text = steps, text

    @classmethod
    def parse(cls, text: str) -> RecordsPath:
        steps = []
        for part in text.split("."):
            m = _SEGMENT.fullmatch(part)
            if not m:
                raise ValueError(
                    f"{text!r} is not a records path: write keys separated by dots, "
                    "with [*] after a key that holds an array (e.g. pop or requests[*].adPlay)"
                )
            steps.append((m.group(1), bool(m.group(2))))
        return cls(steps, text)

    def records(self, envelope: Any) -> Iterator[tuple[str, Any, str | None]]:
        """(label, record, None) for each record in the envelope, or (label, None, error) where the
        path is not there for one element; EnvelopeError if it is not there at all."""
        if type(envelope) is not dict:
            raise EnvelopeError(f"records {self.text!r}: the envelope should be a JSON object")
        key = self.steps[0][0]
        if key not in envelope:
            raise EnvelopeError(f"records {self.text!r}: {key} is missing")
        yield from self._walk(envelope, 0, "")

    def _walk(self, node: Any, i: int, label: str) -> Iterator[tuple[str, Any, str | None]]:
        key, each = self.steps[i]
        here = f"{label}.{key}" if label else key
        if type(node) is not dict or key not in node:
            yield here, None, f"records {self.text!r}: {here} is missing"
            return
        value = node[key]
        last = i == len(self.steps) - 1
        if each or (last and type(value) is list):
            if type(value) is not list:
                yield here, None, f"records {self.text!r}: {here} should be an array"
                return
            for n, item in enumerate(value):
                if last:
                    yield f"{here}[{n}]", item, None
                else:
                    yield from self._walk(item, i + 1, f"{here}[{n}]")
        elif not last:
            yield from self._walk(value, i + 1, here)
        elif type(value) is dict:
            yield here, value, None
        else:
            yield here, None, f"records {self.text!r}: {here} should be an array or an object"
