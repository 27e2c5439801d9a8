"""Invoice and payment rules: numbering, totals, payments, status. No HTTP here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from . import clock
from .extensions import db
from .models import Event, Invoice, InvoiceLine, Payment
from .reminders import planning


class InvoiceRuleError(ValueError):
    """A change refused by the rules; ``str(error)`` is the message to show."""


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity_milli: int
    unit_price_cents: int
    vat_rate_bp: int


def line_net_cents(quantity_milli: int, unit_price_cents: int) -> int:
    # Round half up on integer arithmetic: no float ever touches money.
    return (quantity_milli * unit_price_cents + 500) // 1000


def line_vat_cents(net_cents: int, vat_rate_bp: int) -> int:
    return (net_cents * vat_rate_bp + 5000) // 10000


def lines_totals(lines) -> tuple[int, int, int]:
    """(net, VAT, total) in cents for line items with the four LineInput fields."""
    net = vat = 0
    for line in lines:
        line_net = line_net_cents(line.quantity_milli, line.unit_price_cents)
        net += line_net
        vat += line_vat_cents(line_net, line.vat_rate_bp)
    return net, vat, net + vat


_NUMBER = re.compile(r"^F-(\d{4})-(\d+)$")


def suggest_number(account_id: int, year: int | None = None) -> str:
    """Next free number of the form F-2026-001 for this account."""
    year = year or clock.today().year
    prefix = f"F-{year}-"
    numbers = db.session.scalars(
        select(Invoice.number).where(Invoice.account_id == account_id, Invoice.number.like(prefix + "%"))
    )
    highest = 0
    for number in numbers:
        match = _NUMBER.match(number)
        if match:
            highest = max(highest, int(match.group(2)))
    return f"{prefix}{highest + 1:03d}"


def number_taken(account_id: int, number: str, exclude_id: int | None = None) -> bool:
    query = select(func.count(Invoice.id)).where(
        Invoice.account_id == account_id, func.lower(Invoice.number) == number.lower()
    )
    if exclude_id is not None:
        query = query.where(Invoice.id != exclude_id)
    return db.session.scalar(query) > 0


def set_lines(invoice: Invoice, lines: list[LineInput]) -> None:
    """Replace the line items; with lines the total is computed from them."""
    invoice.lines.clear()
    for position, line in enumerate(lines):
        invoice.lines.append(
            InvoiceLine(
                position=position,
                description=line.description,
                quantity_milli=line.quantity_milli,
                unit_price_cents=line.unit_price_cents,
                vat_rate_bp=line.vat_rate_bp,
            )
        )
    if lines:
        invoice.total_cents = lines_totals(lines)[2]


def refresh_status(invoice: Invoice) -> None:
    """Derive "paid" from the payments; undo it when a payment goes away."""
    invoice.paid_cents = sum(p.amount_cents for p in invoice.payments)
    if invoice.status == "void":
        return
    if invoice.total_cents > 0 and invoice.paid_cents >= invoice.total_cents:
        invoice.status = "paid"
    elif invoice.status == "paid":
        invoice.status = "sent" if invoice.sent_at else "draft"


def check_total(invoice: Invoice) -> None:
    if invoice.total_cents < invoice.paid_cents:
        raise InvoiceRuleError(_l("The total cannot be less than what was already paid."))


def last_payment_on(account_id: int) -> date | None:
    """The date of the latest payment recorded on the account, if any."""
    return db.session.scalar(select(func.max(Payment.paid_on)).where(Payment.account_id == account_id))


def record_payment(
    invoice: Invoice, amount_cents: int, paid_on: date, method: str, reference: str = ""
) -> Payment:
    if invoice.status == "void":
        raise InvoiceRuleError(_l("This invoice is void: it cannot receive payments."))
    if amount_cents <= 0:
        raise InvoiceRuleError(_l("The amount must be more than zero."))
    if amount_cents > invoice.balance_cents:
        raise InvoiceRuleError(_l("This is more than the balance due on this invoice."))
    payment = Payment(
        account_id=invoice.account_id,
        amount_cents=amount_cents,
        paid_on=paid_on,
        method=method,
        reference=reference,
    )
    invoice.payments.append(payment)
    refresh_status(invoice)
    planning.replan(invoice)
    log(invoice, "payment_recorded", str(amount_cents))
    return payment


def update_payment(
    invoice: Invoice,
    payment: Payment,
    amount_cents: int,
    paid_on: date,
    method: str,
    reference: str,
) -> None:
    others = sum(p.amount_cents for p in invoice.payments if p.id != payment.id)
    if amount_cents <= 0:
        raise InvoiceRuleError(_l("The amount must be more than zero."))
    if others + amount_cents > invoice.total_cents:
        raise InvoiceRuleError(_l("This is more than the balance due on this invoice."))
    payment.amount_cents = amount_cents
    payment.paid_on = paid_on
    payment.method = method
    payment.reference = reference
    refresh_status(invoice)
    planning.replan(invoice)
    log(invoice, "payment_updated", str(amount_cents))


def delete_payment(invoice: Invoice, payment: Payment) -> None:
    invoice.payments.remove(payment)
    db.session.delete(payment)
    refresh_status(invoice)
    planning.replan(invoice)
    log(invoice, "payment_deleted", str(payment.amount_cents))


def mark_sent(invoice: Invoice, via: str, sent_at: datetime | None = None) -> None:
    if invoice.status == "void":
        raise InvoiceRuleError(_l("This invoice is void."))
    invoice.sent_via = via
    invoice.sent_at = sent_at or clock.now()
    if invoice.status == "draft":
        invoice.status = "sent"
    refresh_status(invoice)
    planning.replan(invoice)
    log(invoice, "invoice_sent", via)


def void(invoice: Invoice) -> None:
    if invoice.status == "void":
        return
    if invoice.paid_cents > 0:
        raise InvoiceRuleError(_l("Payments were recorded on this invoice: delete them before voiding it."))
    invoice.status = "void"
    invoice.voided_at = clock.now()
    planning.replan(invoice)
    log(invoice, "invoice_voided")


def log(invoice: Invoice, kind: str, detail: str = "") -> None:
    db.session.add(Event(account_id=invoice.account_id, invoice=invoice, kind=kind, detail=detail))
