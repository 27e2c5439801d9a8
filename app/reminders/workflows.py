"""Collection workflows (issue 5): which invoices a manual, batch or per-client
reminder may cover, writing those reminders (one per client when grouped), the
"Remind all" batch run on the worker, and the history of a client or an invoice.

A reminder decided by a click is a ``reminder`` row (kind manual, batch, client or
group) with one ``reminder_item`` per invoice it covers; its UNIQUE key comes from
the form (DESIGN.md rule 3), so a second submit writes nothing more.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from .. import clock
from ..extensions import db
from ..models import Account, Client, Event, Invoice, Payment, Reminder, ReminderBatch, ReminderItem
from ..parsing import ascii_digits
from . import limits
from .eligibility import EMAIL_SENT
from .levels import MAX_LEVEL, account_level, next_level
from .planning import dialect_insert, insert_reminder_once
from .timeline import last_sent

MAX_THROTTLE = 365
MAX_SELECTION = 1000

# Why an invoice is left out of a manual, batch or client reminder.
EXCLUSIONS = {
    "void": _l("void"),
    "paid": _l("paid"),
    "draft": _l("not yet sent to the client"),
    "not_sent_by_email": _l("not sent to the client by email"),
    "instalment_plan": _l("paid by pre-authorised instalments: never reminded"),
    "no_due_date": _l("no due date"),
    "not_yet_due": _l("not yet due: a reminder is never sent before the due date"),
    "held": _l("on hold"),
    "recently_reminded": _l("reminded recently"),
    "no_email": _l("the client has no email address: letter only"),
}


@dataclass
class Options:
    throttle_days: int | None = None  # "no reminder in the last N days"; None: no limit
    include_no_due: bool = False
    include_not_sent: bool = False


def reminder_count(invoice: Invoice) -> int:
    """How many reminders went out for this invoice ("Reminder (n)")."""
    found = last_sent([invoice.id]).get(invoice.id)
    return found[1] if found else 0


def exclusion(invoice: Invoice, today: date, options: Options, last_at: datetime | None) -> str | None:
    """Why this invoice cannot be in a reminder decided by a click, or None."""
    if invoice.status == "void":
        return "void"
    if invoice.status == "paid" or invoice.balance_cents <= 0:
        return "paid"
    not_sent = invoice.status == "draft" or invoice.sent_at is None
    if not_sent and not options.include_not_sent:
        return "draft"
    if not not_sent and invoice.sent_via not in EMAIL_SENT and not options.include_not_sent:
        return "not_sent_by_email"
    if invoice.instalment_plan:
        return "instalment_plan"
    if invoice.due_on is None:
        if not options.include_no_due:
            return "no_due_date"
    elif invoice.due_on >= today:
        return "not_yet_due"
    if getattr(invoice, "hold_reason", ""):
        return "held"
    if options.throttle_days is not None and last_at is not None:
        if last_at > clock.now() - timedelta(days=options.throttle_days):
            return "recently_reminded"
    if not invoice.client.email:
        return "no_email"
    return None


@dataclass
class Selection:
    """Invoices split into those a reminder will cover and those left out (why)."""

    chosen: list[Invoice] = field(default_factory=list)
    left_out: list[tuple[Invoice, str]] = field(default_factory=list)
    last: dict[int, tuple[datetime, int]] = field(default_factory=dict)

    @property
    def clients(self) -> int:
        return len({invoice.client_id for invoice in self.chosen})

    def reasons(self) -> Counter:
        return Counter(reason for _, reason in self.left_out)


def select_invoices(account: Account, invoices, options: Options) -> Selection:
    invoices = list(invoices)
    today = clock.today(account.timezone)
    last = last_sent([i.id for i in invoices])
    selection = Selection(last=last)
    for invoice in invoices:
        at = last.get(invoice.id, (None, 0))[0]
        why = exclusion(invoice, today, options, at)
        if why is None:
            selection.chosen.append(invoice)
        else:
            selection.left_out.append((invoice, why))
    return selection


def open_invoices(account: Account, client_id: int | None = None, include_not_sent: bool = False):
    """The account's invoices with something to pay (with their client), oldest due first."""
    statuses = ("sent", "draft") if include_not_sent else ("sent",)
    query = (
        select(Invoice)
        .options(joinedload(Invoice.client))
        .where(
            Invoice.account_id == account.id,
            Invoice.status.in_(statuses),
            Invoice.total_cents > Invoice.paid_cents,
        )
        .order_by(Invoice.due_on.is_(None), Invoice.due_on, Invoice.id)
    )
    if client_id is not None:
        query = query.where(Invoice.client_id == client_id)
    return db.session.scalars(query).all()


def group_level(invoices, level: int = 0) -> int:
    """The level of a reminder covering these invoices: the one asked for, or the
    highest next level among them (one at level 1 and one never reminded → 2)."""
    if level:
        return min(level, MAX_LEVEL)
    return max(next_level(invoice.reminder_level) for invoice in invoices)


def claim_form(account: Account, key: str, now: datetime | None = None) -> bool:
    """Claim a form's key before writing its reminders: True the first time only.

    The reminders' own keys depend on what was chosen in the form (grouped or not),
    so a form submitted again with another choice would write new ones; the form's
    key is claimed first, as a finished batch marker keyed ``key`` (ON CONFLICT DO
    NOTHING). The caller commits."""
    now = now or clock.now()
    c = ReminderBatch.__table__.c
    claimed = db.session.execute(
        dialect_insert(ReminderBatch.__table__)
        .values(
            key=key[:80],
            account_id=account.id,
            state="done",
            throttle_days=0,
            include_no_due=False,
            group=False,
            level=0,
            total=0,
            skipped="",
            created_at=now,
            finished_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(c.id)
    ).scalar()
    return claimed is not None


def write_reminders(
    account: Account,
    invoices: list[Invoice],
    key: str,
    kind: str,
    group: bool,
    level: int = 0,
    batch_id: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Write the reminders for ``invoices`` (one per client when ``group``, else one per
    invoice) with their items, ready for a worker. Keys derive from ``key``, minted
    with the form: a second submit inserts nothing (ON CONFLICT DO NOTHING).
    Returns the ids of the reminders written now. The caller commits."""
    now = now or clock.now()
    bundles: dict[tuple, list[Invoice]] = {}
    for invoice in invoices:
        bundle = (invoice.client_id,) if group else (invoice.client_id, invoice.id)
        bundles.setdefault(bundle, []).append(invoice)
    written = []
    for bundle, covered in bundles.items():
        client = covered[0].client
        reminder_level = group_level(covered, level)
        suffix = f"c{bundle[0]}" if group else f"i{bundle[1]}"
        reminder_id = insert_reminder_once(
            f"{key}:{suffix}"[:120],
            now,
            account_id=account.id,
            client_id=client.id,
            invoice_id=covered[0].id if len(covered) == 1 else None,
            kind=kind,
            channel="email",
            level=reminder_level,
            batch_id=batch_id,
            state="scheduled",
            recipient=client.email or "",
            subject="",
            body="",
            next_attempt_at=now,
        )
        if reminder_id is None:
            continue  # this form was already submitted
        db.session.execute(
            ReminderItem.__table__.insert(),
            [
                {
                    "reminder_id": reminder_id,
                    "invoice_id": invoice.id,
                    "level": reminder_level,
                    "balance_cents": invoice.balance_cents,
                    "currency": invoice.currency,
                }
                for invoice in covered
            ],
        )
        written.append(reminder_id)
    return written


# --- "Remind all" ---------------------------------------------------------------


def batch_selection(account: Account, batch: ReminderBatch) -> Selection:
    options = Options(throttle_days=batch.throttle_days, include_no_due=batch.include_no_due)
    return select_invoices(account, open_invoices(account), options)


def run_batch(batch_id: int) -> dict:
    """The worker's part of "Remind all": write the batch's reminders (once, whatever
    the number of runs) and send them, the progress readable from the database."""
    from . import dispatch
    from .sending import send_batch

    batch = db.session.get(ReminderBatch, batch_id)
    if batch is None or batch.state == "done":
        return {}  # a second run of a finished batch (re-queued after a lease): nothing to do
    account = db.session.get(Account, batch.account_id)
    if batch.state == "queued":
        selection = batch_selection(account, batch)
        write_reminders(
            account,
            selection.chosen,
            f"batch:{batch.key}",
            "batch",
            batch.group,
            batch.level,
            batch_id=batch.id,
        )
        batch.skipped = ",".join(f"{reason}:{count}" for reason, count in sorted(selection.reasons().items()))
        batch.total = db.session.scalar(select(func.count(Reminder.id)).where(Reminder.batch_id == batch.id))
        batch.state = "running"
        db.session.commit()
    ids = db.session.scalars(
        select(Reminder.id)
        .where(Reminder.batch_id == batch.id, Reminder.state.in_(("scheduled", "failed")))
        .where(Reminder.next_attempt_at.is_not(None))
        .order_by(Reminder.id)
    ).all()
    counts: Counter = Counter()
    for start in range(0, len(ids), dispatch.JOB_BATCH):
        counts.update(send_batch(ids[start : start + dispatch.JOB_BATCH]))
    db.session.execute(
        update(ReminderBatch)
        .where(ReminderBatch.id == batch.id)
        .values(state="done", finished_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return dict(counts)


BATCH_LEASE = timedelta(minutes=5)  # no progress for this long: the tick queues the batch again


def _batch_marker(batch_id: int) -> str:
    return f"relance:batch:{batch_id}"


def enqueue_batch(batch_id: int) -> bool:
    """Queue the worker's run of a batch, unless queued within the lease (a marker in
    Redis, gone with Redis's data). Raises RedisError when Redis is unreachable: the
    batch stays "queued" in the database and the tick queues it again later."""
    from rq import Queue

    from .dispatch import JOB_TIMEOUT, QUEUE, redis_connection

    connection = redis_connection()
    if not connection.set(_batch_marker(batch_id), "1", nx=True, ex=int(BATCH_LEASE.total_seconds())):
        return False
    Queue(QUEUE, connection=connection).enqueue(
        "app.jobs.run_batch", batch_id, job_timeout=JOB_TIMEOUT, result_ttl=3600
    )
    return True


def stale_batches(now: datetime | None = None) -> list[int]:
    """Batches still queued or running with no progress (no reminder of theirs
    written or updated) for a lease: their job was lost (Redis down at submit time,
    Redis data lost, a worker killed)."""
    now = now or clock.now()
    cutoff = now - BATCH_LEASE
    last_move = (
        select(ReminderBatch.id, func.max(Reminder.updated_at).label("moved"))
        .outerjoin(Reminder, Reminder.batch_id == ReminderBatch.id)
        .where(ReminderBatch.state.in_(("queued", "running")), ReminderBatch.created_at <= cutoff)
        .group_by(ReminderBatch.id)
        .order_by(ReminderBatch.id)
    )
    return [
        batch_id
        for batch_id, moved in db.session.execute(last_move).all()
        if moved is None or moved <= cutoff
    ]


def requeue_stale_batches(now: datetime | None = None, inline: bool = False) -> int:
    """The tick's part: queue the stale batches again (run them here when ``inline``).
    A batch run is safe twice: its reminders' keys come from the batch's key and each
    reminder is claimed before it is sent, so nothing goes twice."""
    ids = stale_batches(now)
    db.session.commit()
    requeued = 0
    for batch_id in ids:
        if inline:
            run_batch(batch_id)
            requeued += 1
        elif enqueue_batch(batch_id):
            requeued += 1
    return requeued


@dataclass
class Progress:
    batch: ReminderBatch
    total: int
    done: int
    states: Counter
    left_out: list[tuple[str, int]]

    @property
    def finished(self) -> bool:
        return self.batch.state == "done" and self.done >= self.total

    @property
    def waiting(self) -> bool:
        """Queued for a while and not started: the sending service is late or was down."""
        return self.batch.state == "queued" and self.batch.created_at <= clock.now() - timedelta(seconds=30)


def batch_progress(batch: ReminderBatch) -> Progress:
    rows = db.session.execute(
        select(Reminder.state, Reminder.reason, func.count(Reminder.id))
        .where(Reminder.batch_id == batch.id)
        .group_by(Reminder.state, Reminder.reason)
    ).all()
    states = Counter()
    for state, reason, count in rows:
        # Held back by the gate (no open relay, issue 14): decided, they go later.
        waiting = state == "scheduled" and reason in (limits.UNVERIFIED, limits.DAILY_LIMIT)
        states["waiting" if waiting else state] += count
    total = sum(states.values())
    done = total - states.get("scheduled", 0) - states.get("sending", 0)
    left_out = []
    for part in (batch.skipped or "").split(","):
        reason, _, count = part.partition(":")
        if reason and ascii_digits(count):
            left_out.append((reason, int(count)))
    return Progress(batch, total, done, states, left_out)


# --- History --------------------------------------------------------------------


@dataclass
class HistoryEntry:
    at: datetime
    kind: str  # invoice_sent, reminder, payment, level_changed, event
    invoice: Invoice | None = None
    reminder: Reminder | None = None
    payment: Payment | None = None
    event: Event | None = None
    invoices: list = field(default_factory=list)


def history(account: Account, client: Client | None = None, invoice: Invoice | None = None):
    """Invoices sent, reminders (level, channel, date, state), payments and manual level
    changes of a client or one invoice, newest first."""
    entries: list[HistoryEntry] = []
    if invoice is not None:
        invoice_ids = [invoice.id]
    else:
        invoice_ids = list(
            db.session.scalars(
                select(Invoice.id).where(Invoice.client_id == client.id, Invoice.account_id == account.id)
            )
        )
    if not invoice_ids:
        return entries
    events = db.session.scalars(
        select(Event)
        .options(joinedload(Event.invoice))
        .where(
            Event.account_id == account.id,
            Event.invoice_id.in_(invoice_ids),
            Event.kind.in_(("invoice_sent", "level_changed", "invoice_voided")),
        )
    ).all()
    for event in events:
        entries.append(HistoryEntry(event.created_at, event.kind, invoice=event.invoice, event=event))
    payments = db.session.scalars(
        select(Payment).options(joinedload(Payment.invoice)).where(Payment.invoice_id.in_(invoice_ids))
    ).all()
    for payment in payments:
        entries.append(HistoryEntry(payment.created_at, "payment", invoice=payment.invoice, payment=payment))
    item_reminders = select(ReminderItem.reminder_id).where(ReminderItem.invoice_id.in_(invoice_ids))
    reminders = (
        db.session.scalars(
            select(Reminder)
            .options(
                joinedload(Reminder.items).joinedload(ReminderItem.invoice), joinedload(Reminder.invoice)
            )
            .where(
                Reminder.account_id == account.id,
                Reminder.kind != "invoice",
                (Reminder.invoice_id.in_(invoice_ids)) | (Reminder.id.in_(item_reminders)),
                # Skipped on purpose (superseded, grouped, too late) never reached anyone.
                (Reminder.state != "skipped") | (Reminder.reason == "no_email"),
            )
        )
        .unique()
        .all()
    )
    for reminder in reminders:
        covered = [item.invoice for item in reminder.items] or (
            [reminder.invoice] if reminder.invoice else []
        )
        entries.append(
            HistoryEntry(
                reminder.sent_at or reminder.updated_at,
                "reminder",
                invoice=covered[0] if len(covered) == 1 else None,
                reminder=reminder,
                invoices=covered,
            )
        )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def last_reminder_per_client(account: Account) -> dict[int, datetime]:
    """For the clients list: when each client was last sent a reminder."""
    rows = db.session.execute(
        select(Reminder.client_id, func.max(Reminder.sent_at))
        .where(Reminder.account_id == account.id, Reminder.kind != "invoice", Reminder.state == "sent")
        .group_by(Reminder.client_id)
    ).all()
    return dict(rows)


# --- "Group reminders per client" (automatic reminders) -------------------------


def group_due(now: datetime | None = None, approved: list[int] | None = None) -> list[int]:
    """For accounts that group reminders per client: the after-due step reminders
    ready for one client on the same day become ONE reminder (key: client, step,
    day — DESIGN.md rule 3) covering their invoices, at the highest of their levels;
    the step reminders are kept as skipped ("grouped"). Runs in the tick between
    planning and handing out.

    ``approved``: the ids the owner has just sent from the Ready to send screen
    (ask-me-first mode); those of one client go as ONE reminder whatever day their
    steps fell on (step and day of the group: the latest of them).
    Returns the ids of the grouped reminders written."""
    now = now or clock.now()
    query = (
        select(Reminder.id, Reminder.account_id, Reminder.client_id, Reminder.step_on, Reminder.step_offset)
        .join(Account, Account.id == Reminder.account_id)
        .where(
            Account.group_reminders.is_(True),
            Reminder.kind == "step",
            Reminder.state == "scheduled",
            Reminder.attempts == 0,
            Reminder.level > 0,
            Reminder.next_attempt_at.is_not(None),
            Reminder.next_attempt_at <= now,
        )
        .order_by(Reminder.id)
    )
    if approved is not None:
        query = query.where(Reminder.id.in_(approved))
    rows = db.session.execute(query).all()
    bundles: dict[tuple, list] = {}
    for row in rows:
        day = None if approved is not None else row.step_on
        bundles.setdefault((row.account_id, row.client_id, day), []).append(row)
    written = []
    c = Reminder.__table__.c
    for (account_id, client_id, _day), members in bundles.items():
        if len(members) < 2:
            continue
        offset = max(member.step_offset for member in members)
        step_on = max(member.step_on for member in members)
        group_id = insert_reminder_once(
            f"group:{client_id}:{offset}:{step_on.isoformat()}",
            now,
            account_id=account_id,
            client_id=client_id,
            invoice_id=None,
            kind="group",
            channel="email",
            step_offset=offset,
            step_on=step_on,
            level=0,
            state="scheduled",
            recipient="",
            subject="",
            body="",
            next_attempt_at=now,
        )
        if group_id is None:
            db.session.rollback()
            continue
        taken = db.session.execute(
            update(Reminder.__table__)
            .where(
                c.id.in_([member.id for member in members]),
                c.state == "scheduled",
                c.attempts == 0,
            )
            .values(state="skipped", reason="grouped", next_attempt_at=None, updated_at=now)
            .returning(c.invoice_id, c.level)
        ).all()
        if not taken:
            db.session.rollback()
            continue
        level = max(row_level for _, row_level in taken)
        invoices = {
            invoice.id: invoice
            for invoice in db.session.scalars(select(Invoice).where(Invoice.id.in_([i for i, _ in taken])))
        }
        db.session.execute(update(Reminder.__table__).where(c.id == group_id).values(level=level))
        db.session.execute(
            ReminderItem.__table__.insert(),
            [
                {
                    "reminder_id": group_id,
                    "invoice_id": invoice_id,
                    "level": level,
                    "balance_cents": invoices[invoice_id].balance_cents,
                    "currency": invoices[invoice_id].currency,
                }
                for invoice_id, _ in taken
            ],
        )
        db.session.commit()
        written.append(group_id)
    db.session.commit()
    return written


# --- Changes re-plan (DESIGN.md rule 6): the level of what waits ------------------

WAITING_STATES = ("scheduled", "awaiting_approval", "held")


def relevel_waiting(account: Account) -> int:
    """The level mapping or the schedule changed: step reminders planned but not sent
    (scheduled, awaiting approval, held; never attempted) take the level their step
    has now. Call in the request's transaction, before commit. Returns how many moved."""
    c = Reminder.__table__.c
    waiting = (
        c.account_id == account.id,
        c.kind == "step",
        c.state.in_(WAITING_STATES),
        c.attempts == 0,
        c.step_offset > 0,
    )
    offsets = db.session.scalars(select(c.step_offset).where(*waiting).distinct()).all()
    moved = 0
    for offset in offsets:
        level = account_level(account, offset)
        changed = (
            db.session.execute(
                update(Reminder.__table__)
                .where(*waiting, c.step_offset == offset, c.level != level)
                .values(level=level)
                .returning(c.id)
            )
            .scalars()
            .all()
        )
        if changed:
            db.session.execute(
                update(ReminderItem.__table__)
                .where(ReminderItem.__table__.c.reminder_id.in_(changed))
                .values(level=level)
            )
            moved += len(changed)
    return moved
