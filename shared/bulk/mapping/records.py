"""Records inside an envelope: a path such as ``pop`` or ``requests[*].adPlay``.

Segments are object keys separated by dots; ``[*]`` after a key walks every element of that array.
When the path ends on an array, each element is a record; when it ends on an object, that object
is one record. Each record is labelled by where it is (``pop[2]``, ``requests[0].adPlay``), so a
row error names the line (or array position) and the record's place inside it.

The path is read from the row (a line, an array element) — or, in a JSON file that is one document
whose rows are the elements of its array member ``requests`` (see shared/bulk/formats/json_array.py),
from the document: `RecordsPath.inside` gives the rest of the path, read in each element, and the
element's position names it (``requests[4].adPlay`` is row 5).

Each record comes with its envelope levels: the objects that hold it, outermost (the row) first,
the object holding the record last (for ``requests[*].adPlay``, the row and ``requests[i]``; for
``pop``, the row). ``envelope_fields`` are read from the nearest level that has them, so ``parent``
beside ``adPlay`` in a request is reachable, and a field of the row still is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

_SEGMENT = re.compile(r"([^.\[\]]+)(\[\*\])?")
# Records one row (a line, an array element) may hold. Chunks are cut by rows and bytes, so this
# bounds a chunk's records whatever a mapping finds inside its rows; a row over it is one row error.
MAX_RECORDS_PER_ROW = 10_000

Levels = tuple[dict[str, Any], ...]
# (label, record, None, levels) for a record; (label, None, error, levels) where the path is not there
# for one element. A plain tuple: one is made per record.
Found = tuple[str, Any, str | None, Levels]


class EnvelopeError(Exception):
    """The envelope does not hold records where the path says; the whole envelope is one row error."""


class Step(NamedTuple):
    key: str
    each: bool  # written key[*]: every element of the array at key


class RecordsPath:
    def __init__(self, steps: tuple[Step, ...], text: str):
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
            steps.append(Step(m.group(1), bool(m.group(2))))
        return cls(tuple(steps), text)

    def inside(self, member: str) -> RecordsPath | None:
        """This path read in one element of the document's array `member`, or None when the path
        does not start at that array (``requests[*].adPlay`` inside ``requests``: ``adPlay``;
        ``requests`` or ``requests[*]``: the element itself)."""
        first = self.steps[0]
        if first.key != member or not (first.each or len(self.steps) == 1):
            return None
        return RecordsPath(self.steps[1:], self.text)

    def records(self, envelope: Any, place: str = "") -> Iterator[Found]:
        """Each record in the envelope, whose own place is `place` (in a document: ``requests[4]``);
        EnvelopeError if the path is not there at all."""
        if not self.steps:  # the element is the record
            yield place, envelope, None, ()
            return
        if type(envelope) is not dict:
            raise EnvelopeError(f"records {self.text!r}: {place or 'the envelope'} should be a JSON object")
        key = self.steps[0].key
        if key not in envelope:
            raise EnvelopeError(f"records {self.text!r}: {f'{place}.{key}' if place else key} is missing")
        yield from self._walk(envelope, 0, place, (envelope,))

    def _walk(self, node: Any, i: int, label: str, levels: Levels) -> Iterator[Found]:
        key, each = self.steps[i]
        here = f"{label}.{key}" if label else key
        if type(node) is not dict or key not in node:
            yield here, None, f"records {self.text!r}: {here} is missing", levels
            return
        value = node[key]
        last = i == len(self.steps) - 1
        if each or (last and type(value) is list):
            if type(value) is not list:
                yield here, None, f"records {self.text!r}: {here} should be an array", levels
                return
            for n, item in enumerate(value):
                if last:
                    yield f"{here}[{n}]", item, None, levels
                else:
                    inner = levels + (item,) if type(item) is dict else levels
                    yield from self._walk(item, i + 1, f"{here}[{n}]", inner)
        elif not last:
            yield from self._walk(value, i + 1, here, levels + (value,) if type(value) is dict else levels)
        elif type(value) is dict:
            yield here, value, None, levels
        else:
            yield here, None, f"records {self.text!r}: {here} should be an array or an object", levels
