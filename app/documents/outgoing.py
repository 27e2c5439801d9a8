"""What a reminder email carries: the owner's text (or the built-in one) for its
kind and level, and the invoice PDF — stamped when overdue — from the cache.

app/reminders/sending.py calls :func:`reminder_email` for every reminder email
(automatic steps, clicks, groups, "Send me a preview") and :func:`attachments`
for the PDFs, so the preview on Settings → Templates, "Send me a preview" and a
real send all render the same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale

from .. import mailer, payinfo
from ..extensions import db
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
    # (Content-ID, filename, content type, bytes) shown inside the HTML (the QR code).
    inline: list = field(default_factory=list)


def payment_block(invoice: Invoice, account: Account, sample: bool, with_link: bool):
    """The payment block of a one-invoice email (bank details, QR code, the fees the
    law allows, the client's page) as (text, html, inline images), in the current locale."""
    context = {"invoice": invoice, "account": account, "client": invoice.client}
    context.update(payinfo.reminder_context(invoice, with_link=with_link and not sample))
    text = mailer.render_email("emails/_pay.txt", **context).strip("\n")
    html = re.sub(r"\n\s*\n", "\n", mailer.render_email("emails/_pay.html", **context)).strip()
    return text, html, payinfo.inline_images(context)


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
    with_link: bool = True,
    level: int | None = None,
) -> Email:
    """The email of a reminder in the client's language (or the account's when the
    account has no texts in it). An owner's text that cannot render with these
    invoices (it rendered when saved, but the data differ) gives way to the built-in
    text, so the client still gets a correct message."""
    inline: list = []

    def payment():
        # Only for one invoice: the block names its reference, QR code and fees.
        if len(invoices) != 1:
            return None
        text, html, images = payment_block(invoices[0], account, sample, with_link)
        inline[:] = images
        return text, html

    try:
        message = render_message(
            account, client, invoices, kind, "email", today=today, payment=payment, level=level
        )
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
            payment=payment,
            level=level,
        )
    locale = message.language if message.language in defaults.LANGUAGES else account.language
    with force_locale(locale):
        html = mailer.render_email(
            "emails/reminder_text.html", body=message.html, account=account, sample=sample
        )
        text = mailer.render_email("emails/reminder_text.txt", body=message.text, sample=sample)
    return Email(subject=message.subject, text=text, html=html, inline=inline)


MAX_ATTACHED = 10


def pdf_enabled() -> bool:
    """Config ``REMINDER_PDF`` (default True): reminders carry the invoice PDF."""
    return bool(current_app.config.get("REMINDER_PDF", True))


def prepare_for(kind: str, invoices: list[Invoice], level: int | None, today=None) -> list[pdf.Pending]:
    """The PDFs a message carries, read in the current transaction: the invoice's own
    email the plain invoice; every reminder the PDF of each invoice it covers (up to
    ``MAX_ATTACHED``), stamped at the reminder's level (1 at least) when the invoice
    is overdue, plain before or on the due date (pdf.stamp_for decides).

    Normally read from the cache, which warm_pdfs fills ahead of the send (the
    tick queues it for the invoices whose next reminder comes within a day)."""
    if kind == "invoice":
        return prepare_attachments(invoices[:1], 0)
    if not pdf_enabled():
        return []
    return prepare_attachments(invoices[:MAX_ATTACHED], max(level or 1, 1))


def prepare_attachments(invoices: list[Invoice], level: int | None) -> list[pdf.Pending]:
    """The PDF of each invoice, stamped for ``level`` when overdue: read from the
    cache, or its HTML made ready, inside the current transaction (fast)."""
    if level is None:
        return []
    return [pdf.prepare(invoice, level or None) for invoice in invoices if invoice.id is not None]


def finish_attachments(pending: list[pdf.Pending]) -> list[tuple[str, str, bytes]]:
    """Turn what was not cached into PDFs — call it with no transaction open — and
    keep them in the cache (one short transaction). Returns the files to attach."""
    files, fresh = [], []
    for item in pending:
        was_cached = item.data is not None
        files.append((item.filename, "application/pdf", item.finish()))
        if not was_cached and item.invoice_id is not None:  # not an unsaved sample
            fresh.append(item)
    if fresh:
        for item in fresh:
            pdf.store(item.invoice_id, item.variant, item.digest, item.data)
        db.session.commit()
    return files


def preview_attachments(invoice: Invoice, account: Account, offset: int) -> list[pdf.Pending]:
    """The PDF a real reminder at ``offset`` days from the due date would carry
    ("Send me a preview"): plain before or on the due date, stamped at the offset's
    level after it — as if on that day, whatever the invoice's real dates."""
    from ..reminders.levels import account_level

    if not pdf_enabled():
        return []
    stamp = None
    if offset > 0:
        stamp = pdf.STAMPS[pdf.pdf_language(invoice)][max(account_level(account, offset), 1)]
    return [pdf.prepare_stamped(invoice, stamp)]


def attachments(invoices: list[Invoice], level: int | None) -> list[tuple[str, str, bytes]]:
    """The PDFs of these invoices in one go (previews, letters: not the send path)."""
    return finish_attachments(prepare_attachments(invoices, level))
