"""Why an invoice may or may not get automatic reminders (DESIGN.md rule 2)."""

from __future__ import annotations

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
    "no_email",
)


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
    if not client.email:
        return "no_email"
    return None
