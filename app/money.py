"""Money as integer cents with a currency code; parsing and per-locale formatting."""

import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency

from .parsing import ascii_digits

CURRENCIES = ("EUR", "CAD", "CHF", "USD", "GBP")
# Amounts are INTEGER columns (32 bits on PostgreSQL): 20 million is the most one
# invoice or payment may hold; anything above is a typo anyway.
MAX_CENTS = 2_000_000_000

_SPACES = re.compile(r"[\s\u00a0\u202f']")
_SHAPE = re.compile(r"^\d+(?:[.,]\d+)?$")


def N_(message):
    """Mark a message for translation; views translate it when they show it."""
    return message


class AmountError(ValueError):
    """An amount typed by a person could not be read; the message says why."""


def parse_amount(text: str) -> int:
    """Read an amount typed by a person and return integer cents.

    Accepts ``1234,56``, ``1 234.56``, ``1.234,56``, ``1,234.56`` and ``1234``;
    refuses negatives, more than two decimals and anything that is not a number.
    """
    if text is None:
        raise AmountError(N_("Enter an amount."))
    raw = _SPACES.sub("", str(text).strip())
    for symbol in ("€", "$", "£", "EUR", "CAD", "CHF", "USD", "GBP"):
        raw = raw.replace(symbol, "")
    if not raw:
        raise AmountError(N_("Enter an amount."))
    if raw.startswith("-") or raw.startswith("−"):
        raise AmountError(N_("The amount cannot be negative."))
    if raw.startswith("+"):
        raw = raw[1:]
    if "," in raw and "." in raw:
        # The separator that comes last is the decimal one; the other groups thousands.
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands_sep = "." if decimal_sep == "," else ","
        whole, _, frac = raw.rpartition(decimal_sep)
        groups = whole.split(thousands_sep)
        if not all(ascii_digits(g) for g in groups) or any(len(g) != 3 for g in groups[1:]):
            raise AmountError(N_("This is not a valid amount."))
        raw = "".join(groups) + "." + frac
    raw = raw.replace(",", ".")
    if not _SHAPE.match(raw):
        raise AmountError(N_("This is not a valid amount."))
    whole, _, frac = raw.partition(".")
    if len(frac) > 2:
        raise AmountError(N_("Use at most two decimals."))
    cents = int(whole) * 100 + int((frac + "00")[:2])
    if cents > MAX_CENTS:
        raise AmountError(N_("This amount is too large."))
    return cents


def cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents) / 100


@lru_cache(maxsize=4096)
def format_money(cents: int, currency: str, locale: str = "en") -> str:
    """``123456, 'EUR'`` → ``€1,234.56`` in English, ``1 234,56 €`` in French."""
    return format_currency(cents_to_decimal(cents), currency, locale=locale)


def cents_to_input(cents: int | None) -> str:
    """Cents as a plain editable value (``1234.56``) for form fields."""
    if cents is None:
        return ""
    return f"{cents // 100}.{cents % 100:02d}"
