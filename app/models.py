"""SQLAlchemy models. Money is integer cents; ``*_at`` are aware UTC datetimes;
``*_on`` are calendar dates in the account's time zone."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import clock
from .extensions import db


class UTCDateTime(TypeDecorator):
    """A DateTime that always stores UTC and always loads aware datetimes.

    SQLite keeps no offset; without this, comparing with ``clock.now()`` breaks.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # SQLite: one step instead of two (this type's conversion, then DateTime's
    # to text). The planner binds thousands of these values a tick; the generic
    # chain cost ~2 µs a value. Same text as DateTime stores
    # ("YYYY-MM-DD HH:MM:SS.ffffff", naive UTC).

    def bind_processor(self, dialect):
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        last = [(None, None)]  # the same moment is often bound many times in a row

        def process(value):
            if value is None:
                return None
            seen, text = last[0]
            if value is seen:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[0] = (value, text)
            return text

        return process


def _now():
    return clock.now()


def _new_ogm():
    from .payment import new_ogm

    return new_ogm()


def _new_token():
    # The client's page token is made with the invoice (not at its first reminder,
    # which would add a write to the send path); app/payinfo.py keeps a lazy
    # fallback for rows made before this default.
    from .payinfo import new_token

    return new_token()


class ScalarDefaults:
    """Apply the columns' scalar defaults at construction, not only at INSERT, so a
    new object reads ``reminders_enabled == True`` before it is flushed."""

    def __init__(self, **kwargs):
        for column in self.__table__.columns:
            default = column.default
            if column.key not in kwargs and default is not None and default.is_scalar:
                kwargs[column.key] = default.arg
        super().__init__(**kwargs)


LANGUAGE_CHOICES = ("fr", "en")
INVOICE_STATUSES = ("draft", "sent", "paid", "void")
SENT_VIA = ("email_relance", "email_other", "post", "hand")
PAYMENT_METHODS = ("transfer", "direct_debit", "card", "cash", "cheque", "other")
CLIENT_KINDS = ("business", "consumer")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


# A hash of a random password nobody knows, made with set_password's method and
# parameters (werkzeug's scrypt defaults): checking against it costs what a real check does.
_NO_PASSWORD_HASH = (
    "scrypt:32768:8:1$aqSrqwS2t68x77PR$50bb715d0834f50c5f41c129c4444bb2a66a21a3df10bc41f563288c02e236ec"
    "ac4598045fe17598b82a8901ec1dfd28f8ec1a25a39d83c261c3bd651361a73d"
)


def check_no_password(password: str) -> bool:
    """The work of :meth:`Account.check_password` for an address without an account,
    so both answers take the same time. Always False."""
    check_password_hash(_NO_PASSWORD_HASH, password)
    return False


class Account(ScalarDefaults, UserMixin, db.Model):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: the address is unique whatever its case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # In every session and remember-me cookie (``get_id``); replaced at logout, password
    # change or reset and sign-in links, so a captured cookie stops working.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    business_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    company_number: Mapped[str] = mapped_column(String(50), default="")
    vat_number: Mapped[str] = mapped_column(String(50), default="")
    reply_to_email: Mapped[str] = mapped_column(String(254), default="")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    iban: Mapped[str] = mapped_column(String(34), default="")
    bic: Mapped[str] = mapped_column(String(11), default="")
    # Payment reminder settings (DESIGN.md rule 1).
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_mode: Mapped[str] = mapped_column(String(10), default="auto")
    reminder_offsets: Mapped[str] = mapped_column(String(100), default="-3,0,3,7")
    reminder_send_time: Mapped[str] = mapped_column(String(5), default="09:00")
    reminder_skip_weekends: Mapped[bool] = mapped_column(Boolean, default=True)
    # After-due step → level, "3:1,7:2"; empty: the n-th after-due step is level min(n, 4).
    reminder_levels: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # One email per client for all their due invoices (issue 5).
    group_reminders: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Documents (issue 6): days given by a formal notice, and the side of the
    # envelope window the client's address is printed for.
    notice_days: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    letter_window: Mapped[str] = mapped_column(String(5), default="right", server_default="right")
    # Late fees (issue 7, app/fees.py): claim the legal compensation and interest.
    fees_legal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Day (account time zone) of the last "failed or unknown reminders" digest.
    digest_sent_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # When the owner proved the current address is theirs (the registration link, an
    # emailed sign-in link, a password reset, or the /verify link mailed after a
    # change of email); None again when the address changes. Nothing goes to a third
    # party meanwhile (issue 14: Relance is no open relay), see app/verification.py.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    clients = relationship("Client", back_populates="account", cascade="all, delete-orphan")
    invoices = relationship("Invoice", back_populates="account", cascade="all, delete-orphan")
    events = relationship("Event", back_populates="account", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def rotate_session(self) -> None:
        """Log out every session of this account (the caller commits)."""
        self.session_token = new_session_token()

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @staticmethod
    def normalise_email(email: str) -> str:
        return (email or "").strip().lower()


class Client(ScalarDefaults, db.Model):
    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    country: Mapped[str] = mapped_column(String(2), default="FR")
    kind: Mapped[str] = mapped_column(String(10), default="business")
    address: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    reminders_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    account = relationship("Account", back_populates="clients")
    invoices = relationship("Invoice", back_populates="client")

    __table_args__ = (Index("ix_client_account_name", "account_id", "name"),)


class Invoice(ScalarDefaults, db.Model):
    __tablename__ = "invoice"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="RESTRICT"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    terms_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_cents: Mapped[int] = mapped_column(Integer, default=0)
    # Sum of the payments, kept in step by app/invoicing.py in the same transaction.
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    sent_via: Mapped[str | None] = mapped_column(String(20), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    payment_method: Mapped[str] = mapped_column(String(20), default="transfer")
    instalment_plan: Mapped[bool] = mapped_column(Boolean, default=False)
    # Highest reminder level sent (0 none, 1 Reminder … 4 Formal notice); editable by hand.
    reminder_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Belgian structured communication (12 digits, mod-97), the transfer reference
    # for Belgian accounts; the client's public page token (None: no page).
    structured_ref: Mapped[str] = mapped_column(String(12), default=_new_ogm, server_default="")
    public_token: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, default=_new_token
    )
    # When the planner must look at this invoice again (its next schedule step), or
    # NULL when no automatic reminder can come. Indexed: a tick reads only due rows.
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # A hold (DESIGN.md rule 2, app/reminders/holds.py): automatic reminders wait while
    # hold_reason is set (a client's answer, a possible payment to review) until it is
    # released or, when hold_until is set, until that day has passed.
    hold_reason: Mapped[str] = mapped_column(String(40), default="", server_default="")
    hold_detail: Mapped[str] = mapped_column(String(200), default="", server_default="")
    hold_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    account = relationship("Account", back_populates="invoices")
    client = relationship("Client", back_populates="invoices")
    lines = relationship(
        "InvoiceLine",
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="InvoiceLine.position",
    )
    payments = relationship(
        "Payment",
        back_populates="invoice",
        cascade="all, delete-orphan",
        order_by="Payment.paid_on",
    )

    __table_args__ = (
        UniqueConstraint("account_id", "number", name="uq_invoice_account_number"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        CheckConstraint("paid_cents >= 0", name="paid_not_negative"),
        Index("ix_invoice_account_status_due", "account_id", "status", "due_on"),
    )

    @property
    def structured_reference(self) -> str:
        """The Belgian structured communication's 12 digits (read by bank-statement matching)."""
        return self.structured_ref

    @property
    def balance_cents(self) -> int:
        return max(self.total_cents - self.paid_cents, 0)

    @property
    def is_overdue(self) -> bool:
        return (
            self.status == "sent"
            and self.due_on is not None
            and self.balance_cents > 0
            and self.due_on < clock.today(self.account.timezone)
        )


class InvoiceLine(ScalarDefaults, db.Model):
    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(500))
    # Thousandths of a unit, so 1.5 days is 1500: no floats anywhere.
    quantity_milli: Mapped[int] = mapped_column(Integer, default=1000)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    # Basis points: 20 % is 2000.
    vat_rate_bp: Mapped[int] = mapped_column(Integer, default=0)

    invoice = relationship("Invoice", back_populates="lines")


class Payment(ScalarDefaults, db.Model):
    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    paid_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20), default="transfer")
    reference: Mapped[str] = mapped_column(String(140), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    invoice = relationship("Invoice", back_populates="payments")

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)


class Event(ScalarDefaults, db.Model):
    """Something that happened on the account, for "Recent activity" and the history."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    account = relationship("Account", back_populates="events")
    invoice = relationship("Invoice")

    __table_args__ = (Index("ix_event_account_created", "account_id", "created_at"),)


REMINDER_STATES = (
    "scheduled",  # decided, waiting for a worker (or for its retry time)
    "awaiting_approval",  # ask-me-first mode: prepared, not sent until the owner says so
    "held",  # eligible but held (a client's answer, a payment to review)
    "sending",  # claimed by a worker, lease running
    "sent",
    "cancelled",  # no longer eligible when it was time to send (reason says why)
    "skipped",  # never sent on purpose (superseded, no email…)
    "failed",  # refused by the mail server; retried while next_attempt_at is set
    "unknown",  # the outcome of the SMTP transaction is uncertain: never resent automatically
    "ready_to_print",  # a letter made, waiting for the owner to print and post it
)


class Reminder(ScalarDefaults, db.Model):
    """One message to one client (or the invoice's own email), with its outcome.

    ``key`` is the idempotency key, UNIQUE: (invoice, step) for an automatic
    reminder, a key minted with the form for a click. Writing the row is the
    decision to send; a worker claims it with a conditional UPDATE.
    """

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # "step": automatic reminder of a schedule step; "invoice": the invoice's own email.
    kind: Mapped[str] = mapped_column(String(20), default="step")
    channel: Mapped[str] = mapped_column(String(10), default="email")
    step_offset: Mapped[int | None] = mapped_column(Integer, nullable=True)
    step_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # 0: before/on the due date; 1 Reminder, 2 Second reminder, 3 Final reminder, 4 Formal notice.
    level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("reminder_batch.id", ondelete="SET NULL"), nullable=True, index=True
    )
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    reason: Mapped[str] = mapped_column(String(40), default="")
    recipient: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")
    # Letters and formal notices (issue 6): the message-template kind used (level1…).
    document_kind: Mapped[str] = mapped_column(String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    invoice = relationship("Invoice")
    client = relationship("Client")
    items = relationship(
        "ReminderItem", back_populates="reminder", cascade="all, delete-orphan", order_by="ReminderItem.id"
    )

    __table_args__ = (
        Index("ix_reminder_state_next", "state", "next_attempt_at"),
        Index("ix_reminder_account_updated", "account_id", "updated_at"),
    )


MESSAGE_KINDS = ("before_due", "due_today", "level1", "level2", "level3", "level4", "grouped")
MESSAGE_CHANNELS = ("email", "letter")


class MessageTemplate(ScalarDefaults, db.Model):
    """The owner's own text for one kind of message, channel and language.

    No row means the built-in default (app/documents/defaults.py)."""

    __tablename__ = "message_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    __table_args__ = (
        UniqueConstraint("account_id", "kind", "channel", "language", name="uq_message_template"),
    )


class PdfCache(ScalarDefaults, db.Model):
    """A rendered PDF of an invoice (DESIGN.md rule 8): one row per invoice and
    variant, valid while ``state_hash`` (a hash of everything printed) matches."""

    __tablename__ = "pdf_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(40))
    state_hash: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (UniqueConstraint("invoice_id", "variant", name="uq_pdf_cache_invoice_variant"),)


class FeeCost(ScalarDefaults, db.Model):
    """The owner's cost for a reminder level (1 = first overdue reminder), shown in
    the reminder where the law allows it (app/fees.py), never added to the total."""

    __tablename__ = "fee_cost"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    fixed_cents: Mapped[int] = mapped_column(Integer, default=0)
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("account_id", "level", name="uq_fee_cost_account_level"),)


class RateOverride(ScalarDefaults, db.Model):
    """The owner's correction of a reference rate (app/fees.py SERIES) for a half-year."""

    __tablename__ = "rate_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    series: Mapped[str] = mapped_column(String(10))
    starts_on: Mapped[date] = mapped_column(Date)
    rate_bp: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("account_id", "series", "starts_on", name="uq_rate_override_account_series_start"),
    )


ANSWER_KINDS = ("paid", "dispute", "promise")


class ClientAnswer(ScalarDefaults, db.Model):
    """What the client said on the invoice's public page."""

    __tablename__ = "client_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text, default="")
    promised_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # Set when the owner resumes the reminders (the answer is dealt with).
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    invoice = relationship("Invoice")

    __table_args__ = (Index("ix_client_answer_account_resolved", "account_id", "resolved_at"),)


class ImportFile(ScalarDefaults, db.Model):
    """An uploaded import (invoices CSV or bank statement), kept in the database so a
    worker on another machine can read it (DESIGN.md rule 8), with its progress."""

    __tablename__ = "import_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="invoices")  # invoices | statement
    filename: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    # JSON: {"field": column index}, and the owner's choices.
    mapping: Mapped[str] = mapped_column(Text, default="")
    already_emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # uploaded → queued → running → done | failed
    state: Mapped[str] = mapped_column(String(20), default="uploaded")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


STATEMENT_LINE_STATES = (
    "applied",  # recorded as a payment on an invoice
    "review",  # a likely invoice waits for the owner's confirmation
    "unmatched",  # an incoming credit with no invoice found
    "dismissed",  # the owner said it is not a payment of ours
    "debit",  # money going out: kept so the same line is never read twice
)


class StatementLine(ScalarDefaults, db.Model):
    """One line of a bank statement. ``bank_id`` is the bank's transaction id, or a
    hash of date/amount/text: UNIQUE per account, so a line is never applied twice."""

    __tablename__ = "statement_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_file.id", ondelete="SET NULL"), nullable=True, index=True
    )
    bank_id: Mapped[str] = mapped_column(String(140))
    booked_on: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)  # negative for a debit
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    counterparty: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(String(500), default="")
    reference: Mapped[str] = mapped_column(String(140), default="")
    state: Mapped[str] = mapped_column(String(20), default="unmatched")
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="SET NULL"), nullable=True, index=True
    )
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment.id", ondelete="SET NULL"), nullable=True
    )
    match_reason: Mapped[str] = mapped_column(String(30), default="")
    confidence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    invoice = relationship("Invoice")

    __table_args__ = (
        UniqueConstraint("account_id", "bank_id", name="uq_statement_line_account_bank_id"),
        Index("ix_statement_line_account_state", "account_id", "state"),
    )


class ReminderItem(ScalarDefaults, db.Model):
    """One invoice covered by a reminder (DESIGN.md rule 0), with the level and the
    balance it was reminded at. A step reminder gets its item when it is sent;
    a manual, batch or grouped reminder gets its items when it is decided."""

    __tablename__ = "reminder_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    balance_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")

    reminder = relationship("Reminder", back_populates="items")
    invoice = relationship("Invoice")

    __table_args__ = (UniqueConstraint("reminder_id", "invoice_id", name="uq_reminder_item_invoice"),)


class ReminderBatch(ScalarDefaults, db.Model):
    """A "Remind all" run: its options, its progress and its summary. ``key`` is minted
    with the form, so a second submit finds the same batch (DESIGN.md rule 3)."""

    __tablename__ = "reminder_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued, running, done
    throttle_days: Mapped[int] = mapped_column(Integer, default=7)
    include_no_due: Mapped[bool] = mapped_column(Boolean, default=False)
    group: Mapped[bool] = mapped_column(Boolean, default=False)
    level: Mapped[int] = mapped_column(Integer, default=0)  # 0: each invoice's next level
    total: Mapped[int] = mapped_column(Integer, default=0)  # reminders written
    skipped: Mapped[str] = mapped_column(Text, default="")  # "reason:count,…" of invoices left out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def account_count() -> int:
    return db.session.scalar(db.select(func.count(Account.id)))
