"""Money rules and pay-and-stop, wired to the database: the fees a reminder may show
(app/fees.py), the bank details and QR code (app/payment.py), the invoice's public
page token and the client's answers.

Templates (reminder emails, the public page, PDFs) get three clearly named values
from :func:`reminder_context`: ``fees``, ``payment`` and ``pay_url``.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import clock, fees, mailer, payment
from .extensions import db
from .filters import date_filter, money
from .models import Account, ClientAnswer, Event, FeeCost, Invoice, RateOverride
from .reminders.timeline import sent_reminders

log = logging.getLogger(__name__)

TOKEN_BYTES = 24  # secrets.token_urlsafe → 32 characters, 192 bits


# --- Fees ----------------------------------------------------------------------


# What fees_for reads, loaded once for a batch of sends (see ``fee_batch``):
# {"settings": {account id: Settings}, "previous": {invoice id: [(sent_at, channel)]}}.
_BATCH: ContextVar[dict | None] = ContextVar("fee_batch", default=None)


@contextmanager
def fee_batch(invoice_ids):
    """Within this block, ``fees_for`` reads the fee settings once per account and
    the earlier reminders of these invoices from one load (two queries for the
    batch instead of three per reminder). ``forget`` drops an invoice whose
    reminder was just sent, so that its next reminder reads it again."""
    token = _BATCH.set({"settings": {}, "previous": _load_previous(set(invoice_ids))})
    try:
        yield
    finally:
        _BATCH.reset(token)


def forget(invoice_ids) -> None:
    batch = _BATCH.get()
    if batch is not None:
        for invoice_id in invoice_ids:
            batch["previous"].pop(invoice_id, None)


def _load_previous(invoice_ids: set) -> dict:
    """{invoice id: [(sent_at, channel)]} of the sent reminders (not the invoice's own
    email) that covered each invoice, as its own step or through an item."""
    return {invoice_id: list(sent.values()) for invoice_id, sent in sent_reminders(invoice_ids).items()}


def fee_settings(account: Account) -> fees.Settings:
    batch = _BATCH.get()
    if batch is not None:
        settings = batch["settings"].get(account.id)
        if settings is None:
            settings = batch["settings"][account.id] = _fee_settings(account)
        return settings
    return _fee_settings(account)


def _fee_settings(account: Account) -> fees.Settings:
    costs = db.session.scalars(select(FeeCost).where(FeeCost.account_id == account.id)).all()
    overrides: dict[str, list] = {}
    for row in db.session.scalars(select(RateOverride).where(RateOverride.account_id == account.id)):
        overrides.setdefault(row.series, []).append((row.starts_on, row.rate_bp))
    return fees.Settings(
        legal=bool(account.fees_legal),
        costs=tuple(fees.OwnerCost(c.level, c.fixed_cents, c.percent_bp) for c in costs),
        rate_overrides={series: tuple(rows) for series, rows in overrides.items()},
    )


def previous_overdue(invoice: Invoice, before: date | None = None) -> tuple[tuple[date, str], ...]:
    """The reminders that covered this invoice after its due date and were sent, as
    (day, channel): automatic steps and clicked or grouped reminders alike (not the
    invoice's own email)."""
    if invoice.id is None or invoice.due_on is None:
        return ()
    account = invoice.account
    batch = _BATCH.get()
    rows = batch["previous"].get(invoice.id) if batch is not None else None
    if rows is None:
        rows = _load_previous({invoice.id})[invoice.id]
    days = []
    for sent_at, channel in rows:
        day = sent_at.astimezone(ZoneInfo(account.timezone)).date()
        if day > invoice.due_on and (before is None or day < before):
            days.append((day, channel or "email"))
    return tuple(sorted(days))


def fees_for(invoice: Invoice, today: date | None = None, channel: str = "email") -> fees.Fees:
    """The fees a reminder of this invoice sent ``today`` may show."""
    account = invoice.account
    client = invoice.client
    today = today or clock.today(account.timezone)
    return fees.compute(
        country=(client.country or "").upper() or None,
        kind=client.kind,
        currency=invoice.currency,
        balance_cents=invoice.balance_cents,
        due_on=invoice.due_on,
        today=today,
        previous=previous_overdue(invoice, before=today),
        channel=channel,
        settings=fee_settings(account),
    )


@dataclass
class FeeView:
    """Fees as a template shows them: lines with labels and amounts, the legal
    explanation, and what the owner must fix (``ask``)."""

    status: str
    lines: list = field(default_factory=list)  # (label, amount text)
    announced: list = field(default_factory=list)
    total: str = ""
    explanation: list = field(default_factory=list)  # sentences
    ask: str = ""  # for the owner only: what to set before fees can be computed
    rates_confirmed: bool = True

    def __bool__(self):
        return bool(self.lines or self.announced or self.explanation)


def rate_text(bp: int) -> str:
    """12.15 % in English, 12,15 % in French."""
    return format_decimal(Decimal(bp) / 100, format="#,##0.##") + "\u00a0%"


def _line(line: fees.FeeLine, currency: str) -> tuple[str, str]:
    amount = money(line.amount_cents, currency)
    if line.code == "compensation":
        return _("Fixed recovery compensation"), amount
    if line.code == "interest":
        if line.days:
            label = _(
                "Late-payment interest at %(rate)s a year for %(days)d days",
                rate=rate_text(line.rate_bp),
                days=line.days,
            )
        else:
            label = _("Late-payment interest at %(rate)s a year", rate=rate_text(line.rate_bp))
        return label, amount
    return _("Reminder costs"), amount


def describe(result: fees.Fees, currency: str = "EUR") -> FeeView:
    """Labels and the legal explanation, in the current locale."""
    view = FeeView(status=result.status, rates_confirmed=result.rates_confirmed)
    if result.status == "unknown_client":
        view.ask = _(
            "Set this client's country and type (business or consumer) so that fees can be computed."
        )
        return view
    if result.status != "ok":
        return view
    view.lines = [_line(line, currency) for line in result.lines]
    if result.lines:
        view.total = money(result.total_cents, currency)
    for line in result.announced:
        if line.code == "compensation":
            view.announced.append((_("Compensation"), money(line.amount_cents, currency)))
        elif line.code == "interest":
            view.announced.append(
                (_("Late-payment interest"), _("%(rate)s a year", rate=rate_text(line.rate_bp)))
            )
    costs_from = result.costs_from
    notes = set(result.notes)
    if "fr_business" in notes:
        view.explanation.append(
            _(
                "Between businesses, French law (Code de commerce, art. L441-10 and D441-5) adds to any "
                "late payment a fixed recovery compensation of €40 and late-payment interest at the "
                "European Central Bank's refinancing rate plus 10 points."
            )
        )
    if "be_business" in notes:
        view.explanation.append(
            _(
                "Between businesses, the Belgian law of 2 August 2002 on late payment adds a fixed "
                "compensation of €40 and late-payment interest at the rate it sets each half-year."
            )
        )
    if "fr_consumer" in notes:
        view.explanation.append(_("No fee or compensation is asked of you for this late payment."))
    if "be_consumer_first" in notes:
        view.explanation.append(
            _(
                "This first reminder is free. If the balance is still unpaid on %(day)s, the following "
                "may be claimed (Code of Economic Law, Book XIX):",
                day=_date(costs_from),
            )
            if result.announced
            else _("This first reminder is free (Code of Economic Law, Book XIX).")
        )
    if "be_consumer_wait" in notes:
        view.explanation.append(
            _(
                "No cost is charged for this reminder: the 14-day period after the first reminder "
                "runs until %(day)s (Code of Economic Law, Book XIX).",
                day=_date(costs_from - timedelta(days=1)),
            )
        )
    if "be_consumer" in notes and result.lines:
        view.explanation.append(
            _(
                "As the 14-day period after the first reminder has passed, Belgian law (Code of Economic "
                "Law, Book XIX) allows the compensation, interest and reminder costs (at most €7.50 each) "
                "shown here."
            )
        )
    return view


def _date(day):
    return date_filter(day, "long")


# --- Payment -------------------------------------------------------------------


def is_belgian(account: Account) -> bool:
    return payment.normalise_iban(account.iban).startswith("BE")


def ensure_structured_ref(invoice: Invoice) -> str:
    if not invoice.structured_ref:
        invoice.structured_ref = payment.new_ogm()
    return invoice.structured_ref


@dataclass
class PaymentView:
    name: str
    iban: str  # grouped by four
    bic: str
    amount: str
    amount_cents: int
    reference: str  # as the client should type it
    structured: bool
    transfer: payment.Transfer | None  # None: no QR (not euros, or nothing due)

    def qr(self):
        return payment.epc_qr(self.transfer) if self.transfer else None

    def qr_svg(self) -> str:
        qr = self.qr()
        return payment.qr_svg(qr, title=_("QR code for your banking app")) if qr else ""

    def qr_png(self) -> bytes:
        return payment.transfer_png(self.transfer) if self.transfer else b""


def payment_for(invoice: Invoice) -> PaymentView | None:
    """Bank details of the account for this invoice; None when it has no IBAN."""
    account = invoice.account
    if not account.iban:
        return None
    structured = is_belgian(account) and bool(invoice.structured_ref)
    reference = payment.format_ogm(invoice.structured_ref) if structured else invoice.number
    qr_reference = invoice.structured_ref if structured else invoice.number
    balance = invoice.balance_cents
    transfer = None
    if invoice.currency == "EUR" and 0 < balance <= payment.EPC_MAX_CENTS:
        transfer = payment.Transfer(
            account.business_name, account.iban, account.bic or "", balance, qr_reference, structured
        )
    return PaymentView(
        name=account.business_name,
        iban=payment.format_iban(account.iban),
        bic=account.bic or "",
        amount=money(balance, invoice.currency),
        amount_cents=balance,
        reference=reference,
        structured=structured,
        transfer=transfer,
    )


# --- Public page ---------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def ensure_token(invoice: Invoice) -> str:
    """The invoice's page token, made on first need (the caller commits)."""
    if not invoice.public_token:
        invoice.public_token = new_token()
    return invoice.public_token


def invoice_by_token(token: str) -> Invoice | None:
    if not token or len(token) > 64 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    invoice = db.session.scalar(select(Invoice).where(Invoice.public_token == token))
    if invoice is None or invoice.status in ("draft", "void"):
        return None
    return invoice


_PLACEHOLDER = "relance-token-placeholder"


def pay_url(invoice: Invoice) -> str:
    from flask import current_app

    from .urls import external_url

    # Built once per application (a request context per reminder cost ~1 ms) and
    # kept on it: the address depends on more of the app's settings than BASE_URL
    # (SERVER_NAME, APPLICATION_ROOT…), so a cache keyed by BASE_URL alone gave one
    # app's address to another in the same process. Tokens are URL-safe
    # (token_urlsafe), so none needs quoting.
    pattern = current_app.extensions.get("relance_pay_url")
    if pattern is None:
        pattern = current_app.extensions["relance_pay_url"] = external_url("pay.page", token=_PLACEHOLDER)
    return pattern.replace(_PLACEHOLDER, ensure_token(invoice))


QR_CID = "epc-qr@relance"


def reminder_context(invoice: Invoice, today: date | None = None, with_link: bool = True) -> dict:
    """What a reminder (email, PDF) shows beside its text, in the current locale:
    ``fees`` (a FeeView, falsy when there is nothing to say), ``payment`` (a
    PaymentView or None), ``pay_url`` (the client's page, or "") and ``qr_cid``
    (the Content-ID of the QR code image, or "" when there is none).

    ``with_link`` makes the page's token when the invoice has none (the caller
    commits); without it, only an existing page is linked (previews)."""
    payment_view = payment_for(invoice)
    context = {
        "fees": describe(fees_for(invoice, today), invoice.currency),
        "payment": payment_view,
        "qr_cid": QR_CID if payment_view and payment_view.transfer else "",
        "pay_url": "",
    }
    if invoice.id is not None and (with_link or invoice.public_token):
        context["pay_url"] = pay_url(invoice)
    return context


def inline_images(context: dict) -> list:
    """The QR code as an inline PNG part for ``cid:`` in the HTML email."""
    if not context.get("qr_cid"):
        return []
    return [(context["qr_cid"], "qr-code.png", "image/png", context["payment"].qr_png())]


# --- Answers -------------------------------------------------------------------

MAX_PROMISE_DAYS = 90


def open_answers(account_id: int, limit: int = 10):
    return db.session.scalars(
        select(ClientAnswer)
        .where(ClientAnswer.account_id == account_id, ClientAnswer.resolved_at.is_(None))
        .options(joinedload(ClientAnswer.invoice).joinedload(Invoice.client))  # the home list shows both
        .order_by(ClientAnswer.created_at.desc(), ClientAnswer.id.desc())
        .limit(limit)
    ).all()


def answers_of(invoice: Invoice, limit: int = 10):
    return db.session.scalars(
        select(ClientAnswer)
        .where(ClientAnswer.invoice_id == invoice.id)
        .order_by(ClientAnswer.created_at.desc(), ClientAnswer.id.desc())
        .limit(limit)
    ).all()


HOLD_REASONS = {"paid": "client_paid", "dispute": "client_dispute", "promise": "client_promise"}


def record_answer(invoice: Invoice, kind: str, message: str = "", promised_on: date | None = None):
    """Store the client's answer, hold the invoice's reminders, tell the owner."""
    from .reminders import holds

    answer = ClientAnswer(
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        kind=kind,
        message=message or "",
        promised_on=promised_on if kind == "promise" else None,
    )
    db.session.add(answer)
    db.session.add(
        Event(
            account_id=invoice.account_id, invoice_id=invoice.id, kind=f"client_{kind}", detail=message[:500]
        )
    )
    holds.hold(invoice, HOLD_REASONS[kind], detail=(message or "")[:500], until=answer.promised_on)
    db.session.commit()
    queue_owner_notice(invoice, answer)
    return answer


def queue_owner_notice(invoice: Invoice, answer: ClientAnswer) -> None:
    """Tell the owner from the worker, after the commit: the client's request never
    waits on SMTP. If Redis cannot be reached, send here rather than not at all."""
    from redis.exceptions import RedisError
    from rq import Queue

    from .reminders.dispatch import QUEUE, redis_connection

    try:
        Queue(QUEUE, connection=redis_connection()).enqueue(
            "app.jobs.notify_client_answer", answer.id, job_timeout=600, result_ttl=3600
        )
    except (RedisError, OSError) as error:
        log.warning("client answer %s: queue unreachable (%s), emailing the owner inline", answer.id, error)
        notify_owner(invoice, answer)


def resume(invoice: Invoice) -> None:
    """The owner dealt with the answers: reminders go on."""
    from .reminders import holds

    now = clock.now()
    for answer in db.session.scalars(
        select(ClientAnswer).where(ClientAnswer.invoice_id == invoice.id, ClientAnswer.resolved_at.is_(None))
    ):
        answer.resolved_at = now
    holds.release(invoice)
    db.session.commit()


def notify_owner(invoice: Invoice, answer: ClientAnswer) -> bool:
    """Email the owner (in the account's language). A mail failure is logged: the
    answer is saved and shown on the home screen anyway."""
    account = invoice.account
    from .urls import external_url

    with force_locale(account.language):
        subjects = {
            "paid": _("%(client)s says invoice %(number)s is paid"),
            "dispute": _("%(client)s disputes invoice %(number)s"),
            "promise": _("%(client)s will pay invoice %(number)s on a date"),
        }
        subject = subjects[answer.kind] % {"client": invoice.client.name, "number": invoice.number}
        context = {
            "invoice": invoice,
            "answer": answer,
            "account": account,
            "url": external_url("invoices.detail", invoice_id=invoice.id),
        }
        text = render_template("emails/client_answer.txt", **context)
    try:
        # The owner did not ask for this one: auto-generated (RFC 3834).
        mailer.send(mailer.compose(subject, [account.email], text, auto_submitted=True))
    except mailer.SEND_ERRORS as error:
        log.warning("client answer %s: owner not emailed: %s", answer.id, error)
        return False
    return True
