"""The schedule rules are pure: table-driven, no database, no clock."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.reminders import schedule as rules
from app.reminders.schedule import InvoiceFacts, Schedule, step_day, steps

PARIS = ZoneInfo("Europe/Paris")
FRIDAY = date(2026, 12, 4)


def paris(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


def facts(due_on=FRIDAY, sent_at=None, terms=30):
    return InvoiceFacts(due_on=due_on, sent_at=sent_at or paris(2026, 11, 4, 10), terms_days=terms)


def statuses(result):
    return {s.offset: s.status for s in result}


@pytest.mark.parametrize(
    ("due_on", "offset", "expected"),
    [
        # due on a Friday: nothing moves
        (FRIDAY, -3, date(2026, 12, 1)),
        (FRIDAY, 0, FRIDAY),
        (FRIDAY, 3, date(2026, 12, 7)),
        (FRIDAY, 7, date(2026, 12, 11)),
        # pre-due step on a Saturday → the Friday before
        (date(2026, 12, 8), -3, date(2026, 12, 4)),
        # due date on a Sunday → the Friday before
        (date(2026, 12, 6), 0, date(2026, 12, 4)),
        # after-due step on a Saturday → the Monday after
        (date(2026, 12, 2), 3, date(2026, 12, 7)),
        # after-due step on a Sunday → the Monday after
        (date(2026, 12, 6), 7, date(2026, 12, 14)),
    ],
)
def test_step_days_move_off_weekends(due_on, offset, expected):
    assert step_day(due_on, offset, skip_weekends=True) == expected


def test_weekend_days_stay_when_weekends_are_allowed():
    assert step_day(date(2026, 12, 8), -3, skip_weekends=False) == date(2026, 12, 5)
    assert step_day(date(2026, 12, 6), 0, skip_weekends=False) == date(2026, 12, 6)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (paris(2026, 12, 1, 8, 59), {-3: "future", 0: "future", 3: "future", 7: "future"}),
        (paris(2026, 12, 1, 9, 0), {-3: "due", 0: "future", 3: "future", 7: "future"}),
        (paris(2026, 12, 1, 18), {-3: "due", 0: "future", 3: "future", 7: "future"}),
        (paris(2026, 12, 4, 9), {-3: "too_late", 0: "due", 3: "future", 7: "future"}),
        (paris(2026, 12, 7, 9), {-3: "too_late", 0: "superseded", 3: "due", 7: "future"}),
        (paris(2026, 12, 11, 9), {-3: "too_late", 0: "superseded", 3: "superseded", 7: "due"}),
        # three days of downtime after D+3: only the latest due step goes
        (paris(2026, 12, 14, 9), {-3: "too_late", 0: "superseded", 3: "superseded", 7: "due"}),
    ],
)
def test_each_default_step_is_due_at_its_moment(now, expected):
    assert statuses(steps(facts(), Schedule(), now)) == expected


def test_catch_up_after_downtime_sends_only_the_latest_step():
    # The planner was down from D-4 to D+3 10:00: -3 and 0 were missed.
    result = statuses(steps(facts(), Schedule(), paris(2026, 12, 7, 10)))
    assert [o for o, s in result.items() if s == "due"] == [3]
    assert result[0] == "superseded"


def test_invoice_created_already_overdue():
    sent = paris(2026, 12, 24, 15)  # sent 20 days after its due date
    result = statuses(steps(facts(sent_at=sent), Schedule(), sent + timedelta(minutes=1)))
    assert result == {-3: "not_needed", 0: "not_needed", 3: "superseded", 7: "due"}


def test_pre_due_step_is_never_sent_on_or_after_the_due_date():
    schedule = Schedule(offsets=(-3, 7))
    assert statuses(steps(facts(), schedule, paris(2026, 12, 4, 10))) == {
        -3: "too_late",
        7: "future",
    }


def test_no_due_date_means_no_automatic_reminders():
    assert steps(facts(due_on=None), Schedule(), paris(2026, 12, 20)) == []


def test_not_sent_means_no_steps():
    unsent = InvoiceFacts(due_on=FRIDAY, sent_at=None, terms_days=30)
    assert steps(unsent, Schedule(), paris(2026, 12, 20)) == []


def test_zero_day_terms_wait_twelve_hours_after_sending():
    schedule = Schedule(offsets=(0, 1), skip_weekends=False)
    sent = paris(2026, 12, 2, 23)  # sent late on its due date
    invoice = InvoiceFacts(due_on=date(2026, 12, 2), sent_at=sent, terms_days=0)
    result = {s.offset: s for s in steps(invoice, schedule, paris(2026, 12, 3, 9, 30))}
    assert result[0].status == "not_needed"  # the invoice itself went that day
    assert result[1].status == "future"
    # 12 hours after sending is 3 December 11:00, past that day's 09:00: the next
    # send time is 4 December 09:00.
    assert result[1].at == paris(2026, 12, 4, 9).astimezone(UTC)
    later = {s.offset: s.status for s in steps(invoice, schedule, paris(2026, 12, 3, 11))}
    assert later[1] == "future"
    assert {s.offset: s.status for s in steps(invoice, schedule, paris(2026, 12, 4, 9))}[1] == "due"


def test_zero_day_terms_grace_that_ends_before_the_send_time_waits_for_it():
    schedule = Schedule(offsets=(1,), skip_weekends=False)
    sent = paris(2026, 12, 2, 18)  # + 12 h = 3 December 06:00, before 09:00
    invoice = InvoiceFacts(due_on=date(2026, 12, 2), sent_at=sent, terms_days=0)
    [step] = steps(invoice, schedule, paris(2026, 12, 3, 7))
    assert step.at == paris(2026, 12, 3, 9).astimezone(UTC)


def test_other_terms_do_not_wait():
    schedule = Schedule(offsets=(0, 1), skip_weekends=False)
    sent = paris(2026, 12, 1, 23)
    invoice = InvoiceFacts(due_on=date(2026, 12, 2), sent_at=sent, terms_days=1)
    result = {s.offset: s for s in steps(invoice, schedule, paris(2026, 12, 3, 9))}
    assert result[1].status == "due"


@pytest.mark.parametrize(
    ("timezone", "day", "utc"),
    [
        ("Europe/Paris", date(2026, 3, 27), datetime(2026, 3, 27, 8, tzinfo=UTC)),  # CET
        ("Europe/Paris", date(2026, 3, 30), datetime(2026, 3, 30, 7, tzinfo=UTC)),  # CEST
        ("Europe/Paris", date(2026, 10, 26), datetime(2026, 10, 26, 8, tzinfo=UTC)),  # CET again
        ("America/Montreal", date(2026, 12, 4), datetime(2026, 12, 4, 14, tzinfo=UTC)),
        ("America/Montreal", date(2026, 7, 3), datetime(2026, 7, 3, 13, tzinfo=UTC)),
        ("Pacific/Auckland", date(2026, 12, 4), datetime(2026, 12, 3, 20, tzinfo=UTC)),
        ("Pacific/Auckland", date(2026, 7, 3), datetime(2026, 7, 2, 21, tzinfo=UTC)),
    ],
)
def test_send_time_is_local_across_time_zones_and_dst(timezone, day, utc):
    assert rules.local_moment(day, time(9, 0), timezone) == utc


def test_dst_gap_and_overlap():
    # 02:30 does not exist in Paris on 29 March 2026: it becomes 03:30 CEST.
    assert rules.local_moment(date(2026, 3, 29), time(2, 30), "Europe/Paris") == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # 02:30 happens twice on 25 October 2026: the first one counts.
    assert rules.local_moment(date(2026, 10, 25), time(2, 30), "Europe/Paris") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_a_step_in_auckland_is_due_by_auckland_time():
    auckland = ZoneInfo("Pacific/Auckland")
    schedule = Schedule(timezone="Pacific/Auckland")
    invoice = facts(sent_at=datetime(2026, 11, 4, 10, tzinfo=auckland))
    before = datetime(2026, 12, 1, 8, 59, tzinfo=auckland)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=auckland)
    assert statuses(steps(invoice, schedule, before))[-3] == "future"
    assert statuses(steps(invoice, schedule, at))[-3] == "due"


def test_next_moment_is_the_first_step_to_come():
    now = paris(2026, 12, 2)
    assert rules.next_moment(facts(), Schedule(), now) == paris(2026, 12, 4).astimezone(UTC)
    assert rules.next_moment(facts(), Schedule(), paris(2026, 12, 12)) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "at least one"),
        ([1, 1], "twice"),
        ([-31], "from"),
        ([91], "from"),
        (list(range(11)), "At most"),
    ],
)
def test_offsets_are_validated(values, message):
    with pytest.raises(ValueError, match=message):
        rules.validate_offsets(values)


def test_offsets_parse_and_sort():
    assert rules.parse_offsets("7, -3,0,3") == (-3, 0, 3, 7)
