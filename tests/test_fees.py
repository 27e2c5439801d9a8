"""Late fees the law allows (app/fees.py): worked examples, table-driven."""

from datetime import date, timedelta

import pytest

from app import fees
from app.fees import OwnerCost, Settings

LEGAL = Settings(legal=True)
D = date


DUE = D(2025, 9, 30)
TODAY = D(2025, 10, 30)


def compute(country="FR", kind="business", balance=100_000, due=DUE, today=TODAY, **kw):
    kw.setdefault("settings", LEGAL)
    return fees.compute(
        country=country,
        kind=kind,
        currency=kw.pop("currency", "EUR"),
        balance_cents=balance,
        due_on=due,
        today=today,
        **kw,
    )


def amounts(result):
    return {line.code: line.amount_cents for line in result.lines}


@pytest.mark.parametrize(
    ("balance_cents", "cap_cents"),
    [
        (100_00, 20_00),  # up to €150: €20
        (150_00, 20_00),
        (150_01, 30_00),  # €30 + 10 % of €0.01 (rounds to nothing)
        (215_00, 36_50),  # €30 + 10 % of €65
        (500_00, 65_00),  # €30 + 10 % of €350
        (1_000_00, 90_00),  # €65 + 5 % of €500
        (39_500_00, 2_000_00),  # €65 + 5 % of €39,000 = €2,015 → capped at €2,000
        (50_000_00, 2_000_00),
    ],
)
def test_belgian_consumer_compensation_cap(balance_cents, cap_cents):
    assert fees.be_consumer_compensation_cap(balance_cents) == cap_cents


@pytest.mark.parametrize(
    ("balance", "expected"),
    [(215_00, 36_50), (100_00, 20_00), (50_000_00, 2_000_00)],
)
def test_belgian_consumer_worked_examples_after_the_14_days(balance, expected):
    first = D(2025, 10, 1)
    result = compute(
        "BE", "consumer", balance, due=D(2025, 9, 20), today=D(2025, 10, 20), previous=((first, "email"),)
    )
    assert result.status == "ok"
    assert amounts(result)["compensation"] == expected


def test_belgian_consumer_first_reminder_is_free_and_announces_the_compensation():
    result = compute("BE", "consumer", 215_00, due=D(2025, 9, 20), today=D(2025, 10, 1))
    assert result.lines == () and result.total_cents == 0
    assert [(line.code, line.amount_cents) for line in result.announced][0] == ("compensation", 36_50)
    assert result.announced[1].rate_bp == 1050  # 2025-H2 rate of the law of 2 August 2002
    # Email on 1 October: the 14 days run from 2 to 15 October; costs from the 16th.
    assert result.costs_from == D(2025, 10, 16)
    assert result.notes == ("be_consumer_first",)


@pytest.mark.parametrize(
    ("days_after_first", "charged"),
    [(1, False), (10, False), (14, False), (15, True), (30, True)],
)
def test_belgian_consumer_second_reminder_waits_14_days_after_an_email(days_after_first, charged):
    first = D(2025, 10, 1)
    costs = Settings(legal=True, costs=(OwnerCost(1, 5_00), OwnerCost(2, 10_00)))
    result = compute(
        "BE", "consumer", 215_00, due=D(2025, 9, 20), today=first + timedelta(days=days_after_first),
        previous=((first, "email"),), settings=costs,
    )  # fmt: skip
    assert bool(result.lines) is charged
    if charged:
        # The owner's €10 for the 2nd reminder is capped at €7.50; the first stays free.
        assert amounts(result)["costs"] == 7_50
        assert amounts(result)["compensation"] == 36_50
    else:
        assert result.notes == ("be_consumer_wait",)
        assert result.costs_from == D(2025, 10, 16)


def test_a_second_reminder_ten_days_after_the_first_carries_no_cost():
    first = D(2025, 10, 1)
    result = compute("BE", "consumer", 215_00, today=first + timedelta(days=10), previous=((first, "email"),))
    assert result.lines == () and result.total_cents == 0


def test_letter_starts_the_14_days_on_the_third_working_day():
    # A letter posted on Thursday 2 October 2025: working days Fri 3, Mon 6, Tue 7 →
    # the 14 days run from 7 to 20 October; costs from the 21st.
    assert fees.be_consumer_costs_from(D(2025, 10, 2), "letter") == D(2025, 10, 21)
    assert fees.be_consumer_costs_from(D(2025, 10, 2), "email") == D(2025, 10, 17)


def test_reminders_inside_the_wait_stay_free_later_ones_are_capped():
    first = D(2025, 10, 1)
    costs = Settings(costs=(OwnerCost(2, 20_00),))
    previous = ((first, "email"), (D(2025, 10, 8), "email"), (D(2025, 10, 20), "email"))
    result = compute("BE", "consumer", 215_00, today=D(2025, 11, 1), previous=previous, settings=costs)
    # 1st free, 2nd inside the 14 days free, 3rd and 4th €7.50 each; no legal lines (not claimed).
    assert result.lines == (fees.FeeLine("costs", 15_00, count=2),)


def test_french_business_40_euros_and_ecb_plus_ten_points():
    # 30 days overdue, all in 2025-H2 (ECB 2.15 % → 12.15 %): 1000 × 12.15 % × 30 / 365 = 9.99
    result = compute("FR", "business", 1_000_00, due=D(2025, 9, 30), today=D(2025, 10, 30))
    assert amounts(result) == {"compensation": 40_00, "interest": 9_99}
    interest = result.lines[1]
    assert (interest.rate_bp, interest.days) == (1215, 30)


def test_interest_follows_each_half_year():
    # 10 days in June 2025 (ECB 3.15 % → 13.15 %) and 10 in July (12.15 %), on €3,650.
    result = compute("FR", "business", 3_650_00, due=D(2025, 6, 20), today=D(2025, 7, 10))
    # 3650 × (0.1315 × 10 + 0.1215 × 10) / 365 = 25.30
    assert amounts(result)["interest"] == 25_30


def test_belgian_business_40_euros_and_the_2002_law_rate():
    result = compute("BE", "business", 1_000_00, due=D(2025, 9, 30), today=D(2025, 10, 30))
    # 1000 × 10.5 % × 30 / 365 = 8.63
    assert amounts(result) == {"compensation": 40_00, "interest": 8_63}


def test_french_consumer_gets_no_fee_at_all():
    costs = Settings(legal=True, costs=(OwnerCost(1, 10_00, 500),))
    result = compute("FR", "consumer", 1_000_00, settings=costs)
    assert result.status == "ok" and result.lines == () and result.notes == ("fr_consumer",)


def test_owner_costs_fixed_and_percent_per_level():
    costs = Settings(costs=(OwnerCost(1, 5_00), OwnerCost(3, 10_00, 100)))
    previous = ((D(2025, 10, 5), "email"), (D(2025, 10, 12), "email"))
    result = compute("FR", "business", 1_000_00, previous=previous, settings=costs)
    # levels 1 and 2: €5 each; level 3: €10 + 1 % of €1,000 = €20 → €30
    assert result.lines == (fees.FeeLine("costs", 30_00, count=3),)


@pytest.mark.parametrize(
    ("country", "kind", "currency", "status"),
    [
        ("", "business", "EUR", "unknown_client"),
        (None, "consumer", "EUR", "unknown_client"),
        ("BE", "", "EUR", "unknown_client"),
        ("BE", "unknown", "EUR", "unknown_client"),
        ("DE", "business", "EUR", "no_rule"),
        ("FR", "business", "CHF", "no_rule"),
    ],
)
def test_no_guessed_rule(country, kind, currency, status):
    result = compute(country, kind, currency=currency)
    assert result.status == status and result.lines == () and result.announced == ()


def test_nothing_before_the_due_date_or_when_off():
    assert compute(today=D(2025, 9, 30)).status == "not_due"
    assert compute(due=None).status == "not_due"
    assert compute(settings=Settings()).status == "off"
    assert compute("", "", settings=Settings()).status == "off"  # no need to ask


def test_rates_past_the_table_are_flagged_and_overrides_win():
    late = compute("FR", "business", 1_000_00, due=D(2026, 9, 30), today=D(2026, 10, 30))
    assert late.rates_confirmed is False  # 2026-H2 is not in the shipped table
    fixed = Settings(legal=True, rate_overrides={"fr_ecb": ((D(2026, 7, 1), 200),)})
    result = compute("FR", "business", 1_000_00, due=D(2026, 9, 30), today=D(2026, 10, 30), settings=fixed)
    assert result.rates_confirmed is True
    assert result.lines[1].rate_bp == 1200  # the owner's 2.00 % + 10 points


def test_shipped_tables_are_half_years_in_order():
    for table in fees.SERIES.values():
        starts = [rate.starts_on for rate in table]
        assert starts == sorted(starts)
        assert all(day.day == 1 and day.month in (1, 7) for day in starts)
