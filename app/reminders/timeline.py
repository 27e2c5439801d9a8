"""What the owner sees of an invoice's reminders: every step with its state, and
the answer to "why is no reminder going out?"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Invoice, Reminder, ReminderItem
from . import planning
from . import schedule as rules
from .eligibility import blocking_reason

REASON_TEXT = {
    "void": _l("the invoice is void"),
    "draft": _l("the invoice has not been sent to the client yet"),
    "paid": _l("the invoice is paid"),
    "not_sent_by_email": _l("the invoice was not sent by email (post or by hand)"),
    "no_due_date": _l("the invoice has no due date"),
    "instalment_plan": _l("the client pays by pre-authorised instalments"),
    "account_off": _l("payment reminders are switched off for your account"),
    "client_paused": _l("reminders are paused for this client"),
    "invoice_off": _l("payment reminders are switched off for this invoice"),
    "no_email": _l("the client has no email address"),
    "held": _l("reminders are on hold for this invoice"),
    # Why a hold is on (app/reminders/holds.py); also the reason of a reminder held.
    "client_paid": _l("on hold: the client says they have paid"),
    "client_dispute": _l("on hold: the client disputes this invoice"),
    "client_promise": _l("on hold: the client promised to pay on a date"),
    "possible_payment": _l("on hold: a bank payment may be for this invoice, review it"),
    "grouped": _l("sent in one email with the client's other invoices due that day"),
    "superseded": _l("a later reminder was due at the same time (catch-up after a pause)"),
    "due_date_reached": _l("the due date had come: a before-due reminder is never sent late"),
    "refused": _l("the mail server refused it"),
    "render_error": _l("this reminder could not be prepared (its text or PDF): it was not sent"),
    "temporary": _l("the mail server asked to try again later"),
    "gave_up": _l("the mail server kept refusing it; Relance gave up"),
    "worker_lost": _l("the sending process stopped in the middle: it may have arrived"),
    "smtp_uncertain": _l("the connection broke while sending: it may have arrived"),
    "rescheduled": _l("the due date or the schedule changed after it was prepared"),
    "not_needed": _l("not needed: the invoice was sent on or after that day"),
    # Held back by the gate (issue 14: no open relay, app/reminders/limits.py).
    "unverified": _l("waiting for you to confirm your email address"),
    "daily_limit": _l("today's limit of emails to clients is reached: it goes out the next day"),
}


def step_label(offset: int) -> str:
    if offset < 0:
        return _l("%(num)d days before the due date", num=-offset)
    if offset == 0:
        return _l("On the due date")
    return _l("%(num)d days after the due date", num=offset)


@dataclass
class Entry:
    offset: int | None
    label: str
    on: date | None
    at: datetime | None
    state: str  # a reminder state, or "planned", "not_needed", "blocked", "due_now"
    reason: str = ""
    reminder: Reminder | None = None


def invoice_timeline(invoice: Invoice) -> tuple[list[Entry], str | None]:
    """The steps of the account's schedule for this invoice, merged with the reminders
    already decided, and a sentence when nothing more will go out."""
    now = clock.now()
    account = invoice.account
    rows = db.session.scalars(
        select(Reminder)
        .where(Reminder.invoice_id == invoice.id, Reminder.kind == "step")
        .order_by(Reminder.step_offset, Reminder.id)
    ).all()
    by_offset = {r.step_offset: r for r in rows}
    blocked = blocking_reason(invoice)
    entries: list[Entry] = []
    try:
        planned_steps = rules.steps(planning.facts_of(invoice), planning.schedule_of(account), now)
    except (OverflowError, ValueError):  # a due date the calendar cannot carry
        planned_steps = []
    for step in planned_steps:
        row = by_offset.pop(step.offset, None)
        label = step_label(step.offset)
        if row is not None:
            entries.append(Entry(step.offset, label, step.on, step.at, row.state, row.reason, row))
        elif step.status == rules.NOT_NEEDED:
            entries.append(Entry(step.offset, label, step.on, step.at, "not_needed", "not_needed"))
        elif blocked == "held":
            entries.append(Entry(step.offset, label, step.on, step.at, "held", invoice.hold_reason))
        elif blocked and blocked != "no_email":
            entries.append(Entry(step.offset, label, step.on, step.at, "blocked", blocked))
        elif step.status == rules.FUTURE:
            entries.append(Entry(step.offset, label, step.on, step.at, "planned"))
        elif step.status == rules.SUPERSEDED:
            entries.append(Entry(step.offset, label, step.on, step.at, "skipped", "superseded"))
        elif step.status == rules.TOO_LATE:
            entries.append(Entry(step.offset, label, step.on, step.at, "skipped", "due_date_reached"))
        else:
            entries.append(Entry(step.offset, label, step.on, step.at, "due_now"))
    for row in by_offset.values():  # steps of an earlier schedule
        entries.append(
            Entry(row.step_offset, step_label(row.step_offset), row.step_on, None, row.state, row.reason, row)
        )
    entries.sort(key=lambda e: (e.on or date.max, e.offset or 0))

    why = None
    coming = any(
        e.state in ("planned", "due_now", "scheduled", "sending", "awaiting_approval") for e in entries
    )
    retrying = any(e.state == "failed" and e.reminder and e.reminder.next_attempt_at for e in entries)
    if not coming and not retrying:
        if blocked == "held":
            why = REASON_TEXT.get(invoice.hold_reason, REASON_TEXT["held"])
            if invoice.hold_detail:
                why = f"{why} ({invoice.hold_detail})"
        elif blocked:
            why = REASON_TEXT[blocked]
        elif entries:
            why = _l("every step of your reminder schedule for this invoice is behind us")
        else:
            why = _l("your reminder schedule has no step for this invoice")
    return entries, why


def sent_reminders(invoice_ids) -> dict[int, dict[int, tuple[datetime, str]]]:
    """{invoice id: {reminder id: (sent_at, channel)}} of the reminders sent that
    covered each invoice, as its own step or through an item (not the invoice's
    own email), in two queries.

    Both select by invoice only and the state is checked here: with ``state =
    'sent'`` in the WHERE, SQLite (no statistics) walks the index that starts with
    the state, i.e. every sent reminder of every account, instead of the few rows
    of these invoices (tests/test_query_plans.py)."""
    found: dict[int, dict[int, tuple[datetime, str]]] = {i: {} for i in invoice_ids if i is not None}
    if not found:
        return {}
    ids = list(found)
    columns = (Reminder.id, Reminder.sent_at, Reminder.channel, Reminder.kind, Reminder.state)
    own = select(Reminder.invoice_id, *columns).where(Reminder.invoice_id.in_(ids))
    items = (
        select(ReminderItem.invoice_id, *columns)
        .join(Reminder, Reminder.id == ReminderItem.reminder_id)
        .where(ReminderItem.invoice_id.in_(ids))
    )
    for query in (own, items):
        for invoice_id, reminder_id, sent_at, channel, kind, state in db.session.execute(query):
            if kind != "invoice" and state == "sent" and sent_at is not None:
                found[invoice_id][reminder_id] = (sent_at, channel)
    return found


def last_sent(invoice_ids) -> dict[int, tuple[datetime, int]]:
    """For each invoice: when its last reminder went out and how many went out,
    counting the reminders that covered it with others (their items)."""
    return {
        invoice_id: (max(at for at, _channel in sent.values()), len(sent))
        for invoice_id, sent in sent_reminders(invoice_ids).items()
        if sent
    }


def invoice_email(invoice: Invoice) -> Reminder | None:
    """The latest "Send by email" of this invoice, if any."""
    return db.session.scalar(
        select(Reminder)
        .where(Reminder.invoice_id == invoice.id, Reminder.kind == "invoice")
        .order_by(Reminder.id.desc())
        .limit(1)
    )
