"""Streaming framing and parsing of bulk files (NDJSON, JSON, CSV), with bounded memory.

Two entry points share one framer per format, so the splitter and the workers cannot disagree on
where a record starts or ends or on its row number:

- `plan_file(stream, fmt, chunk_rows, max_row_bytes, chunk_bytes)` reads the whole object once, in
  blocks, and cuts it into chunks: byte ranges ``[start, end)`` holding ``row_count`` records whose
  first one has row number ``first_row``. A chunk ends at ``chunk_rows`` records or with the record
  that makes it span ``chunk_bytes`` (the setting; see its derivation there), so a worker's call is
  bounded even when a mapping makes one line thousands of records.
- `iter_rows(stream, fmt, chunk, max_row_bytes, header)` reads one chunk's byte range (the caller
  has seeked to ``chunk.start``; nothing past ``chunk.end`` is read) and yields
  ``(row, record, error)`` for each of its records.

The splitter, which needs no payloads, plans at about the speed the object is read (issue 21): NDJSON
and CSV a window of whole lines at a time with bytes methods (`line_plan`), JSON arrays by the
separator between elements (`json_array.plan_items`), each making exactly the chunks the record by
record framers make (tests/unit/test_plan_equivalence.py compares them on random files).

Memory never exceeds about one block (1 MiB) plus ``max_row_bytes``: a record larger than
``max_row_bytes`` is skipped without being buffered and reported as a row error.

Row numbers are what a person sees in the file:

- NDJSON: the physical line number (from 1). Blank (whitespace-only) lines are not rows but count
  as lines. LF and CRLF line ends; a lone CR is not a line end.
- JSON: the element's position in its array (from 1). The document is an array of events, an object
  with an ``"events"`` array (the events endpoint's body; other members of that object are ignored),
  or one document whose records sit in its one array-valued member, such as a DV360
  ``adPlays:batchCreate`` body ``{"requests": [...]}``: the rows are that array's elements, the plan
  names the member (``FilePlan.member``, ``ChunkSpec.member``) and the mapping's ``records`` path is
  read from the document (`json_array` says how, and why the splitter needs no mapping). The framer tracks strings, escapes and bracket depth with regular expressions
  over blocks, so an element is a byte range and need not be valid JSON to be framed: an element
  that does not parse is a row error. ``[a,,b]`` counts an empty element (a row error known to the
  splitter, in ``FilePlan.errors``); a trailing comma before ``]`` is tolerated.
- CSV: the physical line number of the record's first line, the header being line 1 (or the first
  non-blank line). Records may contain quoted newlines (RFC 4180: a record ends at a line end where
  the number of ``"`` seen since its start is even). A stray quote inside an unquoted field (which
  RFC 4180 forbids) therefore joins lines until the next odd quote; the joined record is one row
  error. Blank lines are skipped.

Truncation:

- NDJSON / CSV: a last line without a line end is an ordinary row; if it is cut mid-record it fails
  to parse and is a row error.
- JSON: when the file ends inside an element (inside a string or an unclosed bracket), the complete
  elements before it are rows and the truncated element is a row error in ``FilePlan.errors``
  (counted in ``total_rows``, in no chunk). A file that ends after a complete element but before the
  closing ``]`` is accepted as is. If no element at all is complete the file is `FileInvalid`.
  Anything but whitespace after the document (``[a,b][c,d]``, a second object) is `FileInvalid`:
  it would otherwise be silently ignored.

`FileInvalid` (the file cannot be framed at all): NUL bytes in the first block (binary), a UTF-16 /
UTF-32 byte order mark, content that clearly does not match the declared format, a JSON object
without an ``"events"`` array and without exactly one other array member (or whose array member's
name a records path cannot write), a CSV header row that is not UTF-8. A CSV header row whose names are
empty or repeated (read with commas), or that is longer than the row size limit, is kept in the plan
with its problem: the file may have no header or another delimiter, which only its mapping says
(`rows.csv_header`; without a header, an over-long first row is that row's error, as elsewhere). An
NDJSON line that is an array of plain values is a positional record. An empty file is not invalid: it
has zero rows and no chunks. A UTF-8 byte order mark is skipped (offsets stay byte offsets of the
object).
"""

from shared.bulk.formats.chunking import FORMATS, iter_rows, parse_record, plan_file
from shared.bulk.formats.reading import FileInvalid

__all__ = ["FORMATS", "FileInvalid", "iter_rows", "parse_record", "plan_file"]
