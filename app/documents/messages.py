"""The text of a reminder: the owner's template (or the built-in one) for a kind,
channel and language, rendered in the sandbox with the invoice's facts.

Preview, "Send me a preview" and real sends all go through :func:`render_message`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..filters import date_filter, money
from ..models import MESSAGE_KINDS, Account, Client, Invoice, MessageTemplate
from . import defaults, sandbox
from .ownertext import HtmlBlock
from .sandbox import TemplateProblem

KIND_LABELS = {
    "before_due": _l("Before the due date"),
    "due_today": _l("On the due date"),
    "level1": _l("Reminder (level 1)"),
    "level2": _l("Second reminder (level 2)"),
    "level3": _l("Final reminder (level 3)"),
    "level4": _l("Formal notice (level 4)"),
    "grouped": _l("Grouped reminder (all of a client's invoices)"),
}
CHANNEL_LABELS = {"email": _l("Email"), "letter": _l("Letter")}

# name → what it holds, shown beside the editor.
PLACEHOLDERS = {
    "client_name": _l("the client's name"),
    "client_address": _l("the client's postal address"),
    "invoice_number": _l("the invoice number"),
    "invoice_numbers": _l("all the invoice numbers, comma separated"),
    "invoice_date": _l("the invoice date"),
    "amount": _l("the invoice total"),
    "balance": _l("what is left to pay on the invoice"),
    "paid": _l("what was already paid on the invoice (empty when nothing)"),
    "total_balance": _l("what is left to pay on all the invoices"),
    "due_date": _l("the due date"),
    "days_left": _l("days until the due date"),
    "days_overdue": _l("days since the due date"),
    "invoices": _l("the list of invoices (each has number, date, due_date, amount, balance, days_overdue)"),
    "payment_details": _l("how to pay: IBAN, BIC, reference"),
    "business_name": _l("your business name"),
    "business_address": _l("your address"),
    "company_number": _l("your company number"),
    "vat_number": _l("your VAT number"),
    "business_email": _l("your email"),
    "deadline_days": _l("days given to pay (formal notice setting)"),
    "deadline_date": _l("the date payment is demanded by"),
    "today": _l("today's date"),
    "level": _l("the reminder level: 0 before and on the due date, then 1 to 4"),
    "level_title": _l("the level's name: Reminder, Second reminder, Final reminder, Formal notice"),
    "client_is_business": _l("true for a business client, false for a consumer"),
    "client_country": _l("the client's country code: FR, BE, CA… (empty when not set)"),
}


@dataclass
class Message:
    subject: str
    text: str
    html: str
    language: str
    kind: str
    channel: str


def kind_for_step(left: int, level: int | None = None) -> str:
    """The template kind of a reminder: before/on the due date, else its level (1 by default)."""
    if left > 0:
        return "before_due"
    if left == 0:
        return "due_today"
    return f"level{min(max(level or 1, 1), 4)}"


def languages_of(account: Account) -> list[str]:
    """Languages the account has texts in: the built-in ones, plus any the owner added."""
    added = db.session.scalars(
        select(MessageTemplate.language).where(MessageTemplate.account_id == account.id).distinct()
    ).all()
    return list(defaults.LANGUAGES) + sorted(set(added) - set(defaults.LANGUAGES))


def language_choices(account: Account):
    """The client form's languages: French, English and any the owner added texts in."""
    from ..forms import LANGUAGES, options

    added = [code for code in languages_of(account) if code not in defaults.LANGUAGES]
    return list(LANGUAGES) + options((code, code.upper()) for code in added)


def text_language(client_language: str | None, account: Account) -> str:
    """The client's language if the account has texts in it, else the account's."""
    if client_language in defaults.LANGUAGES:
        return client_language
    if client_language and db.session.scalar(
        select(MessageTemplate.id)
        .where(MessageTemplate.account_id == account.id, MessageTemplate.language == client_language)
        .limit(1)
    ):
        return client_language
    return account.language if account.language in defaults.LANGUAGES else "en"


def stored(account: Account, kind: str, channel: str, language: str) -> MessageTemplate | None:
    return db.session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.account_id == account.id,
            MessageTemplate.kind == kind,
            MessageTemplate.channel == channel,
            MessageTemplate.language == language,
        )
    )


# Within a batch of sends (``sources_batch``): {(account id, kind, channel, language):
# (subject, body, is_the_owners)}, so that each text is read once per batch.
_SOURCES: ContextVar[dict | None] = ContextVar("message_sources", default=None)


@contextmanager
def sources_batch():
    token = _SOURCES.set({})
    try:
        yield
    finally:
        _SOURCES.reset(token)


def source(account: Account, kind: str, channel: str, language: str) -> tuple[str, str, bool]:
    """(subject, body, is_the_owners) for a kind, channel and language."""
    batch = _SOURCES.get()
    key = (account.id, kind, channel, language)
    if batch is not None and account.id and key in batch:
        return batch[key]
    row = stored(account, kind, channel, language) if account.id else None
    if row is not None:
        found = (row.subject, row.body, True)
    else:
        found = (*defaults.default(kind, channel, language), False)
    if batch is not None and account.id:
        batch[key] = found
    return found


def payment_details(account: Account, numbers: str) -> str:
    if account.iban:
        lines = [_("How to pay: bank transfer to"), account.business_name]
        lines.append(f"IBAN {account.iban}")
        if account.bic:
            lines.append(f"BIC {account.bic}")
        lines.append(_("Reference: %(number)s", number=numbers))
        return "\n".join(lines)
    return _("Please pay with the reference %(number)s.", number=numbers)


LEVEL_TITLES = {
    1: _l("Reminder"),
    2: _l("Second reminder"),
    3: _l("Final reminder"),
    4: _l("Formal notice"),
}


def context_for(
    account: Account, client: Client, invoices: list[Invoice], today: date | None = None, level: int = 0
) -> dict:
    """The placeholders' values, formatted in the current locale (plain data only)."""
    today = today or clock.today(account.timezone)
    rows = []
    for invoice in invoices:
        overdue = (today - invoice.due_on).days if invoice.due_on else 0
        rows.append(
            {
                "number": invoice.number,
                "date": date_filter(invoice.issued_on, "long"),
                "due_date": date_filter(invoice.due_on, "long") if invoice.due_on else "",
                "amount": money(invoice.total_cents, invoice.currency),
                "balance": money(invoice.balance_cents, invoice.currency),
                "days_overdue": max(overdue, 0),
            }
        )
    first = invoices[0]
    numbers = ", ".join(invoice.number for invoice in invoices)
    totals: dict[str, int] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.balance_cents
    deadline = today + timedelta(days=account.notice_days or 8)
    left = (first.due_on - today).days if first.due_on else 0
    return {
        "client_name": client.name,
        "client_address": ", ".join(
            line.strip() for line in (client.address or "").splitlines() if line.strip()
        ),
        "client_is_business": (client.kind or "business") == "business",
        "client_country": (client.country or "").upper(),
        "invoice_number": first.number,
        "invoice_numbers": numbers,
        "invoice_date": rows[0]["date"],
        "amount": rows[0]["amount"],
        "balance": rows[0]["balance"],
        "paid": money(first.paid_cents, first.currency) if first.paid_cents else "",
        "total_balance": " + ".join(money(cents, currency) for currency, cents in totals.items()),
        "due_date": rows[0]["due_date"],
        "days_left": max(left, 0),
        "days_overdue": max(-left, 0),
        "invoices": rows,
        "payment_details": payment_details(account, numbers),
        "business_name": account.business_name,
        "business_address": ", ".join(
            line.strip() for line in (account.address or "").splitlines() if line.strip()
        ),
        "company_number": account.company_number or "",
        "vat_number": account.vat_number or "",
        "business_email": account.reply_to_email or account.email or "",
        "deadline_days": account.notice_days or 8,
        "deadline_date": date_filter(deadline, "long"),
        "today": date_filter(today, "long"),
        "level": level,
        "level_title": str(LEVEL_TITLES[min(max(level, 1), 4)]),
    }


_BLANKS = re.compile(r"[ \t\r\n\f\v]+")


def render_source(subject: str, body: str, context: dict, payment=None) -> tuple[str, str, str]:
    """(subject, text, html) of a template source; raises TemplateProblem.

    ``payment`` = (text, html) replaces ``{{ payment_details }}`` in the email's two
    parts by the full payment block (bank details, QR code, fees, the client's page)."""
    allowed = set(PLACEHOLDERS)
    sandbox.check(subject, allowed)
    sandbox.check(body, allowed)
    # One line, but the no-break spaces French puts before « : » stay.
    rendered_subject = _BLANKS.sub(" ", sandbox.render(subject, context)).strip()[:300]
    text_context, html_context = context, context
    if payment is not None:
        text_context = {**context, "payment_details": payment[0]}
        html_context = {**context, "payment_details": HtmlBlock(payment[0], payment[1])}
    text = sandbox.render(body, text_context)
    # The owner's text, escaped, with our paragraphs (app/documents/ownertext.py).
    html = sandbox.render(body, html_context, html=True)
    return rendered_subject, text, html


def render_message(
    account: Account,
    client: Client,
    invoices: list[Invoice],
    kind: str,
    channel: str = "email",
    language: str | None = None,
    today: date | None = None,
    override: tuple[str, str] | None = None,
    level: int | None = None,
    payment=None,
) -> Message:
    """Render the message of ``kind`` for these invoices in the client's language
    (or ``language``). ``override`` = (subject, body) renders an unsaved text (the
    editor's preview). Raises :class:`TemplateProblem`."""
    if kind not in MESSAGE_KINDS:
        raise ValueError(kind)
    language = language or text_language(client.language, account)
    if override is not None:
        subject, body = override
    else:
        subject, body, _own = source(account, kind, channel, language)
    with force_locale(language if language in defaults.LANGUAGES else account.language):
        if level is None:
            level = int(kind[-1]) if kind.startswith("level") else 0
        context = context_for(account, client, invoices, today, level)
        if callable(payment):
            payment = payment()
        rendered = render_source(subject, body, context, payment)
    return Message(*rendered, language=language, kind=kind, channel=channel)


def validate(subject: str, body: str, context: dict) -> None:
    """Refuse a text that fails the sandbox or does not render for a real invoice."""
    render_source(subject, body, context)


__all__ = [
    "TemplateProblem",
    "KIND_LABELS",
    "CHANNEL_LABELS",
    "PLACEHOLDERS",
    "render_message",
    "kind_for_step",
    "text_language",
    "languages_of",
    "source",
]
