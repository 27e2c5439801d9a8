"""THE gate every email to a third party passes (issue 14: no open relay).

The rule is app/reminders/limits.py; this reads its facts — is the owner's address
confirmed, how many emails went to clients today (the account's day) — from the
reminder rows themselves, and says when a waiting email may go. The worker calls
:func:`check` for each email it has claimed (app/reminders/sending.py ``_prepare``),
so steps, manual and batch reminders, grouped ones and "Send by email" all meet
the same rule; the pages call it only to tell the owner what will wait.
"""

from __future__ import annotations

from datetime import datetime, time

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from .. import clock
from ..extensions import db
from ..models import Account, Reminder
from . import limits
from . import schedule as rules

# Handed to the mail server (or possibly: the outcome is unknown), by state.
_ON_THE_WAY = ("sending", "unknown")


def configured_limit() -> int | None:
    return limits.parse_limit(current_app.config.get("RELANCE_DAILY_SEND_LIMIT"))


def day_start(account: Account) -> datetime:
    """Midnight of today in the account's time zone, as aware UTC."""
    return rules.local_moment(clock.today(account.timezone), time(0, 0), account.timezone)


def sent_today(account: Account, exclude_id: int | None = None) -> int:
    """Emails to clients sent since the start of the account's day: sent (whatever
    came back since: bounced, …), being sent, or of unknown outcome."""
    since = day_start(account)
    query = select(func.count(Reminder.id)).where(
        Reminder.account_id == account.id,
        Reminder.channel == "email",
        or_(
            Reminder.sent_at >= since,
            and_(Reminder.state.in_(_ON_THE_WAY), Reminder.sent_at.is_(None), Reminder.updated_at >= since),
        ),
    )
    if exclude_id is not None:
        query = query.where(Reminder.id != exclude_id)
    return db.session.scalar(query) or 0


def check(account: Account, exclude_id: int | None = None, lock: bool = False) -> limits.Verdict:
    """May one more email go from this account to a client now?

    ``exclude_id``: the reminder being decided (claimed, so "sending" itself).
    ``lock``: take the account's row lock first (PostgreSQL), so that two workers
    sending for one account count one after the other; SQLite's write lock, taken
    by the claim, already does.
    """
    configured = configured_limit()
    verified = account.email_verified_at is not None
    age = clock.now() - account.created_at
    limit = limits.daily_limit(configured, age)
    count = 0
    if verified and limit is not None:
        if lock and db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
        count = sent_today(account, exclude_id)
    return limits.decide(
        verified=verified,
        account_age=age,
        sent_today=count,
        configured=configured,
        today=clock.today(account.timezone),
    )


def retry_at(account: Account, verdict: limits.Verdict) -> datetime | None:
    """When a waiting email is tried again: the next day at the account's send time
    (a decent hour); None while the address is unconfirmed (confirming it releases
    them, app/verification.py)."""
    if verdict.hold_until is None:
        return None
    hour, minute = (int(p) for p in account.reminder_send_time.split(":"))
    return rules.local_moment(verdict.hold_until, time(hour, minute), account.timezone)


def usage(account: Account) -> tuple[int, int | None]:
    """(emails to clients sent today, today's limit or None): what Settings shows."""
    limit = limits.daily_limit(configured_limit(), clock.now() - account.created_at)
    return sent_today(account), limit


def waiting_after(account: Account, queued: int) -> tuple[str, int]:
    """What becomes of ``queued`` emails just handed to the workers: (reason, how
    many of them wait). Reason "" when all go now."""
    verdict = check(account)
    if verdict.reason == limits.UNVERIFIED:
        return limits.UNVERIFIED, queued
    waiting = limits.over_limit(verdict.limit, verdict.sent_today, queued)
    return (limits.DAILY_LIMIT, waiting) if waiting else ("", 0)


def release_unverified(account_id: int) -> list[int]:
    """The owner confirmed their address: what waited for it goes at the next pass
    (its ids, to queue now)."""
    now = clock.now()
    return list(
        db.session.scalars(
            update(Reminder)
            .where(
                Reminder.account_id == account_id,
                Reminder.state == "scheduled",
                Reminder.reason == limits.UNVERIFIED,
            )
            .values(next_attempt_at=now, reason="", updated_at=now)
            .returning(Reminder.id)
            .execution_options(synchronize_session=False)
        )
    )
