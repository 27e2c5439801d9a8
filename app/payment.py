"""Paying by bank transfer: IBAN check, Belgian structured communication and the
EPC069-12 SEPA credit-transfer QR code. Pure: no database, no Flask.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from functools import lru_cache

import segno
from segno import helpers

EPC_MAX_NAME = 70
EPC_MAX_TEXT = 140
EPC_MAX_CENTS = 999_999_999_99


class IbanError(ValueError):
    """Why an IBAN is refused (the message is shown next to the field)."""


def normalise_iban(value: str) -> str:
    return "".join((value or "").split()).upper()


def check_iban(value: str) -> str:
    """The IBAN without spaces, upper-case; raises :class:`IbanError` with the reason.

    ISO 13616: two letters (country), two check digits, up to 30 letters and
    digits; the whole, moved and read as a number (A=10 … Z=35), is 1 modulo 97.
    """
    iban = normalise_iban(value)
    if not iban:
        raise IbanError("empty")
    if not iban.isascii() or not iban.isalnum():
        raise IbanError("characters")
    if not iban[:2].isalpha() or not iban[2:4].isdigit():
        raise IbanError("start")
    if not 15 <= len(iban) <= 34:
        raise IbanError("length")
    if iban_remainder(iban) != 1:
        raise IbanError("checksum")
    return iban


def iban_remainder(iban: str) -> int:
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97


def format_iban(iban: str) -> str:
    """Groups of four, as printed on bank statements."""
    iban = normalise_iban(iban)
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


# --- Belgian structured communication (OGM/VCS), Febelfin ------------------------
# 12 digits: 10 digits of reference, then 2 check digits = the 10 digits modulo 97
# (97 when the remainder is 0). Printed +++123/4567/89012+++.


def ogm_check(base: int) -> int:
    return base % 97 or 97


def make_ogm(base: int) -> str:
    """The 12 digits for a 10-digit ``base`` (0 ≤ base < 10¹⁰)."""
    if not 0 <= base < 10**10:
        raise ValueError("an OGM base has at most 10 digits")
    return f"{base:010d}{ogm_check(base):02d}"


def new_ogm() -> str:
    """A random structured communication (never 0: banks refuse all zeros)."""
    return make_ogm(secrets.randbelow(10**10 - 1) + 1)


def is_valid_ogm(value: str) -> bool:
    digits = "".join(c for c in (value or "") if c.isdigit())
    if len(digits) != 12 or any(c not in "0123456789+*/ " for c in value or ""):
        return False
    return ogm_check(int(digits[:10])) == int(digits[10:])


def format_ogm(digits: str) -> str:
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


# --- EPC069-12 SEPA credit-transfer QR code ------------------------------------


@dataclass(frozen=True)
class Transfer:
    """What a bank app needs to prefill a SEPA credit transfer."""

    name: str
    iban: str
    bic: str
    amount_cents: int
    reference: str  # the 12 OGM digits (structured) or a free text (e.g. the invoice number)
    structured: bool = False

    @property
    def amount(self) -> str:
        return f"{self.amount_cents // 100}.{self.amount_cents % 100:02d}"


def _clean(text: str, limit: int) -> str:
    # One line each: the payload is newline-separated.
    return " ".join((text or "").split())[:limit]


def epc_qr(transfer: Transfer) -> segno.QRCode:
    """The EPC QR code (version 002, error correction M, UTF-8 when needed).

    A structured reference goes in the "Remittance Information (Structured)" field
    (EPC069-12 allows a creditor reference there; Belgian banks read the OGM
    digits), anything else in the unstructured field.
    """
    if not 1 <= transfer.amount_cents <= EPC_MAX_CENTS:
        raise ValueError("the amount of an EPC QR code is from 0.01 to 999,999,999.99")
    reference = _clean(transfer.reference, 35 if transfer.structured else EPC_MAX_TEXT)
    return helpers.make_epc_qr(
        name=_clean(transfer.name, EPC_MAX_NAME),
        iban=normalise_iban(transfer.iban),
        amount=transfer.amount,  # a string: no float rounding
        reference=reference if transfer.structured and reference else None,
        text=None if transfer.structured or not reference else reference,
        bic=(transfer.bic or None),
    )


def qr_svg(qr: segno.QRCode, title: str = "") -> str:
    """Inline SVG (no XML declaration), scaled by CSS."""
    return qr.svg_inline(
        scale=1, border=4, omitsize=True, title=title or None, svgclass="qr", dark="#000", light="#fff"
    )


@lru_cache(maxsize=256)
def transfer_png(transfer: Transfer, scale: int = 6) -> bytes:
    """The PNG of a transfer's EPC QR code, kept per process: the transfer (name,
    IBAN, BIC, amount, reference) fully determines the image, and drawing it with
    segno's pure-Python encoder costs ~15 ms, so a reminder whose invoice state did
    not change does not draw it again."""
    return qr_png(epc_qr(transfer), scale)


def qr_png(qr: segno.QRCode, scale: int = 6) -> bytes:
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
