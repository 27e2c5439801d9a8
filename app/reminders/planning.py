"""From the database to due reminders: plan, re-plan, enqueue, sweep.

The planner reads only invoices whose ``next_reminder_at`` has come (an index),
decides which step is due, and writes the decision as a ``reminder`` row whose
UNIQUE key is (invoice, step) — in the same transaction. Redis only ever carries
reminder ids: if it loses them, the next tick enqueues them again.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from .. import clock
from ..extensions import db
from ..models import Account, Client, Event, Invoice, Reminder
from . import schedule as rules
from .eligibility import EMAIL_SENT, REASONS, blocking_reason
from .levels import level_for

log = logging.getLogger(__name__)
PLAN_BATCH = 5000
LEASE = timedelta(minutes=5)
QUEUED_MARKER_TTL = 600  # seconds a queued id is trusted to be in Redis
RETRY_DELAYS = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
READY_STATES = ("scheduled", "failed")


# Failed for good, or outcome unknown: only the owner can decide what happens next.
NEEDS_DECISION = or_(
    Reminder.state == "unknown",
    and_(Reminder.state == "failed", Reminder.next_attempt_at.is_(None)),
)


def step_key(invoice_id: int, offset: int) -> str:
    return f"step:{invoice_id}:{offset}"


def schedule_of(account: Account) -> rules.Schedule:
    hour, minute = (int(part) for part in account.reminder_send_time.split(":"))
    return rules.Schedule(
        offsets=rules.parse_offsets(account.reminder_offsets),
        send_time=time(hour, minute),
        timezone=account.timezone,
        skip_weekends=account.reminder_skip_weekends,
    )


def facts_of(invoice: Invoice) -> rules.InvoiceFacts:
    return rules.InvoiceFacts(due_on=invoice.due_on, sent_at=invoice.sent_at, terms_days=invoice.terms_days)


def dialect_insert(table):
    """INSERT with ON CONFLICT support for the database in use (SQLite or PostgreSQL)."""
    if db.engine.dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def insert_reminder_once(key, now, **values):
    """Insert one Reminder unless one with ``key`` exists already (the same form sent twice).
    Returns the new id, or None when the key was taken. Counters and error fields start empty."""
    row = {"reason": "", "attempts": 0, "message_id": "", "last_error": ""} | values
    statement = (
        dialect_insert(Reminder.__table__)
        .values(key=key, **row, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Reminder.__table__.c.id)
    )
    return db.session.execute(statement).scalar()


@dataclass
class PlanReport:
    invoices: int = 0
    scheduled: int = 0
    skipped: int = 0
    keys: list[str] = field(default_factory=list)


def replan(invoice: Invoice, reason: str | None = None) -> None:
    """After a change (payment, due date, switch, …): look at the invoice at the next
    tick, and cancel what is waiting to go if it may no longer go.

    Call inside the request's transaction, before commit.
    """
    now = clock.now()
    why = reason or blocking_reason(invoice)
    if why is None or why == "no_email":
        invoice.next_reminder_at = now
    elif why == "held" and invoice.hold_until is not None:
        account = invoice.account or db.session.get(Account, invoice.account_id)
        invoice.next_reminder_at = hold_ends_at(
            invoice.hold_until, account.timezone, account.reminder_send_time
        )
    else:
        invoice.next_reminder_at = None
    if invoice.id is None:
        return
    if why in ("paid", "void"):
        # A letter waiting to be printed is not posted for a paid or void invoice.
        db.session.execute(
            update(Reminder)
            .where(
                Reminder.invoice_id == invoice.id,
                Reminder.channel == "letter",
                Reminder.state == "ready_to_print",
            )
            .values(state="cancelled", reason=why, next_attempt_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    waiting = (
        Reminder.invoice_id == invoice.id,
        Reminder.kind == "step",
        Reminder.state.in_(("scheduled", "failed", "awaiting_approval", "held")),
        or_(Reminder.state != "failed", Reminder.next_attempt_at.is_not(None)),
    )
    if why == "held":
        # Held (a client's answer, a payment to review): what waits is shown as held and
        # goes nowhere until the hold ends; then the steps are decided afresh.
        db.session.execute(
            update(Reminder)
            .where(*waiting)
            .values(state="held", reason=invoice.hold_reason, next_attempt_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    if why is not None and why != "no_email":
        db.session.execute(
            update(Reminder)
            .where(*waiting)
            .values(state="cancelled", reason=why, next_attempt_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    # Eligible again (a payment deleted, a switch back on, an email added, a hold
    # ended): decisions that were cancelled, skipped or held only for that reason, and
    # never attempted, are forgotten, so the next tick decides those steps afresh.
    db.session.execute(
        delete(Reminder)
        .where(
            Reminder.invoice_id == invoice.id,
            Reminder.kind == "step",
            Reminder.attempts == 0,
            or_(
                and_(Reminder.state == "cancelled", Reminder.reason.in_(REASONS)),
                and_(Reminder.state == "skipped", Reminder.reason == "no_email"),
                Reminder.state == "held",
            ),
        )
        .execution_options(synchronize_session=False)
    )
    _retire_held([invoice.id], now)
    # The due date or the schedule changed: what waits for a step that is no longer
    # there (or no longer on that day) must not go. It is cancelled, shown, and its
    # key set aside so that the step can be decided again for its new day.
    account = invoice.account or db.session.get(Account, invoice.account_id)
    current = {}
    if invoice.due_on is not None:
        plan = schedule_of(account)
        try:
            current = {o: rules.step_day(invoice.due_on, o, plan.skip_weekends) for o in plan.offsets}
        except OverflowError:
            current = {}
    for reminder in db.session.scalars(select(Reminder).where(*waiting)).all():
        if current.get(reminder.step_offset) == reminder.step_on:
            continue
        db.session.execute(
            update(Reminder)
            .where(Reminder.id == reminder.id, Reminder.state == reminder.state)
            .values(
                state="cancelled",
                reason="rescheduled",
                key=f"{reminder.key}:was:{reminder.id}",
                next_attempt_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def hold_ends_at(until: date, timezone: str, send_time: str) -> datetime:
    """When a hold "until that day" ends: the next day at the account's send time
    (a reminder then goes at a decent hour, not at midnight)."""
    hour, minute = (int(p) for p in send_time.split(":"))
    return rules.local_moment(until + timedelta(days=1), time(hour, minute), timezone)


def _retire_held(invoice_ids: list[int], now: datetime) -> None:
    """Held reminders that were already attempted (a 4xx before the hold) keep their
    history: cancelled ("held"), their key set aside so the step can be decided again."""
    c = Reminder.__table__.c
    rows = db.session.execute(
        select(c.id, c.key).where(c.invoice_id.in_(invoice_ids), c.kind == "step", c.state == "held")
    ).all()
    for reminder_id, key in rows:
        db.session.execute(
            update(Reminder.__table__)
            .where(c.id == reminder_id, c.state == "held")
            .values(state="cancelled", reason="held", key=f"{key}:was:{reminder_id}", updated_at=now)
        )


def _end_expired_holds(invoice_ids: list[int], now: datetime) -> None:
    """Holds whose last day has passed (a promised payment date): the planner ends them
    as ``holds.release`` would, so the steps are decided afresh in this same batch."""
    c = Reminder.__table__.c
    db.session.execute(
        delete(Reminder.__table__).where(
            c.invoice_id.in_(invoice_ids), c.kind == "step", c.state == "held", c.attempts == 0
        )
    )
    _retire_held(invoice_ids, now)
    table = Invoice.__table__
    accounts = dict(
        db.session.execute(select(table.c.id, table.c.account_id).where(table.c.id.in_(invoice_ids))).all()
    )
    db.session.execute(
        update(table)
        .where(table.c.id.in_(invoice_ids))
        .values(hold_reason="", hold_detail="", hold_until=None)
    )
    db.session.execute(
        Event.__table__.insert(),
        [
            {
                "account_id": accounts[i],
                "invoice_id": i,
                "kind": "reminders_resumed",
                "detail": "hold_expired",
                "created_at": now,
            }
            for i in invoice_ids
        ],
    )


def replan_account(account: Account) -> None:
    """The schedule or the account switch changed: re-plan every open invoice."""
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.account_id == account.id, Invoice.status == "sent")
    ).all()
    for invoice in invoices:
        replan(invoice)


def plan_due(now: datetime | None = None, limit: int = PLAN_BATCH) -> PlanReport:
    """Write reminder rows for every step that has come, in one transaction per batch.

    Returns what was decided. Safe to run from any number of processes at once:
    rows are inserted with ON CONFLICT DO NOTHING on their unique key.
    """
    now = now or clock.now()
    report = PlanReport()
    with collector_paused():
        while True:
            batch = _plan_batch(now, limit, report)
            if batch < limit:
                return report


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while a tick works through its rows.

    A batch allocates tens of thousands of short-lived tuples and strings (freed by
    reference counting when the batch ends, no cycles); each 700 allocations start
    a collection, and every few dozen of those a full one, which walks the whole
    heap of the worker (the application: ~90 MB, ~100 ms a full collection).
    Measured at 1 M invoices / 10,000 due: ~120 ms of collections a tick, none
    of which found anything the batch made. Collections resume afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Driver:
    """The planner's statements as driver SQL, with values in the form the dialect
    stores them (bound and loaded through the columns' own types, so exactly what
    SQLAlchemy would send and return).

    SQLAlchemy's per-value processing of ~20 values a row (statement execution,
    bind and result processing, ``insertmanyvalues``) was most of the tick's
    Python time; the rows still go through the session's connection and
    transaction. Built once per dialect.
    """

    # Columns the planner reads of a due invoice and its client.
    DUE_COLUMNS = (
        Invoice.__table__.c.id,
        Invoice.__table__.c.account_id,
        Invoice.__table__.c.client_id,
        Invoice.__table__.c.due_on,
        Invoice.__table__.c.sent_at,
        Invoice.__table__.c.terms_days,
        Invoice.__table__.c.status,
        Invoice.__table__.c.total_cents,
        Invoice.__table__.c.paid_cents,
        Invoice.__table__.c.sent_via,
        Invoice.__table__.c.instalment_plan,
        Invoice.__table__.c.reminders_enabled,
        Invoice.__table__.c.hold_reason,
        Invoice.__table__.c.hold_until,
        Client.__table__.c.email,
        Client.__table__.c.reminders_paused,
    )
    # The accounts of those invoices: read once per account, not on every row
    # (a join of the account on each of 10,000 rows cost a quarter of the SELECT).
    ACCOUNT_COLUMNS = (
        Account.__table__.c.id,
        Account.__table__.c.reminders_enabled,
        Account.__table__.c.reminder_offsets,
        Account.__table__.c.reminder_send_time,
        Account.__table__.c.timezone,
        Account.__table__.c.reminder_skip_weekends,
        Account.__table__.c.reminder_mode,
        Account.__table__.c.reminder_levels,
    )
    # The new step rows: bound per row, then constants (no user input) written in.
    STEP_COLUMNS = (
        "key",
        "account_id",
        "client_id",
        "invoice_id",
        "step_offset",
        "step_on",
        "level",
        "state",
        "reason",
        "recipient",
        "next_attempt_at",
        "created_at",
        "updated_at",
    )
    STEP_CONSTANTS = (
        ("kind", "'step'"),
        ("channel", "'email'"),
        ("subject", "''"),
        ("body", "''"),
        ("attempts", "0"),
        ("message_id", "''"),
        ("last_error", "''"),
    )
    ROWS_PER_INSERT = 1000  # 13 values a row: under SQLite's 32,766 and PostgreSQL's 65,535

    def __init__(self, dialect):
        self.sqlite = dialect.name == "sqlite"
        mark = self.mark = "?" if self.sqlite else "%s"
        invoice, reminder = Invoice.__table__, Reminder.__table__
        columns = ", ".join(f"{column.table.name}.{column.name}" for column in self.DUE_COLUMNS)
        self.due = (
            f"SELECT {columns} FROM invoice"
            " JOIN client ON client.id = invoice.client_id"
            f" WHERE invoice.next_reminder_at IS NOT NULL AND invoice.next_reminder_at <= {mark}"
            f" ORDER BY invoice.next_reminder_at, invoice.id LIMIT {mark}"
        )
        if not self.sqlite:
            # Two ticks at once take different invoices (SQLite: BEGIN IMMEDIATE).
            self.due += " FOR UPDATE OF invoice SKIP LOCKED"
        self.existing_head = (
            "SELECT id, key, invoice_id, step_offset, state, next_attempt_at IS NOT NULL"
            " FROM reminder WHERE kind = 'step' AND invoice_id "
        )
        self.insert_head = (
            f"INSERT INTO reminder ({', '.join(self.STEP_COLUMNS)}, "
            f"{', '.join(name for name, _ in self.STEP_CONSTANTS)}) VALUES "
        )
        self.insert_row = (
            f"({', '.join(mark for _ in self.STEP_COLUMNS)}, "
            f"{', '.join(value for _, value in self.STEP_CONSTANTS)})"
        )
        self.insert_tail = " ON CONFLICT (key) DO NOTHING RETURNING key"
        self.ready = (
            "SELECT id FROM reminder"
            f" WHERE state IN ({', '.join(repr(state) for state in READY_STATES)})"
            f" AND next_attempt_at IS NOT NULL AND next_attempt_at <= {mark}"
            f" ORDER BY next_attempt_at, id LIMIT {mark}"
        )
        self.next_moment = (
            f"UPDATE invoice SET next_reminder_at = {mark}, updated_at = {mark} WHERE id = {mark}"
        )
        c, r = invoice.c, reminder.c
        self.load_date = _loader(c.due_on.type, dialect)
        self.load_moment = _loader(c.sent_at.type, dialect)
        self.bind_date = _binder(r.step_on.type, dialect)
        self.bind_moment = _binder(r.next_attempt_at.type, dialect)

    def accounts(self, account_ids):
        """SQL and parameters of the SELECT of these accounts' reminder settings."""
        columns = ", ".join(column.name for column in self.ACCOUNT_COLUMNS)
        head = f"SELECT {columns} FROM account WHERE id "
        if self.sqlite:
            return head + f"IN ({', '.join('?' for _ in account_ids)})", tuple(account_ids)
        return head + "= ANY(%s)", (list(account_ids),)

    def existing(self, invoice_ids):
        """SQL and parameters of the SELECT of these invoices' step rows."""
        if self.sqlite:
            return self.existing_head + f"IN ({', '.join('?' for _ in invoice_ids)})", tuple(invoice_ids)
        return self.existing_head + "= ANY(%s)", (list(invoice_ids),)


def _loader(type_, dialect):
    """value as the driver returns it → value as the ORM gives it (memoised: few distinct ones)."""
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    if process is None:
        return lambda value: value
    seen: dict = {}

    def load(value):
        try:
            return seen[value]
        except KeyError:
            if len(seen) > 10_000:
                seen.clear()
            result = seen[value] = process(value)
            return result

    return load


def _binder(type_, dialect):
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


_DRIVERS: dict[str, _Driver] = {}
_UNSEEN = object()


def _driver_run(connection, statement: str, params, many: bool = False) -> list[tuple] | None:
    """Run ``statement`` on the DBAPI cursor of ``connection`` (the session's, in its
    transaction) and return its rows as plain tuples; SQLAlchemy's Row objects cost
    ~2.5 µs a row. Driver errors are raised as SQLAlchemy's, as they were."""
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(statement, params)
            return None
        cursor.execute(statement, params)
        return cursor.fetchall()
    except connection.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            statement, params, error, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()


def _driver(connection) -> _Driver:
    driver = _DRIVERS.get(connection.dialect.name)
    if driver is None:
        driver = _DRIVERS[connection.dialect.name] = _Driver(connection.dialect)
    return driver


def _plan_batch(now, limit, report) -> int:
    db.session.flush()  # driver statements below: nothing pending may be left out
    connection = db.session.connection()
    sql = _driver(connection)
    load_date, load_moment = sql.load_date, sql.load_moment
    bind_date, bind_moment = sql.bind_date, sql.bind_moment
    now_stored = bind_moment(now)
    rows = _driver_run(connection, sql.due, (now_stored, limit))
    if not rows:
        db.session.commit()
        return 0

    invoice_ids = [row[0] for row in rows]
    accounts = {row[0]: row[1:] for row in _driver_run(connection, *sql.accounts({row[1] for row in rows}))}
    # The step rows these invoices already have: in the steady state every
    # earlier step of a due invoice is there (sent).
    existing = _existing_steps(connection, sql, invoice_ids)
    schedules: dict[int, tuple[rules.Schedule, ZoneInfo]] = {}
    # steps() is pure: invoices with the same due date, sending day and terms
    # kind have the same steps at ``now`` (the same day's invoices share a few).
    # Each step is kept with its values as stored (day, moment, level).
    memo: dict[tuple, list[tuple]] = {}
    inserts, next_moments, supersede, expired_holds = [], [], [], []
    todays: dict[str, date] = {}
    sent_days: dict[tuple, date | None] = {}
    scheduled = skipped = 0
    for row in rows:
        (
            invoice_id,
            account_id,
            client_id,
            due_on,
            sent_at,
            terms_days,
            status,
            total,
            paid,
            sent_via,
            instalments,
            invoice_on,
            hold_reason,
            hold_until,
            client_email,
            client_paused,
        ) = row
        account_on, offsets, send_time, timezone, skip_weekends, mode, custom_levels = accounts[account_id]
        eligible = (
            status == "sent"
            and total - paid > 0
            and sent_via in EMAIL_SENT
            and due_on is not None
            and not instalments
            and invoice_on
            and account_on
            and not client_paused
        )
        if not eligible:
            next_moments.append((None, now_stored, invoice_id))
            continue
        hold_ended = False
        if hold_reason:
            hold_until = load_date(hold_until)
            today = todays.get(timezone)
            if today is None:
                today = todays[timezone] = now.astimezone(ZoneInfo(timezone)).date()
            if hold_until is None or today <= hold_until:  # held: look again when it ends
                ends = hold_ends_at(hold_until, timezone, send_time) if hold_until is not None else None
                next_moments.append((bind_moment(ends), now_stored, invoice_id))
                continue
            expired_holds.append(invoice_id)
            hold_ended = True
        # The account's columns are the same on all its rows of this SELECT.
        known = schedules.get(account_id)
        if known is None:
            hour, minute = (int(p) for p in send_time.split(":"))
            known = schedules[account_id] = (
                rules.Schedule(
                    rules.parse_offsets(offsets), time(hour, minute), timezone, bool(skip_weekends)
                ),
                ZoneInfo(timezone),
            )
        plan, zone = known
        try:
            # Everything steps() reads of the invoice: the due date, the sending
            # day (in the account's zone), the sending moment for 0-day terms;
            # keyed by the values as the driver returned them.
            sent_day = sent_days.get((sent_at, timezone), _UNSEEN)
            if sent_day is _UNSEEN:
                moment = load_moment(sent_at)
                sent_day = sent_days[sent_at, timezone] = moment and moment.astimezone(zone).date()
            facts_key = (account_id, due_on, sent_day, sent_at if terms_days == 0 else None)
            planned = memo.get(facts_key)
            if planned is None:
                due_on, sent_at = load_date(due_on), load_moment(sent_at)
                planned = memo[facts_key] = [
                    (
                        step.status,
                        step.offset,
                        step.at,
                        bind_date(step.on),
                        bind_moment(step.at),
                        level_for(offsets, custom_levels or "", step.offset),
                    )
                    for step in rules.steps(rules.InvoiceFacts(due_on, sent_at, terms_days), plan, now)
                ]
        except (OverflowError, ValueError):
            # A date the calendar cannot carry (an import of year 9999): this invoice
            # gets no automatic reminder, and it must not stop everybody else's.
            log.warning("invoice %s: due date %s out of range, not planned", invoice_id, due_on)
            next_moments.append((None, now_stored, invoice_id))
            continue
        upcoming = None
        for step_status, offset, at, on_stored, at_stored, level in planned:
            if step_status == rules.FUTURE:
                upcoming = at if upcoming is None else min(upcoming, at)
                continue
            if step_status == rules.NOT_NEEDED:
                continue
            if step_status == rules.DUE:
                if not client_email:
                    state, reason = "skipped", "no_email"
                else:
                    state = "awaiting_approval" if mode == "ask" else "scheduled"
                    reason = ""
                supersede.append((invoice_id, offset))
            else:
                state = "skipped"
                reason = "superseded" if step_status == rules.SUPERSEDED else "due_date_reached"
            if state == "skipped":
                skipped += 1
            else:
                scheduled += 1
            row_key = step_key(invoice_id, offset)
            if row_key in existing.keys and not hold_ended:
                # Already decided: inserting it would only meet ON CONFLICT DO NOTHING.
                continue
            inserts.append(
                (
                    row_key,
                    account_id,
                    client_id,
                    invoice_id,
                    offset,
                    on_stored,
                    level,
                    state,
                    reason,
                    client_email or "",
                    at_stored if state == "scheduled" else None,
                    now_stored,
                    now_stored,
                )
            )
        next_moments.append((bind_moment(upcoming), now_stored, invoice_id))

    report.scheduled += scheduled
    report.skipped += skipped
    if expired_holds:
        _end_expired_holds(expired_holds, now)
        # Their held rows are gone or set aside: read the batch's rows again.
        existing = _existing_steps(connection, sql, invoice_ids)
        inserts = [row for row in inserts if row[0] not in existing.keys]
    _write_steps(connection, sql, inserts, existing, dict(supersede), now, report)
    _driver_run(connection, sql.next_moment, next_moments, many=True)
    db.session.commit()
    report.invoices += len(rows)
    return len(rows)


PENDING_STEP = ("scheduled", "awaiting_approval")


@dataclass
class _Existing:
    keys: set[str]
    rows: list[tuple]


def _existing_steps(connection, sql: _Driver, invoice_ids: list[int]) -> _Existing:
    """The step rows these invoices already have (one SELECT per batch)."""
    rows = _driver_run(connection, *sql.existing(invoice_ids))
    return _Existing({row[1] for row in rows}, rows)


def _write_steps(
    connection,
    sql: _Driver,
    inserts: list[tuple],
    existing: _Existing,
    due_offsets: dict[int, int],
    now: datetime,
    report: PlanReport,
) -> None:
    """Write the batch's new step rows and supersede older steps left waiting.

    ``inserts`` leaves out the keys ``existing`` already has (inserting them again
    would only hit ON CONFLICT DO NOTHING); ON CONFLICT DO NOTHING stays for any
    race. The same rows tell which older steps are still waiting (workers were
    down): those are superseded by the step now due, with an UPDATE that
    re-checks their state, as before.
    """
    c = Reminder.__table__.c
    for start in range(0, len(inserts), sql.ROWS_PER_INSERT):
        chunk = inserts[start : start + sql.ROWS_PER_INSERT]
        statement = sql.insert_head + ", ".join(sql.insert_row for _ in chunk) + sql.insert_tail
        inserted = _driver_run(connection, statement, [value for row in chunk for value in row])
        report.keys.extend(key for (key,) in inserted)
    stale = [
        reminder_id
        for reminder_id, _, invoice_id, offset, state, will_retry in existing.rows
        if (state in PENDING_STEP or (state == "failed" and will_retry))
        and invoice_id in due_offsets
        and offset is not None
        and offset < due_offsets[invoice_id]
    ]
    if stale:
        # A step left waiting (workers down) is superseded by the later one now due.
        db.session.execute(
            update(Reminder.__table__)
            .where(
                c.id.in_(stale),
                c.kind == "step",
                or_(
                    c.state.in_(PENDING_STEP),
                    (c.state == "failed") & c.next_attempt_at.is_not(None),
                ),
            )
            .values(state="skipped", reason="superseded", next_attempt_at=None, updated_at=now)
        )


def ready_ids(now: datetime | None = None, limit: int = 10000) -> list[int]:
    """Reminders whose time has come and that no worker holds."""
    now = now or clock.now()
    db.session.flush()  # a driver statement: nothing pending may be left out
    connection = db.session.connection()
    sql = _driver(connection)
    with collector_paused():
        rows = _driver_run(connection, sql.ready, (sql.bind_moment(now), limit))
        return [reminder_id for (reminder_id,) in rows]


def _claim_statement():
    c = Reminder.__table__.c
    moment = db.bindparam("now", type_=c.updated_at.type)
    return (
        update(Reminder.__table__)
        .where(
            c.id == db.bindparam("reminder_id"),
            c.state.in_(READY_STATES),
            c.next_attempt_at.is_not(None),
            c.next_attempt_at <= moment,
        )
        .values(
            state="sending",
            lease_until=db.bindparam("lease", type_=c.lease_until.type),
            attempts=c.attempts + 1,
            updated_at=moment,
        )
    )


# Built once: a claim per reminder sent, and building the statement cost several
# times more than running it (~0.25 ms against ~0.06 ms on SQLite).
_CLAIM = _claim_statement()


def claim(reminder_id: int, now: datetime | None = None, commit: bool = True) -> bool:
    """Take a reminder for sending: pending → sending with a lease. True if we got it.

    A conditional UPDATE, so two workers (or two ticks) can never both send it.
    ``commit=False`` leaves the commit to the caller, which must commit before
    sending anything.
    """
    now = now or clock.now()
    result = db.session.execute(_CLAIM, {"reminder_id": reminder_id, "now": now, "lease": now + LEASE})
    if commit:
        db.session.commit()
    return result.rowcount == 1


def sweep_lost(now: datetime | None = None) -> int:
    """Reminders whose worker vanished mid-send: the outcome is unknown, never resent."""
    now = now or clock.now()
    result = db.session.execute(
        update(Reminder)
        .where(Reminder.state == "sending", Reminder.lease_until < now)
        .values(state="unknown", reason="worker_lost", next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount


def retry_delay(attempts: int) -> timedelta | None:
    """Back-off after a temporary failure; None once we give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[attempts - 1]


def pending_for_invoices(invoice_ids) -> dict[int, list[Reminder]]:
    rows = db.session.scalars(
        select(Reminder)
        .where(Reminder.invoice_id.in_(list(invoice_ids)))
        .order_by(Reminder.created_at, Reminder.id)
    ).all()
    result: dict[int, list[Reminder]] = {}
    for reminder in rows:
        result.setdefault(reminder.invoice_id, []).append(reminder)
    return result
