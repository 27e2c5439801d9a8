"""Holds (DESIGN.md rule 2): an invoice's automatic reminders wait.

A client answered on the invoice's public page ("I've paid", "I dispute this
invoice", "I'll pay on …"), or a bank statement line may be this invoice's
payment: sending a reminder then would be wrong or rude. A hold is three columns
on the invoice — ``hold_reason`` (a code below), ``hold_detail`` (what the owner
reads, e.g. "possible payment on 21 Nov") and ``hold_until`` (the hold ends after
that day, in the account's time zone; NULL = until released).

While held, reminders waiting to go are put in state "held" (shown on the
timeline with the reason), the planner leaves the invoice alone, and the worker
re-checks at the moment of sending. ``release`` (or the end of ``hold_until``)
lets the planner decide the steps afresh, with the usual catch-up rule: only the
latest step that is due goes, never a burst.
"""

from __future__ import annotations

from datetime import date

from ..invoicing import log
from ..models import Invoice
from .planning import replan

# The codes other parts of the app use. Keep them short: Reminder.reason is 40 chars.
HOLD_REASONS = ("client_paid", "client_dispute", "client_promise", "possible_payment")


def hold(invoice: Invoice, reason: str, detail: str = "", until: date | None = None) -> None:
    """Hold the invoice's automatic reminders. Call inside the request's transaction."""
    if reason not in HOLD_REASONS:
        raise ValueError(f"unknown hold reason {reason!r}")
    invoice.hold_reason = reason
    invoice.hold_detail = (detail or "")[:200]
    invoice.hold_until = until
    log(invoice, "reminders_held", reason)
    replan(invoice)


def release(invoice: Invoice, reason: str | None = None) -> bool:
    """End the hold (all of it, or only when it is for ``reason``). True if one ended."""
    if not invoice.hold_reason or (reason is not None and invoice.hold_reason != reason):
        return False
    previous = invoice.hold_reason
    invoice.hold_reason = ""
    invoice.hold_detail = ""
    invoice.hold_until = None
    log(invoice, "reminders_resumed", previous)
    replan(invoice)
    return True
