"""Forms of the money rules (issue 7): the client's answer, late-fee settings."""

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, ValidationError

from .forms import CleanInput, MoneyField, RelanceForm, options, stripped
from .models import ANSWER_KINDS

MAX_PROMISE_DAYS = 90
MAX_COST_CENTS = 1_000_000  # €10,000 per reminder is a typo


def parse_percent(raw: str) -> int:
    """``"1,5"`` → 150 basis points; refuses what is not a rate from 0 to 100."""
    text = (raw or "0").strip().replace(",", ".").rstrip("%").strip() or "0"
    try:
        scaled = Decimal(text) * 100
    except InvalidOperation:
        raise ValueError(_("Enter a rate such as 2 or 1.5.")) from None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(_("Use at most two decimals."))
    value = int(scaled)
    if not 0 <= value <= 10000:
        raise ValueError(_("The rate is between 0 and 100."))
    return value


class PercentField(StringField):
    """A rate typed as a percentage, kept as basis points (``data``)."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = None
        try:
            self.data = parse_percent(self.raw)
        except ValueError as error:
            raise ValueError(str(error)) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if not self.data:
            return ""
        return f"{self.data / 100:g}"


class AnswerForm(RelanceForm):
    """One of the client's three answers on the public page."""

    kind = HiddenField()
    # Read by hand: a date field would complain about an empty date on the other answers.
    promised_on = StringField(_l("I'll pay on"), filters=[stripped])
    message = TextAreaField(_l("What is wrong with this invoice?"), [Length(max=2000)], filters=[stripped])
    submit = SubmitField(_l("Send"))

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def validate_kind(self, field):
        if field.data not in ANSWER_KINDS:
            raise ValidationError(_("Choose one of the answers."))

    def validate_promised_on(self, field):
        if self.kind.data != "promise":
            return
        try:
            day = date.fromisoformat(field.data or "")
        except ValueError:
            raise ValidationError(_("Choose the date you will pay.")) from None
        self.promised_day = day
        if day < self.today:
            raise ValidationError(_("This date is in the past: choose today or a later day."))
        if day > self.today + timedelta(days=MAX_PROMISE_DAYS):
            raise ValidationError(
                _(
                    "Choose a date within %(days)d days; for longer, please write to us.",
                    days=MAX_PROMISE_DAYS,
                )
            )

    def validate_message(self, field):
        if self.kind.data == "dispute" and not field.data:
            raise ValidationError(_("Tell us in a few words what is wrong, so we can sort it out."))


class CostForm(Form):
    Meta = CleanInput

    fixed = MoneyField(_l("Fixed"))
    percent = PercentField(_l("Percentage of the balance"))

    def validate_fixed(self, field):
        if field.data is not None and field.data > MAX_COST_CENTS:
            raise ValidationError(_("This amount is too large."))


class FeeSettingsForm(RelanceForm):
    legal = BooleanField(_l("Claim the compensation and interest the law allows"))
    costs = FieldList(FormField(CostForm), min_entries=3, max_entries=3)
    submit = SubmitField(_l("Save"))


def series_choices():
    return options(
        [
            ("fr_ecb", _l("France: ECB refinancing rate (interest = rate + 10 points)")),
            ("be_2002", _l("Belgium: rate of the law of 2 August 2002")),
        ]
    )


def _half(month: int) -> str:
    # Outside the f-string so that pybabel extracts both strings.
    return _("first half") if month == 1 else _("second half")


def half_year_choices(today: date):
    years = range(today.year - 3, today.year + 2)
    return options([(f"{y}-{m:02d}-01", f"{y} – {_half(m)}") for y in years for m in (1, 7)])


class RateForm(RelanceForm):
    series = SelectField(_l("Rate"), choices=series_choices)
    starts_on = SelectField(_l("Half-year"))
    rate = PercentField(_l("Rate in %"))
    submit = SubmitField(_l("Save this rate"))
