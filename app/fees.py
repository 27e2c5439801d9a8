"""Late-payment fees the law allows, per client: country and business or consumer.

Pure rules (no database, no clock, no Flask): the caller passes today's date, the
balance, the overdue reminders already sent and the owner's settings, and gets
back the lines it may *show* in a reminder. Fees are never added to the invoice
total: they are what the owner may claim, stated in the reminder.

Money is integer cents (euros: the legal amounts are in euros, so other
currencies get no legal preset), rates are basis points (12.5 % is 1250).

Sources (cited where each rule is applied below):

- France, business client: Code de commerce art. L441-10 II (late interest, unless
  the terms say otherwise, at the ECB refinancing rate + 10 points, the rate of
  1 January for the first half-year and of 1 July for the second) and art. D441-5
  (fixed recovery compensation of €40 per unpaid invoice, due without notice).
- France, consumer: no fixed compensation (L441-10 covers business dealings only);
  Code des procédures civiles d'exécution art. L111-8: recovery costs incurred
  without an enforceable title stay with the creditor, so no cost is shown.
- Belgium, business client: law of 2 August 2002 on late payment in commercial
  transactions, art. 5 (interest at the ECB rate of the first day of the half-year
  + 8 points, rounded up to the next half point, published each half-year by the
  FPS Finance) and art. 6 (fixed compensation of €40).
- Belgium, consumer: Code of Economic Law, Book XIX (law of 4 May 2023, in force
  1 September 2023), art. XIX.2 and XIX.4: the first reminder is free and states
  the balance and the compensation that would be claimed; no cost, compensation
  or interest before 14 calendar days after it (from the day after an email, from
  the 3rd working day after a letter); each further reminder at most €7.50 plus
  postage; compensation at most €20 up to €150, €30 + 10 % of the part from
  €150.01 to €500, €65 + 5 % of the part above €500, never more than €2,000;
  interest at most the rate of the law of 2 August 2002.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

LEGAL_CURRENCY = "EUR"
COUNTRIES = ("FR", "BE")  # the countries whose rules Relance knows
KINDS = ("business", "consumer")

FIXED_COMPENSATION_CENTS = 40_00  # FR: D441-5 Code de commerce; BE: art. 6 law of 2 August 2002
BE_CONSUMER_REMINDER_CAP_CENTS = 7_50  # Book XIX art. XIX.4, per reminder after the first, + postage
BE_CONSUMER_WAIT_DAYS = 14  # Book XIX art. XIX.2 §1
BE_CONSUMER_LETTER_WORKING_DAY = 3  # the 14 days start on the 3rd working day after a letter


@dataclass(frozen=True)
class Rate:
    """A reference rate in force for the half-year that starts on ``starts_on``."""

    starts_on: date
    rate_bp: int
    confirmed: bool = True  # False: a figure we could not check against a publication


# --- Reference rates, shipped in the code so the app works offline -------------
# Editable per account in Settings → Late fees (an override row wins over these).
#
# ECB rate on its main refinancing operations (MRO), in force on 1 January / 1 July
# (ECB key interest rates page and press releases): 2.50 % from 21 Dec 2022,
# 4.00 % from 21 Jun 2023, 4.50 % from 20 Sep 2023, 4.25 % from 12 Jun 2024,
# 3.65 % from 18 Sep 2024, 3.40 % from 23 Oct 2024, 3.15 % from 18 Dec 2024,
# 2.90 % from 5 Feb 2025, 2.65 % from 12 Mar 2025, 2.40 % from 23 Apr 2025,
# 2.15 % from 11 Jun 2025. France adds 10 points (L441-10 II).
ECB_MRO = (
    Rate(date(2023, 1, 1), 250),
    Rate(date(2023, 7, 1), 400),
    Rate(date(2024, 1, 1), 450),
    Rate(date(2024, 7, 1), 425),
    Rate(date(2025, 1, 1), 315),
    Rate(date(2025, 7, 1), 215),
    # NOT CONFIRMED: we found reports of the ECB keeping 2.15 % into 2026 but no
    # dated publication for 1 January 2026. Check and correct it in Settings.
    Rate(date(2026, 1, 1), 215, confirmed=False),
)
FR_MARGIN_BP = 1000

# Belgium, law of 2 August 2002 art. 5 (rate published by the FPS Finance in the
# Moniteur belge): 10.5 % 2023-H1, 12 % 2023-H2, 12.5 % 2024-H1 and H2,
# 11.5 % 2025-H1, 10.5 % 2025-H2.
BE_2002 = (
    Rate(date(2023, 1, 1), 1050),
    Rate(date(2023, 7, 1), 1200),
    Rate(date(2024, 1, 1), 1250),
    Rate(date(2024, 7, 1), 1250),
    Rate(date(2025, 1, 1), 1150),
    Rate(date(2025, 7, 1), 1050),
    # NOT CONFIRMED: announced as unchanged at 10.5 % for 2026-H1 before its
    # publication in the Moniteur belge; we could not see the published notice.
    Rate(date(2026, 1, 1), 1050, confirmed=False),
)

SERIES = {"fr_ecb": ECB_MRO, "be_2002": BE_2002}


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def merge_rates(shipped, overrides=()) -> tuple[Rate, ...]:
    """The shipped table with the account's overrides (same half-year: the override wins)."""
    table = {rate.starts_on: rate for rate in shipped}
    for starts_on, rate_bp in overrides:
        table[half_year_start(starts_on)] = Rate(half_year_start(starts_on), rate_bp, True)
    return tuple(sorted(table.values(), key=lambda rate: rate.starts_on))


def rate_on(table, day: date) -> Rate | None:
    """The rate of the half-year ``day`` falls in; past the table's end, the last rate,
    marked unconfirmed (the table needs its new half-year)."""
    start = half_year_start(day)
    found = None
    for rate in table:
        if rate.starts_on <= start:
            found = rate
    if found is None:
        return None
    if found.starts_on != start:
        return Rate(start, found.rate_bp, confirmed=False)
    return found


def round_cents(amount: Fraction) -> int:
    """Half up, on positive amounts."""
    return int(amount + Fraction(1, 2))


def interest_cents(balance_cents: int, table, first_day: date, last_day: date, margin_bp: int = 0):
    """Simple interest on ``balance_cents`` for each day from ``first_day`` to
    ``last_day`` inclusive, at the rate of each day's half-year (+ ``margin_bp``),
    on a 365-day year. Returns (cents, rate of the last day, every rate confirmed)."""
    if last_day < first_day:
        return 0, None, True
    total = Fraction(0)
    confirmed = True
    day = first_day
    last_rate = None
    while day <= last_day:
        rate = rate_on(table, day)
        if rate is None:
            return 0, None, False
        confirmed = confirmed and rate.confirmed
        end = min(last_day, _half_year_end(day))
        days = (end - day).days + 1
        last_rate = rate.rate_bp + margin_bp
        total += Fraction(balance_cents * last_rate * days, 10000 * 365)
        day = end + timedelta(days=1)
    return round_cents(total), last_rate, confirmed


def _half_year_end(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


def be_consumer_compensation_cap(balance_cents: int) -> int:
    """Book XIX art. XIX.4: the most a consumer may be asked as compensation."""
    if balance_cents <= 150_00:
        return 20_00
    if balance_cents <= 500_00:
        return 30_00 + round_cents(Fraction(balance_cents - 150_00, 10))
    return min(65_00 + round_cents(Fraction(balance_cents - 500_00, 20)), 2_000_00)


def working_day_after(day: date, count: int) -> date:
    """The ``count``-th working day (Monday to Friday) after ``day``. Public holidays
    are not known to Relance: they would only make the real date later."""
    while count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def be_consumer_costs_from(first_reminder_on: date, channel: str = "email") -> date:
    """The first day costs may be claimed after a first reminder sent on that day:
    the 14 days run from the day after an email, from the 3rd working day after a
    letter; the day after the 14th day is the first day costs are allowed."""
    if channel == "letter":
        start = working_day_after(first_reminder_on, BE_CONSUMER_LETTER_WORKING_DAY)
    else:
        start = first_reminder_on + timedelta(days=1)
    return start + timedelta(days=BE_CONSUMER_WAIT_DAYS)


@dataclass(frozen=True)
class OwnerCost:
    """The owner's cost for the reminder of a level (1 = first overdue reminder);
    it also applies to later levels until a higher level has its own."""

    level: int
    fixed_cents: int = 0
    percent_bp: int = 0

    def amount(self, balance_cents: int) -> int:
        return self.fixed_cents + round_cents(Fraction(balance_cents * self.percent_bp, 10000))


def owner_cost_for(costs, level: int) -> OwnerCost | None:
    found = None
    for cost in sorted(costs, key=lambda c: c.level):
        if cost.level <= level:
            found = cost
    return found


@dataclass(frozen=True)
class FeeLine:
    code: str  # "compensation", "interest", "costs"
    amount_cents: int
    rate_bp: int | None = None  # interest: the yearly rate (of the last day)
    days: int | None = None  # interest: the number of days
    count: int | None = None  # costs: how many reminders carry a cost


@dataclass(frozen=True)
class Fees:
    """What a reminder may show. ``status``:

    - ``ok``: ``lines`` may be claimed (possibly none: see ``notes``);
    - ``unknown_client``: the client's country or type is missing: ask the owner,
      show nothing (never a guessed rule);
    - ``no_rule``: Relance knows no rule for this country or currency: nothing;
    - ``not_due``: the invoice is not overdue: nothing;
    - ``off``: the owner claims no fees.
    """

    status: str
    lines: tuple[FeeLine, ...] = ()
    announced: tuple[FeeLine, ...] = ()  # BE consumer, first reminder: what would be claimed
    notes: tuple[str, ...] = ()
    costs_from: date | None = None  # BE consumer: no cost before this day
    rates_confirmed: bool = True
    rule: str = ""  # "fr_business", "fr_consumer", "be_business", "be_consumer"

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class Settings:
    """The account's choices: claim the legal compensation and interest, its own
    costs per level, and its corrections to the reference rates."""

    legal: bool = False
    costs: tuple[OwnerCost, ...] = ()
    rate_overrides: dict = field(default_factory=dict)  # series → ((starts_on, rate_bp), …)

    def table(self, series: str):
        return merge_rates(SERIES[series], self.rate_overrides.get(series, ()))

    @property
    def active(self) -> bool:
        return self.legal or any(c.fixed_cents or c.percent_bp for c in self.costs)


def compute(
    *,
    country: str | None,
    kind: str | None,
    currency: str,
    balance_cents: int,
    due_on: date | None,
    today: date,
    previous: tuple[tuple[date, str], ...] = (),
    channel: str = "email",
    settings: Settings,
) -> Fees:
    """The fees a reminder sent ``today`` may show.

    ``previous`` lists the overdue reminders of this invoice already sent, as
    (day, channel) in order; this reminder is the next level.
    """
    if not settings.active:
        return Fees("off")
    if not country or kind not in KINDS:
        return Fees("unknown_client")
    if country not in COUNTRIES or currency != LEGAL_CURRENCY:
        return Fees("no_rule")
    if due_on is None or today <= due_on or balance_cents <= 0:
        return Fees("not_due")
    previous = tuple(sorted(previous))
    rule = f"{country.lower()}_{kind}"
    if rule == "fr_consumer":
        return Fees("ok", notes=("fr_consumer",), rule=rule)
    if rule == "be_consumer":
        return _be_consumer(balance_cents, today, previous, channel, settings)
    # Businesses, France and Belgium alike: €40 + interest from the day after the due date.
    lines = []
    confirmed = True
    if settings.legal:
        lines.append(FeeLine("compensation", FIXED_COMPENSATION_CENTS))
        series, margin = ("fr_ecb", FR_MARGIN_BP) if country == "FR" else ("be_2002", 0)
        first_day = due_on + timedelta(days=1)
        cents, rate_bp, confirmed = interest_cents(
            balance_cents, settings.table(series), first_day, today, margin
        )
        if rate_bp is not None:
            lines.append(FeeLine("interest", cents, rate_bp=rate_bp, days=(today - due_on).days))
    levels = [*previous, (today, channel)]
    costs = [owner_cost_for(settings.costs, level) for level in range(1, len(levels) + 1)]
    cost_total = sum(c.amount(balance_cents) for c in costs if c)
    if cost_total:
        lines.append(
            FeeLine("costs", cost_total, count=sum(1 for c in costs if c and c.amount(balance_cents)))
        )
    return Fees("ok", lines=tuple(lines), notes=(rule,), rates_confirmed=confirmed, rule=rule)


def _be_consumer(balance_cents, today, previous, channel, settings) -> Fees:
    rule = "be_consumer"
    if not previous:
        # Book XIX art. XIX.2: the first reminder is free and states the balance and
        # the compensation that would be claimed after the 14 days.
        announced = []
        if settings.legal:
            announced.append(FeeLine("compensation", be_consumer_compensation_cap(balance_cents)))
            rate = rate_on(settings.table("be_2002"), today)
            if rate is not None:
                announced.append(FeeLine("interest", 0, rate_bp=rate.rate_bp))
        return Fees(
            "ok",
            announced=tuple(announced),
            notes=("be_consumer_first",),
            costs_from=be_consumer_costs_from(today, channel),
            rule=rule,
        )
    first_on, first_channel = previous[0]
    costs_from = be_consumer_costs_from(first_on, first_channel)
    if today < costs_from:
        return Fees("ok", notes=("be_consumer_wait",), costs_from=costs_from, rule=rule)
    lines = []
    confirmed = True
    if settings.legal:
        lines.append(FeeLine("compensation", be_consumer_compensation_cap(balance_cents)))
        cents, rate_bp, confirmed = interest_cents(
            balance_cents, settings.table("be_2002"), costs_from, today
        )
        if rate_bp is not None:
            lines.append(FeeLine("interest", cents, rate_bp=rate_bp, days=(today - costs_from).days + 1))
    # Reminder costs: none for the first, none for one sent inside the 14 days,
    # at most €7.50 for each other one (postage is not charged: Relance sends emails).
    total = 0
    count = 0
    for level, (sent_on, _channel) in enumerate([*previous, (today, channel)], start=1):
        cost = owner_cost_for(settings.costs, level)
        if level == 1 or cost is None or sent_on < costs_from:
            continue
        amount = min(cost.amount(balance_cents), BE_CONSUMER_REMINDER_CAP_CENTS)
        if amount:
            total += amount
            count += 1
    if total:
        lines.append(FeeLine("costs", total, count=count))
    return Fees(
        "ok",
        lines=tuple(lines),
        notes=("be_consumer",),
        costs_from=costs_from,
        rates_confirmed=confirmed,
        rule=rule,
    )
