"""Who may send to a third party, and how much a day (issue 14: no open relay).

Pure rules, no I/O: app/reminders/gate.py reads the facts from the database and
the worker calls it for every email to a client, whatever decided the email (a
step, a click, a batch, a grouping, "Send by email").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# RELANCE_DAILY_SEND_LIMIT unset: a new account sends less while it proves itself.
YOUNG_ACCOUNT = timedelta(days=7)
YOUNG_LIMIT = 100
SETTLED_LIMIT = 1000

ALLOWED = "allowed"
UNVERIFIED = "unverified"  # the owner has not confirmed their address yet
DAILY_LIMIT = "daily_limit"  # today's emails to clients are used up


def parse_limit(value) -> int | None:
    """RELANCE_DAILY_SEND_LIMIT as configured: None (unset, empty) = the defaults by
    account age, 0 = no limit, N = N a day for every account. Anything else is
    refused at start-up rather than read as "no limit"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("RELANCE_DAILY_SEND_LIMIT must be a whole number of emails a day (0 = off)")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError("RELANCE_DAILY_SEND_LIMIT must be a whole number of emails a day (0 = off)")
        number = int(text)
    if number < 0:
        raise ValueError("RELANCE_DAILY_SEND_LIMIT must be 0 (off) or more")
    return number


def daily_limit(configured: int | None, account_age: timedelta) -> int | None:
    """Emails to clients an account may send in one of its days; None = no limit."""
    if configured is None:
        return YOUNG_LIMIT if account_age < YOUNG_ACCOUNT else SETTLED_LIMIT
    if configured == 0:
        return None
    return configured


@dataclass(frozen=True)
class Verdict:
    """``reason`` is ALLOWED, UNVERIFIED (waits until the owner confirms, no date)
    or DAILY_LIMIT (waits until ``hold_until``, a day in the account's time zone)."""

    reason: str
    limit: int | None
    sent_today: int
    hold_until: date | None = None

    @property
    def allowed(self) -> bool:
        return self.reason == ALLOWED


def decide(
    *,
    verified: bool,
    account_age: timedelta,
    sent_today: int,
    configured: int | None,
    today: date,
) -> Verdict:
    """May one more email go to a client now?

    ``sent_today``: emails to clients already sent (or handed to the mail server)
    since the start of ``today``, the account's calendar day. Over the limit the
    email waits for the next day; it is never dropped.
    """
    limit = daily_limit(configured, account_age)
    if not verified:
        return Verdict(UNVERIFIED, limit, sent_today)
    if limit is not None and sent_today >= limit:
        return Verdict(DAILY_LIMIT, limit, sent_today, today + timedelta(days=1))
    return Verdict(ALLOWED, limit, sent_today)


def over_limit(limit: int | None, sent_today: int, queued: int) -> int:
    """How many of ``queued`` emails (sent in this order) will wait for another day."""
    if limit is None:
        return 0
    return max(0, queued - max(0, limit - sent_today))
