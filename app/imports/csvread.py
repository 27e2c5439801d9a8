"""Reading a CSV someone exported from another tool or a bank: encoding, separator,
dates and amounts written the French or the English way."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import date
from functools import lru_cache

from ..money import N_, AmountError, parse_amount
from . import ImportRefused

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def stored_mapping(text: str | None, fields) -> dict[str, int | None]:
    """The column chosen for each field, as saved with the import (JSON); None where unset or unreadable."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    return {f: data.get(f) if isinstance(data.get(f), int) else None for f in fields}


def decode(content: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; anything else is refused."""
    if not content or not content.strip():
        raise ImportRefused(N_("The file is empty."))
    if b"\x00" in content[:4096]:
        raise ImportRefused(
            N_(
                "The file's encoding is not UTF-8 or Windows-1252 (UTF-16, or a spreadsheet?). "
                "Save it as CSV UTF-8."
            )
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportRefused(
            N_("The file's encoding is neither UTF-8 nor Windows-1252. Save it as CSV UTF-8.")
        ) from None


def sniff_delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def reader(text: str):
    """(header, rows iterator) of a decoded CSV; rows stream from the text."""
    if "\x00" in text:
        text = text.replace("\x00", "")  # PostgreSQL refuses NUL in text
    first_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first_line)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        raise ImportRefused(N_("The file is empty.")) from None
    header = [h.strip() for h in header]
    if not any(header):
        raise ImportRefused(N_("The first line must name the columns."))
    return header, _safe(rows)


def _safe(rows):
    try:
        for row in rows:
            if row and any(cell.strip() for cell in row):
                yield row
    except csv.Error:
        raise ImportRefused(N_("The file is not a valid CSV (a quote is never closed?).")) from None


def count_rows(content: bytes) -> int:
    """A quick estimate (lines minus the header), to choose web or worker."""
    return max(content.count(b"\n") - (0 if content.endswith(b"\n") else -1) - 1, 0)


@lru_cache(maxsize=1024)
def normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def parse_date(text: str) -> date:
    return _parse_date((text or "").strip())


@lru_cache(maxsize=4096)  # an export repeats the same few hundred days
def _parse_date(raw: str) -> date:
    if not raw:
        raise ValueError(N_("Enter a date."))
    match = _ISO.match(raw)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _DMY.match(raw)
        if not match:
            raise ValueError(N_("Not a date (use 2026-11-23 or 23/11/2026)."))
        day, month, year = (int(g) for g in match.groups())
    try:
        value = date(year, month, day)
    except ValueError:
        raise ValueError(N_("This date does not exist.")) from None
    if not 2000 <= value.year <= 2100:
        raise ValueError(N_("The date must be between 2000 and 2100."))
    return value


def parse_signed_amount(text: str) -> int:
    """Cents, negative for ``-12,50``, ``12,50-`` or ``(12,50)`` (bank exports)."""
    raw = (text or "").strip().replace("\u2212", "-")
    negative = False
    if raw.startswith("(") and raw.endswith(")"):
        raw, negative = raw[1:-1], True
    if raw.startswith("-"):
        raw, negative = raw[1:], True
    elif raw.endswith("-"):
        raw, negative = raw[:-1], True
    cents = parse_amount(raw)
    return -cents if negative else cents


__all__ = ["AmountError", "decode", "parse_date", "parse_signed_amount", "reader"]
