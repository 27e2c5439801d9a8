"""Numbers typed by people or put in URLs: ASCII digits only.

``str.isdigit()`` is true for ``²`` and ``٣``, and ``int("²")`` raises: every check
of "is this a number" on request text goes through :func:`ascii_digits`, and every
id read from a form or query string through :func:`parse_id`.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# Ids are INTEGER columns: a larger number is simply not one of ours (and would make
# the database driver raise instead of finding nothing).
MAX_ID = 2**31 - 1


def ascii_digits(text) -> bool:
    """True for a non-empty string of the digits 0–9 and nothing else."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


def parse_id(text) -> int | None:
    """An id from request text (``"12"`` → 12), or None when it cannot be one."""
    if not ascii_digits(text) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


class AsciiIntConverter(IntegerConverter):
    """``<int:…>`` in routes: ASCII digits only (Werkzeug's ``\\d+`` also takes ``٣``),
    at most 10 of them, so ``/invoices/٣`` and a 30-digit id are a plain 404."""

    regex = r"[0-9]{1,10}"
