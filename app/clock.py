"""The only place that reads the current time.

Tests and the ``reminders tick --now`` command move the clock with :func:`set_now`;
everything else calls :func:`now` (aware UTC) or :func:`today` (a calendar date in
a time zone).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_global = {"fixed": None}


def now() -> datetime:
    """Current time as an aware UTC datetime (the fixed time when one is set)."""
    fixed = _global["fixed"]
    if fixed is not None:
        return fixed
    return datetime.now(UTC)


def set_now(value: datetime | None) -> None:
    """Fix the clock to ``value`` (aware) for the whole process; ``None`` releases it."""
    if value is not None:
        if value.tzinfo is None:
            raise ValueError("the clock takes aware datetimes only")
        value = value.astimezone(UTC)
    _global["fixed"] = value


def advance(delta: timedelta) -> datetime:
    """Move a fixed clock forward (fixing it at the current time first)."""
    set_now(now() + delta)
    return now()


def today(timezone: str = "Europe/Paris") -> date:
    """The calendar date now in ``timezone`` (an IANA name)."""
    return now().astimezone(ZoneInfo(timezone)).date()
