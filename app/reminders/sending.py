"""Render a reminder, hand it to the SMTP server, record the outcome.

Outcomes (DESIGN.md rule 5): a 4xx answer is temporary (retried with back-off),
a 5xx answer is permanent (failed, shown), and a connection lost or a timeout
after the message data was handed over is *unknown*: it may have gone, so it is
never resent automatically.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .. import clock, invoicing, mailer, payinfo
from ..documents import messages, outgoing
from ..extensions import db
from ..filters import money
from ..models import Account, Client, Invoice, Reminder, ReminderItem
from . import gate, planning
from .eligibility import blocking_reason, is_held
from .levels import level_name

log = logging.getLogger(__name__)


class Temporary(Exception):
    """The server said "not now" before taking the message: safe to retry."""


class Permanent(Exception):
    """The server refused the message for good."""


class Uncertain(Exception):
    """The transaction broke after the data went out: it may have been delivered."""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    # (Content-ID, filename, content type, bytes) shown inside the HTML (the QR code).
    inline: list = field(default_factory=list)
    # (filename, content type, bytes): the invoice PDF, stamped when overdue (issue 6).
    attachments: list = field(default_factory=list)


def language_of(client: Client, account: Account) -> str:
    return client.language if client.language in current_app.config["LANGUAGES"] else account.language


def days_left(invoice: Invoice, account: Account) -> int:
    return (invoice.due_on - clock.today(account.timezone)).days


def step_subject(number: str, left: int) -> str:
    """Subject in the current locale: due in N days, due today, N days overdue."""
    if left > 0:
        return ngettext(
            "Reminder: invoice %(number)s is due tomorrow",
            "Reminder: invoice %(number)s is due in %(num)d days",
            left,
            number=number,
        )
    if left == 0:
        return _("Reminder: invoice %(number)s is due today", number=number)
    return ngettext(
        "Reminder: invoice %(number)s is %(num)d day overdue",
        "Reminder: invoice %(number)s is %(num)d days overdue",
        -left,
        number=number,
    )


def render_step(
    invoice: Invoice,
    client: Client,
    account: Account,
    left: int,
    sample: bool = False,
    due_on=None,
    level: int = 0,
) -> Rendered:
    """The email of an automatic reminder: the owner's text for its kind (before the
    due date, on it, or its level) in the client's language, rendered in the sandbox
    exactly as the Templates editor previews it (app/documents).

    ``left`` is the number of days until the due date (negative when overdue);
    previews pass the ``due_on`` that matches it.
    """
    today = None
    if due_on is not None and invoice.due_on is not None:
        today = invoice.due_on - timedelta(days=left)  # a preview: as if on that day
    email = outgoing.reminder_email(
        account,
        client,
        [invoice],
        outgoing.kind_for([invoice], left, level if left < 0 else None),
        sample=sample,
        today=today,
        with_link=not sample and due_on is None,
        level=level if left < 0 else 0,
    )
    return Rendered(subject=email.subject, text=email.text, html=email.html, inline=email.inline)


def level_subject(level: int, numbers: list[str], left: int | None) -> str:
    """Subject of a reminder at ``level`` for these invoice numbers, in the current
    locale. ``left``: days until the due date of a single invoice (None: no due date)."""
    if len(numbers) > 1:
        return ngettext(
            "%(title)s: %(num)d unpaid invoice",
            "%(title)s: %(num)d unpaid invoices",
            len(numbers),
            title=level_name(max(level, 1)),
        )
    number = numbers[0]
    if level <= 1 and left is not None:
        return step_subject(number, left)
    if left is None or left >= 0:
        return _("%(title)s: invoice %(number)s is unpaid", title=level_name(max(level, 1)), number=number)
    return ngettext(
        "%(title)s: invoice %(number)s is %(num)d day overdue",
        "%(title)s: invoice %(number)s is %(num)d days overdue",
        -left,
        title=level_name(level),
        number=number,
    )


# Reminders decided by a click (a manual selection, a batch, a client's page) or a
# grouping of steps: they cover their items' invoices, one email per client.
ITEM_KINDS = ("manual", "batch", "client", "group")


def account_of(reminder: Reminder) -> Account:
    if reminder.invoice is not None:
        return reminder.invoice.account
    return reminder.client.account


def render_items(reminder: Reminder, invoices: list[Invoice], sample: bool = False) -> Rendered:
    """The email of a reminder covering one or more invoices, at the reminder's level:
    the owner's grouped text (or the level's text for one invoice), app/documents."""
    client = reminder.client
    account = account_of(reminder)
    today = clock.today(account.timezone)
    single = invoices[0] if len(invoices) == 1 else None
    left = (single.due_on - today).days if single is not None and single.due_on else None
    email = outgoing.reminder_email(
        account,
        client,
        invoices,
        outgoing.kind_for(invoices, left, reminder.level),
        sample=sample,
        with_link=not sample,
        level=reminder.level,
    )
    return Rendered(subject=email.subject, text=email.text, html=email.html, inline=email.inline)


def covered_invoices(reminder: Reminder) -> list[Invoice]:
    """The invoices a reminder covers: its items, or its own invoice (a step's only
    item, once sent, is its own invoice)."""
    if reminder.kind in ITEM_KINDS:
        return [item.invoice for item in reminder.items]
    return [reminder.invoice] if reminder.invoice is not None else []


def render_reminder(reminder: Reminder) -> Rendered:
    """THE text source of every reminder email (step, manual, batch, grouped) and of
    the invoice's own email: what the client receives, in their language."""
    if reminder.kind == "invoice":
        return render_invoice_email(reminder, reminder.invoice, reminder.invoice.account)
    if reminder.kind in ITEM_KINDS:
        return render_items(reminder, covered_invoices(reminder))
    invoice = reminder.invoice
    account = invoice.account
    return render_step(invoice, invoice.client, account, days_left(invoice, account), level=reminder.level)


def render_invoice_email(reminder: Reminder, invoice: Invoice, account: Account) -> Rendered:
    """The invoice's own email: the owner's subject and message, with the facts."""
    with force_locale(language_of(invoice.client, account)):
        context = {
            "invoice": invoice,
            "client": invoice.client,
            "account": account,
            "message": reminder.body,
            "balance": money(invoice.balance_cents, invoice.currency),
            "total": money(invoice.total_cents, invoice.currency),
        }
        return Rendered(
            subject=reminder.subject,
            text=render_template("emails/invoice.txt", **context),
            html=render_template("emails/invoice.html", **context),
        )


def default_invoice_email(invoice: Invoice, account: Account) -> tuple[str, str]:
    """Prefilled subject and message of "Send by email", in the client's language."""
    with force_locale(language_of(invoice.client, account)):
        subject = _(
            "Invoice %(number)s from %(business)s", number=invoice.number, business=account.business_name
        )
        body = render_template(
            "emails/invoice_message.txt",
            invoice=invoice,
            client=invoice.client,
            account=account,
            total=money(invoice.total_cents, invoice.currency),
        )
    return subject, body.strip()


def message_id(reminder: Reminder) -> str:
    """Deterministic: the same reminder always carries the same Message-ID."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    digest = hashlib.sha256(reminder.key.encode()).hexdigest()[:12]
    return f"<reminder-{reminder.id}.{digest}@{domain or 'relance.invalid'}>"


def sender_for(account: Account) -> str:
    """The From display name of the account's mail: its business name, "via
    Relance" (the address is always ours). The policy quotes and encodes it
    (mailer.build), so commas and accents arrive as written; mailer.display_name
    drops line breaks and the characters of an address."""
    return f"{mailer.display_name(account.business_name, 150)} via Relance"


# Reminders that go without anybody clicking for them (a schedule step, steps
# grouped by the engine): Auto-Submitted: auto-generated (RFC 3834). A click by
# the owner (manual, batch, a client's reminders, the invoice's own email, the
# preview) is a person writing: no Auto-Submitted header.
AUTOMATIC_KINDS = ("step", "group")


def build_message(
    rendered: Rendered, recipient: str, account: Account, msg_id: str | None = None, automatic: bool = False
) -> mailer.Mail:
    """What the message to ``recipient`` is made of; written by mailer.build."""
    return mailer.compose(
        rendered.subject,
        [recipient],
        rendered.text,
        rendered.html,
        reply_to=account.reply_to_email or account.email,
        message_id=msg_id,
        sender_name=sender_for(account),
        auto_submitted=automatic,
        inline=getattr(rendered, "inline", ()),
    )


def deliver(smtp: smtplib.SMTP, message: mailer.Mail, data: bytes | None = None) -> None:
    """One SMTP transaction with the outcome classified (see module docstring).

    ``data``: the message already written (``mailer.to_bytes``), so that this can
    run on a thread without the application context.
    """
    sender = message.sender
    try:
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(sender)
        if code != 250:
            _raise_for(code, reply)
        for recipient in message.to:
            code, reply = smtp.rcpt(mailer.address(recipient).addr_spec)
            if code not in (250, 251):
                _raise_for(code, reply)
    except (UnicodeError, mailer.BadAddress) as error:  # an address SMTP cannot carry: nothing left
        _reset(smtp)
        raise Permanent(f"address not deliverable: {error}") from error
    except (smtplib.SMTPServerDisconnected, OSError) as error:
        raise Temporary(str(error)) from error
    except (Temporary, Permanent):
        _reset(smtp)
        raise
    except smtplib.SMTPException as error:  # anything else before the data: not sent
        _reset(smtp)
        raise Temporary(str(error) or error.__class__.__name__) from error
    try:
        code, reply = smtp.data(mailer.to_bytes(message) if data is None else data)
        if code != 250:  # smtplib only raises for the 354 step; the final answer is ours
            raise smtplib.SMTPDataError(code, reply)
    except smtplib.SMTPDataError as error:
        _reset(smtp)
        _raise_for(error.smtp_code, error.smtp_error)
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as error:
        raise Uncertain(str(error) or error.__class__.__name__) from error


def _raise_for(code, reply):
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    if 400 <= code < 500:
        raise Temporary(f"{code} {text}")
    raise Permanent(f"{code} {text}")


def _reset(smtp):
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        pass


class Connection:
    """A lazily opened SMTP connection shared by a batch, reopened after a break."""

    def __init__(self):
        self.outbox = None

    def get(self) -> smtplib.SMTP:
        if self.outbox is None:
            try:
                self.outbox = mailer.Outbox().__enter__()
            except (smtplib.SMTPException, OSError) as error:
                self.outbox = None
                raise Temporary(f"cannot reach the mail server: {error}") from error
        return self.outbox.smtp

    def drop(self):
        if self.outbox is not None:
            try:
                self.outbox.smtp.close()
            except OSError:
                pass
        self.outbox = None

    def close(self):
        if self.outbox is not None:
            self.outbox.__exit__(None, None, None)
        self.outbox = None


_FINISH: dict[tuple[str, ...], object] = {}


def _finish(reminder_id: int, commit: bool = True, **values) -> None:
    """Record the outcome of a reminder this worker holds (state "sending")."""
    values.setdefault("updated_at", clock.now())
    names = tuple(sorted(values))
    statement = _FINISH.get(names)
    if statement is None:
        # One statement per set of columns, built once (building it cost more
        # than running it).
        c = Reminder.__table__.c
        statement = _FINISH[names] = (
            update(Reminder.__table__)
            .where(
                c.id == bindparam("reminder_id"),
                # A send that outlived its lease was swept to unknown/worker_lost;
                # its real outcome, when it comes, replaces that guess.
                or_(c.state == "sending", and_(c.state == "unknown", c.reason == "worker_lost")),
            )
            .values(lease_until=None, **{name: bindparam(f"new_{name}") for name in names})
        )
    db.session.execute(
        statement, {"reminder_id": reminder_id, **{f"new_{name}": value for name, value in values.items()}}
    )
    if commit:
        db.session.commit()


# A later step of the same invoice already sent (or possibly sent): read with the
# reminder itself, in the same statement.
_LATER = aliased(Reminder)
_LATER_SENT = (
    select(_LATER.id)
    .where(
        _LATER.invoice_id == Reminder.invoice_id,
        _LATER.kind == "step",
        _LATER.step_offset > func.coalesce(Reminder.step_offset, 0),
        _LATER.state.in_(("sent", "sending", "unknown")),
    )
    .limit(1)
    .correlate(Reminder)
    .scalar_subquery()
)

# The claimed reminder with its invoice and the invoice's account and client, and
# whether a later step went out, in one query; built once (building it cost more
# than running it).
_LOAD = (
    select(Reminder, _LATER_SENT.label("later_sent"))
    .where(Reminder.id == bindparam("reminder_id"))
    .options(
        joinedload(Reminder.invoice).joinedload(Invoice.account),
        joinedload(Reminder.invoice).joinedload(Invoice.client),
    )
)

# The items of a reminder decided by a click or a grouping, with their invoices
# (a step has none before it is sent: its item is written with its outcome).
_LOAD_ITEMS = (
    select(Reminder)
    .where(Reminder.id == bindparam("reminder_id"))
    .options(joinedload(Reminder.items).joinedload(ReminderItem.invoice))
)


def _load(reminder_id: int) -> tuple[Reminder, bool]:
    """The reminder (with its items when it covers several invoices) and whether a
    later step of its invoice was already sent."""
    reminder, later_sent = db.session.execute(_LOAD, {"reminder_id": reminder_id}).unique().one()
    if reminder.kind in ITEM_KINDS:
        db.session.execute(_LOAD_ITEMS, {"reminder_id": reminder_id}).unique().all()
    return reminder, later_sent is not None


def _recheck(reminder: Reminder, later_sent: bool) -> tuple[str, str] | None:
    """At the moment of sending, is it still right to send? (state, reason) if not."""
    invoice = reminder.invoice
    if reminder.kind == "invoice":
        if invoice is None or invoice.status == "void":
            return "cancelled", "void"
        return None
    why = blocking_reason(invoice)
    if why == "no_email":
        return "skipped", "no_email"
    if why == "held":
        return "held", invoice.hold_reason
    if why is not None:
        return "cancelled", why
    account = invoice.account
    if reminder.step_offset is not None and reminder.step_offset < 0 and days_left(invoice, account) <= 0:
        return "skipped", "due_date_reached"
    if later_sent:
        return "skipped", "superseded"
    return None


def send_batch(reminder_ids) -> dict[str, int]:
    """See :func:`_send_batch`; what the fees of these reminders need (the earlier
    reminders of their invoices, the fee settings) is read once for the batch."""
    ids = list(reminder_ids)
    if not ids:
        return {}
    with payinfo.fee_batch(_invoice_ids(ids)), messages.sources_batch():
        return _send_batch(ids)


def _invoice_ids(ids: list[int]) -> set[int]:
    """The invoices these reminders cover (their own, their items')."""
    own = select(Reminder.invoice_id).where(Reminder.id.in_(ids), Reminder.invoice_id.is_not(None))
    items = select(ReminderItem.invoice_id).where(ReminderItem.reminder_id.in_(ids))
    return set(db.session.scalars(own)) | set(db.session.scalars(items))


def _send_batch(reminder_ids) -> dict[str, int]:
    """Claim, re-check, render and send each reminder over one SMTP connection.

    This is what the worker's job runs, and what ``reminders tick`` runs inline.
    Returns counts per outcome.

    One transaction, one commit, per reminder: it writes the outcome of the
    previous exchange, claims the next reminder (conditional UPDATE), re-checks
    it against fresh data and renders it. The claim is therefore committed before
    that reminder's SMTP exchange begins, and the re-check sees the data as of
    the claim. The SMTP exchange itself runs on a helper thread, so this
    transaction overlaps the mail server's answer to the reminder before. At most
    one exchange is in flight, nothing waits on the mail server with a
    transaction open, and a reminder's outcome is written as soon as its
    exchange has ended and the next one has started.
    """
    ids = list(reminder_ids)
    counts: dict[str, int] = {}
    if not ids:
        return counts
    connection = Connection()
    exchange = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp")
    in_flight: _InFlight | None = None
    pending: list[tuple[int, dict]] = []  # outcomes to write with the next claim
    held: int | None = None  # claimed (committed), neither handed to the mail server nor counted yet

    def count(reminder_id: int, outcome: str, record: dict | None) -> None:
        counts[outcome] = counts.get(outcome, 0) + 1
        if record is not None:
            pending.append((reminder_id, record))

    try:
        prepared = _record_claim_prepare([], ids[0])
        held = ids[0] if _claimed(prepared) else None
        for position, reminder_id in enumerate(ids):
            prepared = _after_commit(reminder_id, prepared)
            if in_flight is not None:  # the previous exchange ends
                done, in_flight = in_flight, None
                count(done.ready.reminder_id, *_collect(done, connection))
            if isinstance(prepared, _Ready):
                try:
                    smtp = connection.get()
                except Temporary as error:
                    count(reminder_id, *_outcome(prepared, connection, error))
                else:
                    future = exchange.submit(deliver, smtp, prepared.message, prepared.data)
                    in_flight = _InFlight(prepared, future)
            else:
                count(reminder_id, *prepared)
            held = None
            following = ids[position + 1] if position + 1 < len(ids) else None
            prepared = _record_claim_prepare(pending, following)
            pending.clear()
            held = following if _claimed(prepared) else None
        if in_flight is not None:
            done, in_flight = in_flight, None
            count(done.ready.reminder_id, *_collect(done, connection))
            _record_claim_prepare(pending, None)
            pending.clear()
    except BaseException:
        # Whatever failed, the outcomes known so far (and that of the exchange
        # in flight) are written before the error goes up.
        db.session.rollback()
        if in_flight is not None:
            try:
                count(in_flight.ready.reminder_id, *_collect(in_flight, connection))
            except Exception:
                log.exception("reminder %s: outcome lost", in_flight.ready.reminder_id)
        if held is not None:
            # Claimed but certainly not sent: its own outcome if it had one (a
            # re-check), else back in line for the next tick rather than left in
            # "sending" (which would end as "unknown").
            if isinstance(prepared, tuple) and prepared[1] is not None:
                count(held, *prepared)
            else:
                count(held, "released", {"state": "scheduled", "reason": "", "next_attempt_at": clock.now()})
        if pending:
            try:
                _record_claim_prepare(pending, None)
            except Exception:
                db.session.rollback()
                log.exception("outcomes of reminders %s not written", [i for i, _ in pending])
        raise
    finally:
        exchange.shutdown(wait=True)
        connection.close()
    return counts


def _record_claim_prepare(records: list[tuple[int, dict]], following: int | None):
    """One transaction: write these outcomes, claim the ``following`` reminder,
    re-check and render it; then commit. Returns what :func:`_prepare` returns
    for it (None when there is none).

    A database error rolls everything back and goes up: the caller writes the
    outcomes on their own, and the reminder stays unclaimed. Any other error
    while re-checking or rendering the claimed reminder (claimed, certainly not
    sent) is recorded as a failure of that reminder; the rest of the batch goes on.
    """
    for reminder_id, record in records:
        values = dict(record)
        levels = values.pop("_levels", None)
        if levels is not None:
            _record_levels(reminder_id, *levels)
        _finish(reminder_id, commit=False, **values)
    prepared = None
    if following is not None:
        if not planning.claim(following, commit=False):
            prepared = ("not_claimed", None)
        else:
            try:
                prepared = _prepare(following)
            except SQLAlchemyError:
                raise
            except Exception as error:  # noqa: BLE001 - claimed, certainly not sent: record it
                log.exception("reminder %s: cannot be prepared", following)
                prepared = _render_failure(error)
    db.session.commit()  # the claim before the exchange; no transaction open while it runs
    return prepared


def _claimed(prepared) -> bool:
    """Whether :func:`_record_claim_prepare` claimed its reminder."""
    return prepared is not None and not (isinstance(prepared, tuple) and prepared[0] == "not_claimed")


def _render_failure(error: Exception) -> tuple[str, dict]:
    return (
        "failed",
        {
            "state": "failed",
            "reason": "render_error",
            "next_attempt_at": None,
            "last_error": f"{error.__class__.__name__}: {error}"[:500],
        },
    )


@dataclass
class _Ready:
    """A claimed reminder, re-checked and rendered: what its SMTP exchange needs."""

    reminder_id: int
    attempts: int
    kind: str
    invoice_id: int | None
    msg_id: str
    recipient: str
    subject: str
    message: object
    data: bytes
    level: int = 0
    covered: list = field(default_factory=list)
    pdfs: list = field(default_factory=list)


@dataclass
class _InFlight:
    ready: _Ready
    future: Future


def _prepare(reminder_id: int) -> _Ready | tuple[str, dict | None]:
    """Re-check and render one reminder claimed in the current transaction.

    Returns what to send, or the outcome and the values that record it (which
    the caller writes) when there is nothing to send.
    """
    reminder, later_sent = _load(reminder_id)
    verdict = _recheck_items(reminder) if reminder.kind in ITEM_KINDS else _recheck(reminder, later_sent)
    if verdict:
        state, reason = verdict
        return state, {"state": state, "reason": reason, "next_attempt_at": None}
    invoice, account = reminder.invoice, account_of(reminder)
    # No open relay (issue 14): an unconfirmed owner, or today's emails to clients
    # used up, and it waits (still pending, with its reason), never dropped. The
    # attempt the claim counted did not happen.
    allowed = gate.check(account, exclude_id=reminder.id, lock=True)
    if not allowed.allowed:
        return "waiting", {
            "state": "scheduled",
            "reason": allowed.reason,
            "next_attempt_at": gate.retry_at(account, allowed),
            "attempts": max(0, reminder.attempts - 1),
        }
    if reminder.kind == "invoice":
        recipient = reminder.recipient
    elif invoice is not None:
        recipient = invoice.client.email
    else:
        recipient = reminder.client.email
    msg_id = message_id(reminder)
    rendered = render_reminder(reminder)
    covered = covered_invoices(reminder)
    # The invoice PDF (issue 6): the invoice email carries it, a reminder the stamped
    # copy of each overdue invoice it covers; from the cache, or rendered after the
    # commit (see _after_commit) with no transaction open.
    pdfs = outgoing.prepare_for(reminder.kind, covered, reminder.level, clock.today(account.timezone))
    return _Ready(
        reminder_id,
        reminder.attempts,
        reminder.kind,
        invoice.id if invoice else None,
        msg_id,
        recipient,
        rendered.subject,
        build_message(rendered, recipient, account, msg_id, automatic=reminder.kind in AUTOMATIC_KINDS),
        b"",
        reminder.level,
        [(i.id, i.balance_cents, i.currency) for i in covered],
        pdfs,
    )


def _after_commit(reminder_id: int, prepared):
    """What is left to do with no transaction open: draw the PDFs the cache did not
    have, and write the message's bytes. Anything failing here (but the database)
    is recorded as a failure of this reminder, which certainly did not go."""
    if not isinstance(prepared, _Ready):
        return prepared
    message = prepared.message
    try:
        for filename, content_type, data in outgoing.finish_attachments(prepared.pdfs):
            message.attach(filename, content_type, data)
        prepared.pdfs = []
        try:
            prepared.data = mailer.to_bytes(message)
        except (UnicodeError, mailer.BadAddress) as error:  # an address SMTP cannot carry (IDNA, non-ASCII)
            return "failed", {
                "state": "failed",
                "reason": "refused",
                "next_attempt_at": None,
                "last_error": f"address not deliverable: {error}"[:500],
            }
    except SQLAlchemyError:
        raise
    except Exception as error:  # noqa: BLE001 - claimed, certainly not sent: record it
        log.exception("reminder %s: cannot be prepared", reminder_id)
        db.session.rollback()
        return _render_failure(error)
    return prepared


def _collect(in_flight: _InFlight, connection: Connection) -> tuple[str, dict | None]:
    """Wait for an exchange to end; its outcome (see _outcome)."""
    try:
        in_flight.future.result()
    except (Temporary, Permanent, Uncertain) as error:
        return _outcome(in_flight.ready, connection, error)
    return _outcome(in_flight.ready, connection, None)


def _outcome(ready: _Ready, connection: Connection, error: Exception | None) -> tuple[str, dict | None]:
    """The outcome of a send and the values that record it (None when already
    written: the invoice's own email marks the invoice sent at once)."""
    if isinstance(error, Temporary):
        connection.drop()
        return _temporary(ready.attempts, str(error))
    if isinstance(error, Permanent):
        return "failed", {
            "state": "failed",
            "reason": "refused",
            "next_attempt_at": None,
            "last_error": str(error)[:500],
        }
    if isinstance(error, Uncertain):
        connection.drop()
        return "unknown", {
            "state": "unknown",
            "reason": "smtp_uncertain",
            "next_attempt_at": None,
            "last_error": str(error)[:500],
        }
    now = clock.now()
    sent = {
        "state": "sent",
        "reason": "",
        "sent_at": now,
        "message_id": ready.msg_id,
        "recipient": ready.recipient,
        "subject": ready.subject[:300],
        "next_attempt_at": None,
    }
    if ready.kind != "invoice":
        # Written with the outcome, in the transaction that records it.
        sent["_levels"] = (ready.kind, ready.level, ready.covered)
        return "sent", sent
    _finish(ready.reminder_id, **sent)
    invoice = db.session.get(Invoice, ready.invoice_id)
    invoicing.mark_sent(invoice, "email_relance", now)
    planning.replan(invoice)
    db.session.commit()
    return "sent", None


def _record_levels(reminder_id: int, kind: str, level: int, covered: list[tuple[int, int, str]]) -> None:
    """A reminder went out: a step reminder gets its item now, and every invoice it
    covers moves up to its level (the current level is the highest sent). Written in
    the transaction that records the outcome."""
    payinfo.forget([invoice_id for invoice_id, _b, _c in covered])  # its fees read it again
    if kind not in ITEM_KINDS and covered:
        invoice_id, balance, currency = covered[0]
        db.session.execute(
            _levels_statements()[0],
            {
                "reminder_id": reminder_id,
                "invoice_id": invoice_id,
                "level": level,
                "balance_cents": balance,
                "currency": currency,
            },
        )
    if level > 0 and covered:
        db.session.execute(_levels_statements()[1], {"ids": [i for i, _b, _c in covered], "new_level": level})


_LEVELS: dict[str, tuple] = {}


def _levels_statements() -> tuple:
    """(item INSERT … ON CONFLICT DO NOTHING, invoice level UPDATE), built once per
    dialect (building them cost more than running them)."""
    name = db.engine.dialect.name
    statements = _LEVELS.get(name)
    if statements is None:
        c = Invoice.__table__.c
        statements = _LEVELS[name] = (
            planning.dialect_insert(ReminderItem.__table__).on_conflict_do_nothing(
                index_elements=["reminder_id", "invoice_id"]
            ),
            update(Invoice.__table__)
            .where(c.id.in_(bindparam("ids", expanding=True)))
            .where(c.reminder_level < bindparam("new_level"))
            .values(reminder_level=bindparam("new_level")),
        )
    return statements


def _recheck_items(reminder: Reminder) -> tuple[str, str] | None:
    """At the moment of sending a reminder decided by a click: invoices paid or void
    since are left out of it; with none left, it does not go."""
    client = reminder.client
    if not client.email:
        if reminder.kind == "group":
            _ungroup(reminder, reminder.items)
        return "skipped", "no_email"
    still, gone, why = [], [], "paid"
    for item in reminder.items:
        invoice = item.invoice
        blocked = blocking_reason(invoice) if reminder.kind == "group" else None
        if blocked:  # an automatic reminder, grouped: every rule of an automatic one
            gone.append(item)
            why = blocked
        elif invoice.status == "void":
            gone.append(item)
            why = "void"
        elif reminder.kind in ("batch", "manual") and is_held(invoice, account_of(reminder)):
            # held since the click (a client's answer, a payment to review): not now
            gone.append(item)
            why = invoice.hold_reason
        elif invoice.status == "paid" or invoice.balance_cents <= 0:
            gone.append(item)
            why = "paid"
        elif invoice.instalment_plan:
            gone.append(item)
            why = "instalment_plan"
        else:
            still.append(item)
    if reminder.kind == "group":  # their own steps were set aside for this group
        _ungroup(reminder, gone if still else reminder.items)
    if not still:
        return "cancelled", why
    for item in gone:  # the others still go; these leave the reminder
        reminder.items.remove(item)
    for item in still:  # the balance the client reads now
        item.balance_cents = item.invoice.balance_cents
    return None


def _ungroup(reminder: Reminder, items) -> None:
    """Invoices that leave a group reminder (or whose group does not go): the step
    rows kept as skipped ("grouped") for this group say why instead (held, paid, …),
    so the timeline tells the truth and, when the invoice is eligible again,
    planning.replan forgets them and the step is decided afresh."""
    now = clock.now()
    c = Reminder.__table__.c
    for item in items:
        invoice = item.invoice
        why = blocking_reason(invoice)
        if why is None:  # as _recheck_items found it
            if invoice.status == "void":
                why = "void"
            elif invoice.status == "paid" or invoice.balance_cents <= 0:
                why = "paid"
            else:
                why = "instalment_plan"
        if why == "held":
            values = {"state": "held", "reason": invoice.hold_reason}
        elif why == "no_email":
            values = {"state": "skipped", "reason": "no_email"}
        else:
            values = {"state": "cancelled", "reason": why}
        db.session.execute(
            update(Reminder.__table__)
            .where(
                c.invoice_id == invoice.id,
                c.kind == "step",
                c.state == "skipped",
                c.reason == "grouped",
                c.attempts == 0,
                c.step_on <= reminder.step_on,
                # set aside when this group was written (group_due writes both at once)
                c.updated_at >= reminder.created_at,
            )
            .values(next_attempt_at=None, updated_at=now, **values)
        )


def _temporary(attempts: int, error: str) -> tuple[str, dict]:
    delay = planning.retry_delay(attempts)
    if delay is None:
        return "failed", {
            "state": "failed",
            "reason": "gave_up",
            "next_attempt_at": None,
            "last_error": error[:500],
        }
    return "retry", {
        "state": "failed",
        "reason": "temporary",
        "next_attempt_at": clock.now() + delay,
        "last_error": error[:500],
    }


def send_preview(account: Account) -> list[str]:
    """Email the owner (only the owner) the reminders of the current schedule: one
    before the due date, one on it, one after — for their latest sent invoice, or a
    labelled sample. Returns the subjects sent."""
    invoice = db.session.scalar(
        select(Invoice)
        .where(
            Invoice.account_id == account.id,
            Invoice.status.in_(("sent", "paid")),
            Invoice.due_on.is_not(None),
        )
        .order_by(Invoice.sent_at.desc(), Invoice.id.desc())
        .limit(1)
    )
    sample = invoice is None
    if sample:
        invoice, client = sample_invoice(account)
    else:
        client = invoice.client
    offsets = planning.schedule_of(account).offsets
    kinds = [
        next((o for o in offsets if o < 0), -3),
        0,
        next((o for o in offsets if o > 0), 3),
    ]
    messages, pdfs = [], []
    for offset in kinds:
        due_on = clock.today(account.timezone) - timedelta(days=offset)
        rendered = render_step(invoice, client, account, -offset, sample=sample, due_on=due_on)
        with force_locale(account.language):
            prefix = _("[Preview]")
        rendered.subject = f"{prefix} {rendered.subject}"
        messages.append(build_message(rendered, account.email, account))
        # The PDF the real reminder would carry (issue 6), from the cache or drawn below.
        pdfs.append(outgoing.preview_attachments(invoice, account, offset))
    db.session.rollback()  # nothing to write: hold no transaction during SMTP (or drawing)
    for message, pending in zip(messages, pdfs, strict=True):
        for filename, content_type, data in outgoing.finish_attachments(pending):
            message.attach(filename, content_type, data)
    with mailer.Outbox() as outbox:
        for message in messages:
            outbox.send(message)
    return [message.subject for message in messages]


def sample_invoice(account: Account) -> tuple[Invoice, Client]:
    """An unsaved invoice for previews when the account has none yet."""
    today = clock.today(account.timezone)
    with force_locale(account.language):
        name = _("Sample client")
    client = Client(name=name, email="client@example.com", language=account.language)
    invoice = Invoice(
        number=invoicing.suggest_number(account.id, today.year),
        issued_on=today,
        due_on=today,
        total_cents=120000,
        paid_cents=0,
        currency=account.currency,
        status="sent",
    )
    invoice.client = client
    # Its account without a backref (nothing joins the account's invoices, nothing is
    # flushed): payment details and the PDF read invoice.account.
    set_committed_value(invoice, "account", account)
    return invoice, client
