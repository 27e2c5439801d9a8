"""Matching incoming bank credits with open invoices, best rule first:

1. structured reference (the invoice's Belgian structured communication
   +++123/4567/89012+++, Invoice.structured_ref) — certain;
2. the invoice number in the text — certain;
3. the exact open balance and the client's name — likely: to review;
4. the exact open balance only — possible: to review.

Certain matches are recorded as payments through app/invoicing.py (reminders
re-plan; partial payments allowed). While a credit waits for review with the
amount of an invoice's balance, that invoice's automatic reminders are held.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import force_locale, gettext
from sqlalchemy import and_, or_, select, update

from .. import payment
from ..extensions import db
from ..filters import date_filter
from ..invoicing import InvoiceRuleError, record_payment
from ..models import Account, Client, Invoice, StatementLine
from ..reminders import holds

CERTAIN = 90  # confidence at or above which a match is applied without asking
HOLD_REASON = "possible_payment"
PENDING_STATES = ("review", "unmatched")
REASON_CONFIDENCE = {
    "structured_reference": 100,
    "invoice_number": 90,
    "amount_and_name": 70,
    "amount_only": 40,
}

_OGM = re.compile(r"[+*]{3}\s*(\d{3})\s*/?\s*(\d{4})\s*/?\s*(\d{5})\s*[+*]{3}")
_DIGITS12 = re.compile(r"(?<!\d)(\d{3})[\s/]?(\d{4})[\s/]?(\d{5})(?!\d)")
_TOKEN = re.compile(r"[\w/-]+")


def ogm_valid(digits: str) -> bool:
    return len(digits) == 12 and digits.isdigit() and payment.is_valid_ogm(digits)


def _references_in(line: StatementLine) -> set[str]:
    found = set()
    for text in (line.reference, line.text):
        for match in _OGM.finditer(text or ""):
            found.add("".join(match.groups()))
    compact = re.sub(r"[\s/+*]", "", line.reference or "")
    if compact.isdigit() and len(compact) == 12:
        found.add(compact)
    for match in _DIGITS12.finditer(line.reference or ""):
        found.add("".join(match.groups()))
    return {d for d in found if ogm_valid(d)}


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", (text or "").lower())


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " " + re.sub(r"[^a-z0-9]+", " ", text).strip() + " "


_LEGAL = {
    "sarl",
    "sas",
    "sa",
    "eurl",
    "srl",
    "sprl",
    "bv",
    "nv",
    "ltd",
    "gmbh",
    "sasu",
    "inc",
    "llc",
    "et",
    "and",
    "the",
    "de",
    "la",
    "le",
    "les",
}


def _name_matches(client_name: str, haystack: str) -> bool:
    """The client's name (without legal forms) appears in the counterparty or text."""
    words = [w for w in _plain(client_name).split() if w not in _LEGAL and len(w) > 1]
    if not words:
        return False
    return all(f" {w} " in haystack for w in words)


@dataclass
class Match:
    invoice: Invoice
    reason: str
    confidence: int


class OpenInvoices:
    """The account's open invoices, indexed for the rules."""

    def __init__(self, account: Account):
        self.account = account
        self.invoices = db.session.scalars(
            select(Invoice)
            .join(Invoice.client)
            .where(
                Invoice.account_id == account.id,
                Invoice.status.in_(("sent", "draft")),
                Invoice.total_cents > Invoice.paid_cents,
            )
            .order_by(Invoice.due_on, Invoice.id)
        ).all()
        self.by_reference: dict[str, Invoice] = {}
        self.by_number: dict[str, Invoice] = {}
        self.by_balance: dict[tuple, list[Invoice]] = {}
        self.clients = {
            c.id: c for c in db.session.scalars(select(Client).where(Client.account_id == account.id))
        }
        for invoice in self.invoices:
            for ref in self.references_of(invoice):
                self.by_reference.setdefault(ref, invoice)
            key = _compact(invoice.number)
            if len(key) >= 4 or (len(key) >= 3 and not key.isdigit()):
                self.by_number.setdefault(key, invoice)
            self.by_balance.setdefault((invoice.currency, invoice.balance_cents), []).append(invoice)

    @staticmethod
    def references_of(invoice: Invoice) -> set[str]:
        """The invoice's structured communication (issue 7: +++123/4567/89012+++)."""
        return {invoice.structured_ref} if invoice.structured_ref else set()

    def find(self, line: StatementLine) -> Match | None:
        candidates = [
            invoice for invoice in (self.by_reference.get(d) for d in _references_in(line)) if invoice
        ]
        own = _compact(line.reference)
        if own and own in self.by_reference:
            candidates.append(self.by_reference[own])
        for invoice in candidates:
            if invoice.currency == line.currency and invoice.balance_cents > 0:
                return Match(invoice, "structured_reference", REASON_CONFIDENCE["structured_reference"])
        haystack = f"{line.text} {line.reference}"
        for token in _TOKEN.findall(haystack):
            invoice = self.by_number.get(_compact(token))
            if invoice and invoice.currency == line.currency and invoice.balance_cents > 0:
                return Match(invoice, "invoice_number", REASON_CONFIDENCE["invoice_number"])
        same_amount = [
            i for i in self.by_balance.get((line.currency, line.amount_cents), []) if i.balance_cents > 0
        ]
        if not same_amount:
            return None
        names = _plain(f"{line.counterparty} {line.text}")
        named = [i for i in same_amount if _name_matches(self.clients[i.client_id].name, names)]
        if named:
            return Match(named[0], "amount_and_name", REASON_CONFIDENCE["amount_and_name"])
        return Match(same_amount[0], "amount_only", REASON_CONFIDENCE["amount_only"])

    def paid(self, invoice: Invoice, old_balance: int) -> None:
        """Keep the balance index right after a payment."""
        bucket = self.by_balance.get((invoice.currency, old_balance), [])
        if invoice in bucket:
            bucket.remove(invoice)
        if invoice.balance_cents > 0:
            self.by_balance.setdefault((invoice.currency, invoice.balance_cents), []).append(invoice)


class AlreadyHandled(Exception):
    """Another request (a double click, a second tab) handled the line first."""


def _claim(line: StatementLine, state: str) -> None:
    """Move a pending line to ``state`` only if it is still pending, in one
    conditional UPDATE: of two concurrent requests (PostgreSQL row lock, SQLite
    write lock) exactly one changes the row; the other raises AlreadyHandled."""
    result = db.session.execute(
        update(StatementLine)
        .where(StatementLine.id == line.id, StatementLine.state.in_(PENDING_STATES))
        .values(state=state)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyHandled()
    line.state = state


def apply_payment(line: StatementLine, invoice: Invoice) -> None:
    """Record the line as a payment of the invoice (at most its balance)."""
    amount = min(line.amount_cents, invoice.balance_cents)
    if amount <= 0:
        raise InvoiceRuleError("nothing due")
    _claim(line, "applied")
    payment = record_payment(invoice, amount, line.booked_on, "transfer", f"bank {line.bank_id}"[:140])
    db.session.flush()
    line.invoice_id = invoice.id
    line.payment_id = payment.id


def match_lines(account: Account, line_ids) -> dict[str, int]:
    """Match the given (new) lines; returns how many were applied / to review / unmatched."""
    counts = {"applied": 0, "review": 0, "unmatched": 0}
    if not line_ids:
        return counts
    index = OpenInvoices(account)
    for start in range(0, len(line_ids), 500):
        lines = db.session.scalars(
            select(StatementLine)
            .where(StatementLine.id.in_(line_ids[start : start + 500]), StatementLine.state == "unmatched")
            .order_by(StatementLine.booked_on, StatementLine.id)
        ).all()
        for line in lines:
            match = index.find(line)
            if match is None:
                counts["unmatched"] += 1
                continue
            line.invoice_id = match.invoice.id
            line.match_reason = match.reason
            line.confidence = match.confidence
            certain = match.confidence >= CERTAIN and line.amount_cents <= match.invoice.balance_cents
            if certain:
                old_balance = match.invoice.balance_cents
                apply_payment(line, match.invoice)
                index.paid(match.invoice, old_balance)
                counts["applied"] += 1
            else:
                line.state = "review"
                counts["review"] += 1
    refresh_holds(account)
    return counts


def confirm(line: StatementLine) -> Invoice:
    invoice = line.invoice
    apply_payment(line, invoice)
    refresh_holds(db.session.get(Account, line.account_id))
    return invoice


def dismiss(line: StatementLine) -> None:
    _claim(line, "dismissed")
    refresh_holds(db.session.get(Account, line.account_id))


def refresh_holds(account: Account) -> None:
    """Hold the automatic reminders of every open invoice whose balance equals an
    incoming credit still waiting for review (or that a review line points to);
    release the holds of ours that no longer have such a line. Other holds (a
    client's answer) are left alone."""
    db.session.flush()
    pending = db.session.execute(
        select(
            StatementLine.amount_cents,
            StatementLine.currency,
            StatementLine.invoice_id,
            StatementLine.booked_on,
        )
        .where(
            StatementLine.account_id == account.id,
            StatementLine.state.in_(PENDING_STATES),
            StatementLine.amount_cents > 0,
        )
        .order_by(StatementLine.booked_on)
    ).all()
    by_amount: dict[tuple, object] = {}
    by_invoice: dict[int, object] = {}
    for amount, currency, invoice_id, booked_on in pending:
        by_amount.setdefault((currency, amount), booked_on)
        if invoice_id:
            by_invoice.setdefault(invoice_id, booked_on)
    candidates = db.session.scalars(
        select(Invoice).where(
            Invoice.account_id == account.id,
            or_(
                Invoice.hold_reason == HOLD_REASON,
                and_(
                    Invoice.status == "sent",
                    Invoice.total_cents > Invoice.paid_cents,
                    or_(
                        Invoice.id.in_(list(by_invoice)),
                        (Invoice.total_cents - Invoice.paid_cents).in_([a for _c, a in by_amount]),
                    ),
                ),
            ),
        )
    ).all()
    for invoice in candidates:
        day = None
        if invoice.status == "sent" and invoice.balance_cents > 0:
            day = by_invoice.get(invoice.id) or by_amount.get((invoice.currency, invoice.balance_cents))
        if day is None:
            if invoice.hold_reason == HOLD_REASON:
                holds.release(invoice, HOLD_REASON)
            continue
        if invoice.hold_reason not in ("", HOLD_REASON):
            continue  # a client's answer already holds it
        with force_locale(account.language):
            detail = gettext("possible payment on %(day)s, review", day=date_filter(day, "d MMM"))
        if invoice.hold_reason != HOLD_REASON or invoice.hold_detail != detail:
            holds.hold(invoice, HOLD_REASON, detail=detail)


def describe_day(day) -> str:
    return date_filter(day, "d MMM")
