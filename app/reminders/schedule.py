"""Pure schedule rules (DESIGN.md rules 1, 2 and 4): no database, no clock.

Given the facts of one invoice, the account's schedule and "now", say for each
step of the schedule when it falls and whether it is due now, superseded,
not needed, or still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_OFFSETS = (-3, 0, 3, 7)
PRESETS = {
    "standard": (-3, 0, 3, 7),
    "gentle": (0, 7),
    "firm": (-3, 0, 3, 7, 14, 30),
}
MIN_OFFSET, MAX_OFFSET, MAX_STEPS = -30, 90, 10
ZERO_TERMS_GRACE = timedelta(hours=12)

# Step statuses
DUE = "due"  # its moment has come and it is the latest such step: send it now
SUPERSEDED = "superseded"  # its moment passed but a later step is due too (catch-up)
TOO_LATE = "too_late"  # a pre-due step whose moment came on or after the due date
NOT_NEEDED = "not_needed"  # the invoice was sent on or after this step's day
FUTURE = "future"  # still to come


@dataclass(frozen=True)
class Schedule:
    """The account's settings that decide when steps fall."""

    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    send_time: time = time(9, 0)
    timezone: str = "Europe/Paris"
    skip_weekends: bool = True


@dataclass(frozen=True)
class InvoiceFacts:
    due_on: date | None
    sent_at: datetime | None  # aware; when the client received the invoice
    terms_days: int | None


@dataclass(frozen=True)
class Step:
    offset: int
    on: date  # the calendar day it falls on (weekends moved)
    at: datetime  # aware UTC moment: send at or after it
    status: str


def parse_offsets(text: str) -> tuple[int, ...]:
    """``"-3,0,3,7"`` → ``(-3, 0, 3, 7)``; raises ValueError on anything else."""
    values = [int(part) for part in text.replace(" ", "").split(",") if part != ""]
    return validate_offsets(values)


def validate_offsets(values) -> tuple[int, ...]:
    """Sorted offsets, or ValueError with a message fit for a person."""
    values = list(values)
    if not values:
        raise ValueError("Choose at least one day.")
    if len(values) > MAX_STEPS:
        raise ValueError(f"At most {MAX_STEPS} reminders.")
    if len(set(values)) != len(values):
        raise ValueError("The same day appears twice.")
    for value in values:
        if not MIN_OFFSET <= value <= MAX_OFFSET:
            raise ValueError(f"Days go from {MIN_OFFSET} to +{MAX_OFFSET}.")
    return tuple(sorted(values))


@lru_cache(maxsize=65536)
def step_day(due_on: date, offset: int, skip_weekends: bool) -> date:
    """The day a step falls on. Not on weekends: before and on the due date move to
    the Friday before, after the due date to the Monday after."""
    day = due_on + timedelta(days=offset)
    if skip_weekends and day.weekday() >= 5:
        if offset <= 0:
            day -= timedelta(days=day.weekday() - 4)
        else:
            day += timedelta(days=7 - day.weekday())
    return day


@lru_cache(maxsize=65536)
def local_moment(day: date, at: time, timezone: str) -> datetime:
    """``day`` at ``at`` in ``timezone``, as aware UTC.

    A wall time that does not exist (the spring DST gap) moves forward by the
    size of the gap (02:30 → 03:30); an ambiguous one (autumn) takes its first
    occurrence.
    """
    zone = ZoneInfo(timezone)
    first = datetime.combine(day, at, tzinfo=zone)
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None):
        return first.astimezone(UTC)  # ambiguous: fold=0 is the first occurrence
    return max(first.astimezone(UTC), second.astimezone(UTC))  # in the gap


def _first_send_time_after(moment: datetime, schedule: Schedule) -> datetime:
    """The first send-time moment at or after ``moment`` (rule 1: at or after the send time)."""
    day = moment.astimezone(ZoneInfo(schedule.timezone)).date()
    candidate = local_moment(day, schedule.send_time, schedule.timezone)
    if candidate < moment:
        candidate = local_moment(day + timedelta(days=1), schedule.send_time, schedule.timezone)
    return candidate


def steps(facts: InvoiceFacts, schedule: Schedule, now: datetime) -> list[Step]:
    """Every step of the schedule for this invoice, with its status at ``now``.

    Invoices without a due date or not yet sent have no steps.
    """
    if facts.due_on is None or facts.sent_at is None:
        return []
    zone = ZoneInfo(schedule.timezone)
    today = now.astimezone(zone).date()
    sent_day = facts.sent_at.astimezone(zone).date()
    planned = []
    for offset in sorted(schedule.offsets):
        day = step_day(facts.due_on, offset, schedule.skip_weekends)
        moment = local_moment(day, schedule.send_time, schedule.timezone)
        if offset > 0 and facts.terms_days == 0:
            moment = max(moment, _first_send_time_after(facts.sent_at + ZERO_TERMS_GRACE, schedule))
        planned.append((offset, day, moment))

    result: list[Step] = []
    latest_due = None
    for offset, day, moment in planned:
        if offset <= 0 and day <= sent_day:
            status = NOT_NEEDED
        elif moment > now:
            status = FUTURE
        elif offset < 0 and today >= facts.due_on:
            status = TOO_LATE
        else:
            status = DUE
            latest_due = offset
        result.append(Step(offset, day, moment, status))
    # Catch-up: only the latest due step goes; older ones are superseded.
    return [
        Step(s.offset, s.on, s.at, SUPERSEDED) if s.status == DUE and s.offset != latest_due else s
        for s in result
    ]


def next_moment(facts: InvoiceFacts, schedule: Schedule, now: datetime) -> datetime | None:
    """When the planner must look at this invoice again: the first step still to come."""
    future = [s.at for s in steps(facts, schedule, now) if s.status == FUTURE]
    return min(future) if future else None
