"""Why an invoice may or may not get automatic reminders (DESIGN.md rule 2)."""

from __future__ import annotations

from .. import clock
from ..extensions import db
from ..models import Account, Client, Invoice

EMAIL_SENT = ("email_relance", "email_other")

# Reason codes, in the order the owner should read them.
REASONS = (
    "void",
    "draft",
    "paid",
    "not_sent_by_email",
    "no_due_date",
    "instalment_plan",
    "account_off",
    "client_paused",
    "invoice_off",
    "held",
    "no_email",
)


def is_held(invoice: Invoice, account: Account) -> bool:
    """A hold is on (app/reminders/holds.py): set, and its last day not passed."""
    if not invoice.hold_reason:
        return False
    if invoice.hold_until is None:
        return True
    from .planning import hold_ends_at  # planning imports this module

    return clock.now() < hold_ends_at(invoice.hold_until, account.timezone, account.reminder_send_time)


def blocking_reason(invoice: Invoice, account=None, client=None) -> str | None:
    """The first reason this invoice gets no automatic reminder, or None."""
    account = account or invoice.account or db.session.get(Account, invoice.account_id)
    client = client or invoice.client or db.session.get(Client, invoice.client_id)
    if invoice.status == "void":
        return "void"
    if invoice.status == "draft" or invoice.sent_at is None:
        return "draft"
    if invoice.status == "paid" or invoice.total_cents - invoice.paid_cents <= 0:
        return "paid"
    if invoice.sent_via not in EMAIL_SENT:
        return "not_sent_by_email"
    if invoice.due_on is None:
        return "no_due_date"
    if invoice.instalment_plan:
        return "instalment_plan"
    if not account.reminders_enabled:
        return "account_off"
    if client.reminders_paused:
        return "client_paused"
    if not invoice.reminders_enabled:
        return "invoice_off"
    if is_held(invoice, account):
        return "held"
    if not client.email:
        return "no_email"
    return None
