"""Progress bars on stderr (stdout stays clean for job ids and exported errors).

On a terminal they redraw in place. Without one (CI logs, tests, `2> file`) each redraw becomes a
plain ASCII line, at most one every few seconds plus the final state, so a log shows progress
without carriage-return debris.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


class _LineLog:
    """A file for tqdm that turns in-place redraws into whole lines."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def write(self, text: str) -> None:
        for piece in text.replace("\r", "\n").split("\n"):
            line = piece.rstrip()
            if line and line != self.last:
                self.stream.write(line + "\n")
                self.last = line

    def flush(self) -> None:
        self.stream.flush()


def _terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return 0, 0
    return size.columns, size.lines


def bar(
    desc: str, total: int | None = None, unit: str = "it", byte_units: bool = False, enabled: bool = True
) -> tqdm:
    interactive = sys.stderr.isatty()
    # Some pseudo-terminals (CI runners, `script`) report a 0x0 size; tqdm would then draw nothing.
    columns, lines = _terminal_size()
    sized = interactive and columns > 0 and lines > 0
    return tqdm(
        desc=desc,
        total=total,
        unit=unit,
        unit_scale=byte_units,
        unit_divisor=1024 if byte_units else 1000,
        file=sys.stderr if interactive else _LineLog(sys.stderr),
        disable=not enabled,
        mininterval=0.1 if interactive else 2.0,
        ascii=not interactive,
        dynamic_ncols=sized,
        ncols=None if sized else 100,
        nrows=None if sized else 24,
        leave=True,
    )


def say(message: str) -> None:
    """A line on stderr that does not tear an open progress bar."""
    tqdm.write(message, file=sys.stderr)
