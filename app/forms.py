"""Forms (Flask-WTF: validation + CSRF). Labels are lazy so they follow the locale."""

from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from . import mailer
from .money import CURRENCIES, AmountError, parse_amount
from .parsing import ascii_digits

TIMEZONES = frozenset(available_timezones())


def without_nul(value):
    # PostgreSQL text cannot hold NUL bytes: a pasted one would otherwise be a 500.
    return value.replace("\x00", "") if isinstance(value, str) else value


class CleanInput:
    """Form Meta: every field drops NUL bytes from what it receives."""

    def bind_field(self, form, unbound_field, options):
        if issubclass(unbound_field.field_class, (FieldList, FormField)):
            return unbound_field.bind(form=form, **options)  # their inner fields are cleaned
        filters = (without_nul, *(unbound_field.kwargs.get("filters") or ()))
        return unbound_field.bind(form=form, filters=filters, **options)


class RelanceForm(FlaskForm):
    """Base of every form: CSRF (Flask-WTF) and input cleaned of NUL bytes."""

    class Meta(CleanInput):
        pass


def options(pairs):
    """(value, label) pairs as WTForms choices (plain tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(value, label) for value, label in pairs]


LANGUAGES = options([("fr", "Français"), ("en", "English")])


class MoneyField(StringField):
    """A text field read as integer cents (``1 234,56`` → 123456)."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = None
        if valuelist and not self.raw.strip():
            # Blanks are no amount: InputRequired then says "Enter an amount."
            # (it would let "   " through) and Optional() stops the chain.
            self.raw_data = [""]
        if self.raw.strip():
            try:
                self.data = parse_amount(self.raw)
            except AmountError as error:
                self.data = None
                raise ValueError(_(str(error))) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        separator = "," if str(get_locale() or "en").startswith("fr") else "."
        return f"{self.data // 100}{separator}{self.data % 100:02d}"


MAX_QUANTITY_MILLI = 1_000_000_000  # a million units: the column is a 32-bit INTEGER


class QuantityField(StringField):
    """A quantity read as thousandths (``1,5`` → 1500)."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip().replace(",", ".").replace(" ", "")
        self.data = None
        if not raw:
            return
        whole, _sep, frac = raw.partition(".")
        if not ascii_digits(whole) and whole != "" or (frac and not ascii_digits(frac)) or len(frac) > 3:
            raise ValueError(_("Enter a quantity such as 1, 2.5 or 0.125."))
        self.data = int(whole or 0) * 1000 + int((frac + "000")[:3])
        if self.data > MAX_QUANTITY_MILLI:
            self.data = None
            raise ValueError(_("This quantity is too large."))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        text = f"{self.data / 1000:.3f}".rstrip("0").rstrip(".")
        return text


@lru_cache(maxsize=4096)
def is_email_address(value: str) -> bool:
    """An email address's syntax as mail servers take it (IDNA domains included), no
    DNS look-up; ``.test`` domains allowed for demos; and one our mail can carry
    (``mailer.sendable``: email_validator accepts ``é@example.com``, which needs
    SMTPUTF8). Cached: an import checks the same few clients' addresses on
    thousands of rows."""
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return mailer.sendable(value)


class Email:
    """An email address's syntax (no DNS look-up; ``.test`` domains allowed for demos)."""

    def __init__(self, message=None):
        self.message = message

    def __call__(self, form, field):
        value = (field.data or "").strip()
        if not value:
            return
        if not is_email_address(value):
            raise ValidationError(self.message or _("Enter an email address such as name@example.com."))
        field.data = value


def single_line(form, field):
    if field.data and ("\r" in field.data or "\n" in field.data):
        raise ValidationError(_("Keep this on one line."))


def valid_timezone(form, field):
    if field.data and field.data not in TIMEZONES:
        raise ValidationError(_("Choose a time zone from the list, such as Europe/Paris."))


def stripped(value):
    """Text without surrounding spaces: "   " is then empty, and refused where required."""
    return value.strip() if isinstance(value, str) else value


def known_timezone_or_default(value):
    """The browser's time zone, or Europe/Paris when it sent none or an unknown one.

    The field is hidden and filled by the page's script: a person could not correct it.
    """
    value = (value or "").strip()
    return value if value in TIMEZONES else "Europe/Paris"


def in_range(form, field):
    # Dates far away are typos, and date arithmetic on them (schedules) would overflow.
    if field.data and not date(2000, 1, 1) <= field.data <= date(2100, 12, 31):
        raise ValidationError(_("Enter a date between 2000 and 2100."))


def strong_enough(form, field):
    if field.data and len(field.data) < 8:
        raise ValidationError(_("Use at least 8 characters."))


class RegisterForm(RelanceForm):
    business_name = StringField(_l("Business name"), [DataRequired(), Length(max=200)], filters=[stripped])
    email = StringField(_l("Email"), [DataRequired(), Email(), Length(max=254)], filters=[stripped])
    password = PasswordField(_l("Password"), [InputRequired(), strong_enough, Length(max=200)])
    timezone = HiddenField(default="Europe/Paris", filters=[known_timezone_or_default])
    submit = SubmitField(_l("Register"))


class LoginForm(RelanceForm):
    email = StringField(_l("Email"), [DataRequired(), Email(), Length(max=254)], filters=[stripped])
    password = PasswordField(_l("Password"), [InputRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me logged in"), default=True)
    submit = SubmitField(_l("Log in"))


class ForgotPasswordForm(RelanceForm):
    email = StringField(_l("Email"), [DataRequired(), Email(), Length(max=254)], filters=[stripped])
    submit = SubmitField(_l("Send me a reset link"))


class SignInLinkForm(RelanceForm):
    """Asks for an emailed sign-in link (the way past a login lockout)."""

    email = StringField(_l("Email"), [DataRequired(), Email(), Length(max=254)], filters=[stripped])
    submit = SubmitField(_l("Email me a sign-in link"))


class SignInForm(RelanceForm):
    """The button behind an emailed link: a mail scanner that opens the link signs nobody in."""

    submit = SubmitField(_l("Sign in"))


class ResetPasswordForm(RelanceForm):
    password = PasswordField(_l("New password"), [InputRequired(), strong_enough, Length(max=200)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        [InputRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    submit = SubmitField(_l("Set the new password"))


class ChangePasswordForm(RelanceForm):
    current = PasswordField(_l("Current password"), [InputRequired()])
    password = PasswordField(_l("New password"), [InputRequired(), strong_enough, Length(max=200)])
    submit = SubmitField(_l("Change password"))


class ChangeEmailForm(RelanceForm):
    email = StringField(_l("New email"), [DataRequired(), Email(), Length(max=254)], filters=[stripped])
    current = PasswordField(_l("Current password"), [InputRequired()])
    submit = SubmitField(_l("Change email"))


class DeleteAccountForm(RelanceForm):
    current = PasswordField(_l("Password"), [InputRequired()])
    submit = SubmitField(_l("Delete my account and all its data"))


class ProfileForm(RelanceForm):
    business_name = StringField(_l("Business name"), [DataRequired(), Length(max=200)], filters=[stripped])
    address = TextAreaField(_l("Postal address"), [Optional(), Length(max=1000)])
    company_number = StringField(_l("Company registration number"), [Length(max=50)])
    vat_number = StringField(_l("VAT number"), [Length(max=50)])
    reply_to_email = StringField(_l("Reply-to email"), [Optional(), Email(), Length(max=254)])
    language = SelectField(_l("Language"), choices=LANGUAGES)
    timezone = StringField(_l("Time zone"), [DataRequired(), valid_timezone], filters=[stripped])
    currency = SelectField(_l("Currency"), choices=options((c, c) for c in CURRENCIES))
    iban = StringField(_l("IBAN"), [Optional(), Length(max=42)])
    bic = StringField(_l("BIC"), [Optional(), Length(max=11)])
    submit = SubmitField(_l("Save"))

    def validate_iban(self, field):
        from .payment import IbanError, check_iban, normalise_iban

        field.data = normalise_iban(field.data)
        if not field.data:
            return
        try:
            field.data = check_iban(field.data)
        except IbanError as error:
            reasons = {
                "characters": _("An IBAN has only letters and digits (spaces are fine)."),
                "start": _("This IBAN does not look right."),
                "length": _("An IBAN has 15 to 34 letters and digits: this one is too short or too long."),
                "checksum": _("This IBAN's check digits are wrong: please check it."),
            }
            raise ValidationError(reasons.get(str(error), _("This IBAN does not look right."))) from None

    def validate_bic(self, field):
        bic = (field.data or "").replace(" ", "").upper()
        field.data = bic
        if bic and (len(bic) not in (8, 11) or not bic.isalnum()):
            raise ValidationError(_("A BIC has 8 or 11 letters and digits."))


def client_kind_choices():
    # "" = not known: no late fee is computed until it is set (app/fees.py).
    return options([("business", _l("Business")), ("consumer", _l("Consumer")), ("", _l("Not set"))])


class ClientForm(RelanceForm):
    name = StringField(_l("Name"), [DataRequired(), Length(max=200)], filters=[stripped])
    email = StringField(_l("Email"), [Optional(), Email(), Length(max=254)])
    language = SelectField(_l("Language"), choices=LANGUAGES)
    country = SelectField(
        _l("Country"),
        choices=options(
            [
                ("FR", _l("France")),
                ("BE", _l("Belgium")),
                ("CA", _l("Canada")),
                ("CH", _l("Switzerland")),
                ("LU", _l("Luxembourg")),
                ("GB", _l("United Kingdom")),
                ("DE", _l("Germany")),
                ("ES", _l("Spain")),
                ("IT", _l("Italy")),
                ("NL", _l("Netherlands")),
                ("US", _l("United States")),
                ("", _l("Not set")),
            ]
        ),
    )
    kind = SelectField(_l("Type"), choices=client_kind_choices())
    address = TextAreaField(_l("Postal address"), [Optional(), Length(max=1000)])
    notes = TextAreaField(_l("Notes"), [Optional(), Length(max=5000)])
    reminders_paused = BooleanField(_l("Pause reminders for this client"))
    submit = SubmitField(_l("Save client"))


class LineForm(Form):
    Meta = CleanInput

    description = StringField(_l("Description"), [Optional(), Length(max=500)])
    quantity = QuantityField(_l("Quantity"), default=1000)
    unit_price = MoneyField(_l("Unit price"))
    vat_rate = StringField(_l("VAT %"), default="0")

    def validate_vat_rate(self, field):
        raw = (field.data or "0").strip().replace(",", ".").rstrip("%").strip() or "0"
        try:
            scaled = Decimal(raw) * 100
        except InvalidOperation:
            raise ValidationError(_("Enter a rate such as 20 or 5.5.")) from None
        if scaled != scaled.to_integral_value():
            raise ValidationError(_("Use at most two decimals."))
        value = int(scaled)
        if not 0 <= value <= 10000:
            raise ValidationError(_("The rate is between 0 and 100."))
        self.vat_rate_bp = value


def payment_method_choices():
    return options(
        [
            ("transfer", _l("Bank transfer")),
            ("direct_debit", _l("Direct debit")),
            ("card", _l("Card")),
            ("cash", _l("Cash")),
            ("cheque", _l("Cheque")),
            ("other", _l("Other")),
        ]
    )


class InvoiceForm(RelanceForm):
    client_id = SelectField(_l("Client"), coerce=str, validate_choice=False)
    new_client_name = StringField(_l("New client's name"), [Optional(), Length(max=200)])
    new_client_email = StringField(_l("New client's email"), [Optional(), Email(), Length(max=254)])
    number = StringField(
        _l("Invoice number"), [DataRequired(), Length(max=40), single_line], filters=[stripped]
    )
    amount = MoneyField(_l("Amount"))
    currency = SelectField(_l("Currency"), choices=options((c, c) for c in CURRENCIES))
    issued_on = DateField(_l("Issue date"), [InputRequired()])
    due_on = DateField(_l("Due date"), [Optional()])
    terms_days = IntegerField(_l("Payment terms (days)"), [Optional(), NumberRange(min=0, max=365)])
    lines = FieldList(FormField(LineForm), min_entries=1, max_entries=100)
    payment_method = SelectField(_l("Payment method"), choices=payment_method_choices())
    instalment_plan = BooleanField(_l("Pre-authorised instalment plan (direct debit)"))
    reminders_enabled = BooleanField(_l("Send payment reminders"), default=True)
    notes = TextAreaField(_l("Notes"), [Optional(), Length(max=5000)])
    add_line = SubmitField(_l("Add a line"))
    submit = SubmitField(_l("Create invoice"))

    def filled_lines(self):
        return [entry for entry in self.lines if (entry.form.description.data or "").strip()]

    def validate_due_on(self, field):
        in_range(self, field)
        if field.data and self.issued_on.data and field.data < self.issued_on.data:
            raise ValidationError(_("The due date cannot be before the issue date."))

    def validate_issued_on(self, field):
        in_range(self, field)


class PaymentForm(RelanceForm):
    amount = MoneyField(_l("Amount"), [InputRequired(message=_l("Enter an amount."))])
    paid_on = DateField(_l("Payment date"), [InputRequired(), in_range])
    method = SelectField(_l("Method"), choices=payment_method_choices())
    reference = StringField(_l("Reference"), [Optional(), Length(max=140)])
    submit = SubmitField(_l("Record payment"))


def sent_via_choices():
    return options(
        [
            ("email_other", _l("By email, outside Relance")),
            ("post", _l("By post")),
            ("hand", _l("By hand")),
        ]
    )


class MarkSentForm(RelanceForm):
    via = SelectField(_l("How was it sent?"), choices=sent_via_choices())
    sent_on = DateField(_l("Date sent"), [InputRequired()])
    submit = SubmitField(_l("Mark as sent"))


class ConfirmForm(RelanceForm):
    """A form with nothing but its CSRF token, for one-click actions."""

    submit = SubmitField(_l("Confirm"))


def preset_choices():
    return options(
        [
            ("standard", _l("Standard: 3 days before, on the due date, 3 and 7 days after")),
            ("gentle", _l("Gentle: on the due date and 7 days after")),
            ("firm", _l("Firm: 3 days before, on the due date, 3, 7, 14 and 30 days after")),
            ("custom", _l("Custom")),
        ]
    )


class ReminderSettingsForm(RelanceForm):
    enabled = BooleanField(_l("Send payment reminders"))
    mode = RadioField(
        _l("How"),
        choices=options(
            [
                ("auto", _l("Send automatically")),
                ("ask", _l("Ask me before sending: I approve them in one click")),
            ]
        ),
        validators=[Optional()],
    )
    preset = RadioField(_l("Frequency"), choices=preset_choices())
    offsets = HiddenField()
    add_offset = IntegerField(_l("Add a day"), [Optional()])
    send_time = StringField(_l("Send time"), [InputRequired()])
    skip_weekends = BooleanField(_l("Not on weekends"))
    submit = SubmitField(_l("Save"))

    def validate_send_time(self, field):
        value = (field.data or "").strip()
        hour, _sep, minute = value.partition(":")
        if not (ascii_digits(hour) and ascii_digits(minute) and int(hour) < 24 and int(minute) < 60):
            raise ValidationError(_("Enter a time such as 09:00."))
        field.data = f"{int(hour):02d}:{int(minute):02d}"


class InvoiceEmailForm(RelanceForm):
    key = HiddenField()
    to = StringField(_l("To"), [InputRequired(), Email(), Length(max=254)])
    subject = StringField(_l("Subject"), [DataRequired(), Length(max=300), single_line], filters=[stripped])
    message = TextAreaField(_l("Message"), [DataRequired(), Length(max=10000)], filters=[stripped])
    submit = SubmitField(_l("Send"))

    def validate_key(self, field):
        if not (field.data or "").isalnum() or not 16 <= len(field.data) <= 64:
            raise ValidationError(_("This form is too old: reload the page."))
