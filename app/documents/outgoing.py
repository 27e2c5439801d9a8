"""What a reminder email carries: the owner's text (or the built-in one) for its
kind and level, and the invoice PDF — stamped when overdue — from the cache.

app/reminders/sending.py calls :func:`reminder_email` for every reminder email
(automatic steps, clicks, groups, "Send me a preview") and :func:`attachments`
for the PDFs, so the preview on Settings → Templates, "Send me a preview" and a
real send all render the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import render_template
from flask_babel import force_locale

from ..models import Account, Client, Invoice
from . import defaults, pdf
from .messages import kind_for_step, render_message, text_language
from .sandbox import TemplateProblem

log = logging.getLogger(__name__)


@dataclass
class Email:
    subject: str
    text: str
    html: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


def kind_for(invoices: list[Invoice], left: int | None, level: int | None, grouped: bool = False) -> str:
    """The template kind: the formal notice whatever the count, the grouped text for
    several invoices, else before/on the due date or the level."""
    if level and level >= 4:
        return "level4"
    if grouped or len(invoices) > 1:
        return "grouped"
    return kind_for_step(left if left is not None else -1, level)


def reminder_email(
    account: Account,
    client: Client,
    invoices: list[Invoice],
    kind: str,
    sample: bool = False,
    today=None,
) -> Email:
    """The email of a reminder in the client's language (or the account's when the
    account has no texts in it). An owner's text that cannot render with these
    invoices (it rendered when saved, but the data differ) gives way to the built-in
    text, so the client still gets a correct message."""
    try:
        message = render_message(account, client, invoices, kind, "email", today=today)
    except TemplateProblem as problem:
        log.warning("template %s of account %s does not render: %s", kind, account.id, problem.message)
        language = text_language(client.language, account)
        message_language = language if language in defaults.LANGUAGES else account.language
        message = render_message(
            account,
            client,
            invoices,
            kind,
            "email",
            language=message_language,
            today=today,
            override=defaults.default(kind, "email", message_language),
        )
    locale = message.language if message.language in defaults.LANGUAGES else account.language
    with force_locale(locale):
        html = render_template("emails/reminder_text.html", body=message.html, account=account, sample=sample)
        text = render_template("emails/reminder_text.txt", body=message.text, sample=sample)
    return Email(subject=message.subject, text=text, html=html)


def attachments(invoices: list[Invoice], level: int | None) -> list[tuple[str, str, bytes]]:
    """The PDF of each invoice, stamped for ``level`` when overdue (from the cache)."""
    files = []
    for invoice in invoices:
        if invoice.id is None:  # a preview's sample invoice
            continue
        data = pdf.invoice_pdf(invoice, level=level)
        stamped = bool(level) and pdf.stamp_for(invoice, level) is not None
        files.append((pdf.pdf_filename(invoice, stamped), "application/pdf", data))
    return files
