"""Paging parameters of the list endpoints: `pageSize` and an opaque `pageToken`.

A token is the base64url of a position the endpoint chose (a chunk and an offset, a screen id); read
back strictly, so only what this API returned is taken. Each endpoint words its own refusal.
"""

from __future__ import annotations

import base64
import binascii
import re

_DIGITS = re.compile(r"[0-9]{1,6}")


def page_size(text: str | None, default: int, maximum: int) -> int | None:
    """`pageSize` as given (plain ASCII digits: int() would also take " 5", "+5", "1_000" and other
    scripts' digits), `default` when absent, None when it is not an integer from 1 to `maximum`."""
    if text is None:
        return default
    size = int(text) if _DIGITS.fullmatch(text) else 0
    return size if 1 <= size <= maximum else None


def token_for(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode("utf-8")).decode("ascii")


def position_of(token: str) -> str | None:
    """The position a `token_for` token holds; None for anything else (no character outside the
    alphabet is skipped)."""
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (ValueError, UnicodeError, binascii.Error):
        return None
