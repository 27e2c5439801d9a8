"""Letters for the post: the reminder letter (the client's address placed for a
window envelope) followed by the invoice, and print batches where every letter
starts on a new sheet."""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from .. import clock
from ..models import Account, Client, Invoice, Reminder
from . import pdf
from .messages import render_message, text_language
from .pdf import DocumentProblem


def level_of(kind: str) -> int | None:
    return int(kind[-1]) if kind.startswith("level") else None


def check_can_make(account: Account, client: Client, kind: str, channel: str) -> None:
    """Raise DocumentProblem (a message for the owner) when this document cannot be made."""
    if channel == "letter" and not (client.address or "").strip():
        raise DocumentProblem(
            _(
                "%(name)s has no postal address: add it on the client's page to send a letter.",
                name=client.name,
            )
        )
    if kind == "level4" and not (account.address or "").strip():
        raise DocumentProblem(
            _("A formal notice must show your postal address: add it in Settings → Business profile first.")
        )
    if channel == "email" and not client.email:
        raise DocumentProblem(_("%(name)s has no email address: send a letter instead.", name=client.name))


def _invoice_part(invoice: Invoice, level: int | None) -> dict:
    lines = pdf._lines(invoice)
    return {
        "invoice": invoice,
        "account": invoice.account,
        "client": invoice.client,
        "lines": lines,
        "net_cents": sum(r["net_cents"] for r in lines),
        "vat_cents": sum(r["vat_cents"] for r in lines),
        "stamp": pdf.stamp_for(invoice, level) if level else None,
    }


def letter_parts(account: Account, client: Client, invoices: list[Invoice], kind: str) -> dict:
    """What one letter prints: the rendered text and each invoice after it."""
    check_can_make(account, client, kind, "letter")
    message = render_message(account, client, invoices, kind, "letter")
    level = level_of(kind)
    return {
        "account": account,
        "client": client,
        "message": message,
        "language": message.language,
        "invoices": [_invoice_part(invoice, level) for invoice in invoices],
        "today": clock.today(account.timezone),
    }


def letters_pdf(letters: list[dict]) -> bytes:
    """One PDF with every letter (each starting on a new sheet: recto page)."""
    if not letters:
        raise DocumentProblem(_("Select at least one letter."))
    chunks = []
    for letter in letters:
        language = letter["language"]
        with force_locale(language if language in ("fr", "en") else letter["account"].language):
            chunks.append(render_template("documents/_letter.html", **letter))
    html = render_template("documents/letters_pdf.html", chunks=chunks)
    return pdf.html_to_pdf(html)


def reminder_letter(reminder: Reminder) -> dict:
    """The letter of a "ready to print" reminder, rendered from the current texts."""
    invoices = covered(reminder)
    return letter_parts(
        reminder.invoice.account, reminder.client, invoices, reminder.document_kind or "level1"
    )


def covered(reminder: Reminder) -> list[Invoice]:
    """The invoices a letter covers: its items when the workflows add them, else its invoice."""
    items = getattr(reminder, "items", None)
    if items:
        return [item.invoice for item in items]
    return [reminder.invoice]


__all__ = ["check_can_make", "letter_parts", "letters_pdf", "reminder_letter", "covered", "text_language"]
