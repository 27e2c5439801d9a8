"""Reminder levels (issue 5): 1 Reminder, 2 Second reminder, 3 Final reminder,
4 Formal notice. Pure rules, no I/O.

Each after-due step of the schedule maps to a level: by default the n-th after-due
offset is level min(n, 4) (+3 → 1, +7 → 2; the Firm preset goes on with +14 → 3 and
+30 → 4); the owner may set the level of an offset by hand ("3:1,7:2,14:4").
Steps before or on the due date have level 0.
"""

from __future__ import annotations

from functools import lru_cache

from flask_babel import lazy_gettext as _l

MAX_LEVEL = 4
LEVELS = (1, 2, 3, 4)
LEVEL_NAMES = {
    0: _l("No reminder yet"),
    1: _l("Reminder"),
    2: _l("Second reminder"),
    3: _l("Final reminder"),
    4: _l("Formal notice"),
}


def level_name(level: int) -> str:
    return str(LEVEL_NAMES.get(level, LEVEL_NAMES[MAX_LEVEL]))


def parse_custom(text: str) -> dict[int, int]:
    """``"3:1,7:2"`` → {3: 1, 7: 2}; ValueError on anything else."""
    result = {}
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        offset, _, level = part.partition(":")
        offset_value, level_value = int(offset), int(level)
        if offset_value <= 0 or not 1 <= level_value <= MAX_LEVEL:
            raise ValueError("an after-due day maps to a level from 1 to 4")
        result[offset_value] = level_value
    return result


@lru_cache(maxsize=4096)
def level_for(offsets_text: str, custom_text: str, offset: int | None) -> int:
    """The level of the step ``offset`` for an account whose offsets are ``offsets_text``
    ("-3,0,3,7") and whose own mapping is ``custom_text`` ("" when none)."""
    if offset is None or offset <= 0:
        return 0
    try:
        custom = parse_custom(custom_text)
    except ValueError:
        custom = {}
    if offset in custom:
        return custom[offset]
    try:
        after = sorted(int(o) for o in offsets_text.replace(" ", "").split(",") if o and int(o) > 0)
    except ValueError:
        after = []
    if offset in after:
        return min(after.index(offset) + 1, MAX_LEVEL)
    return min(sum(1 for o in after if o < offset) + 1, MAX_LEVEL)


def account_level(account, offset: int | None) -> int:
    return level_for(account.reminder_offsets, account.reminder_levels or "", offset)


def next_level(current: int) -> int:
    """The level a new reminder takes for an invoice at ``current``."""
    return min(max(current, 0) + 1, MAX_LEVEL)
