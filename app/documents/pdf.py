"""Invoice, reminder and letter PDFs (WeasyPrint, from Jinja HTML + CSS).

An invoice PDF is rendered once per invoice state and kept in the database
(DESIGN.md rule 8): one ``PdfCache`` row per invoice and variant, valid while
its ``state_hash`` — a hash of everything printed — matches. A worker reads it
from there, so sending stays fast and needs nothing from the web machine's disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..invoicing import line_net_cents, line_vat_cents
from ..models import Account, Invoice, PdfCache
from . import fetcher
from .fetcher import RenderImages

# Bump when the look of the PDFs changes: every cached PDF is then redrawn.
# 2: drawn with the app's own url_fetcher (issue 14): nothing cached by the renderer
# that followed any URL is served again.
LAYOUT_VERSION = "2"

STAMPS = {
    "fr": {1: "RAPPEL", 2: "2e RAPPEL", 3: "DERNIER RAPPEL", 4: "MISE EN DEMEURE"},
    "en": {1: "REMINDER", 2: "SECOND REMINDER", 3: "FINAL REMINDER", 4: "FORMAL NOTICE"},
}

# With 0-day terms an invoice is "overdue" the day after it was sent: no stamp
# before it has been with the client this long (the engine's rule 2 uses the same).
ZERO_TERMS_GRACE = timedelta(hours=12)


class DocumentProblem(Exception):
    """A document that cannot be made (a missing address…): ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def pdf_language(invoice: Invoice) -> str:
    """PDFs exist in French and English: the client's language, else English."""
    return "fr" if invoice.client.language == "fr" else "en"


def stamp_for(invoice: Invoice, level: int, now=None) -> str | None:
    """The stamp of a reminder of ``level`` (1–4), or None when the invoice is not
    overdue (or was sent less than 12 hours ago with 0-day terms)."""
    now = now or clock.now()
    today = now.astimezone(ZoneInfo(invoice.account.timezone)).date()
    if invoice.status != "sent" or invoice.due_on is None or invoice.balance_cents <= 0:
        return None
    if invoice.due_on >= today:
        return None
    zero_terms = invoice.terms_days == 0 or invoice.due_on <= invoice.issued_on
    if zero_terms and invoice.sent_at is not None and now - invoice.sent_at < ZERO_TERMS_GRACE:
        return None
    return STAMPS[pdf_language(invoice)][min(max(level, 1), 4)]


def _lines(invoice: Invoice) -> list[dict]:
    rows = []
    for line in invoice.lines:
        net = line_net_cents(line.quantity_milli, line.unit_price_cents)
        rows.append(
            {
                "description": line.description,
                "quantity": line.quantity_milli / 1000,
                "quantity_milli": line.quantity_milli,
                "unit_price_cents": line.unit_price_cents,
                "vat_rate_bp": line.vat_rate_bp,
                "net_cents": net,
                "vat_cents": line_vat_cents(net, line.vat_rate_bp),
            }
        )
    return rows


def _facts(invoice: Invoice, stamp: str | None) -> dict:
    """Everything printed on the invoice PDF, as plain data (also what the hash covers)."""
    account: Account = invoice.account
    client = invoice.client
    return {
        "layout": LAYOUT_VERSION,
        "language": pdf_language(invoice),
        "stamp": stamp or "",
        "account": {
            "name": account.business_name,
            "address": account.address or "",
            "company_number": account.company_number or "",
            "vat_number": account.vat_number or "",
            "email": account.reply_to_email or account.email,
            "iban": account.iban or "",
            "bic": account.bic or "",
        },
        "client": {"name": client.name, "address": client.address or "", "email": client.email or ""},
        "invoice": {
            "number": invoice.number,
            "issued_on": invoice.issued_on.isoformat(),
            "due_on": invoice.due_on.isoformat() if invoice.due_on else "",
            "currency": invoice.currency,
            "total_cents": invoice.total_cents,
            "paid_cents": invoice.paid_cents,
            "notes": invoice.notes or "",
        },
        "lines": [
            [r["description"], r["quantity_milli"], r["unit_price_cents"], r["vat_rate_bp"]]
            for r in _lines(invoice)
        ],
    }


def state_hash(facts: dict) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def invoice_html(invoice: Invoice, stamp: str | None = None) -> str:
    lines = _lines(invoice)
    net = sum(r["net_cents"] for r in lines)
    vat = sum(r["vat_cents"] for r in lines)
    with force_locale(pdf_language(invoice)):
        return render_template(
            "documents/invoice_pdf.html",
            invoice=invoice,
            account=invoice.account,
            client=invoice.client,
            lines=lines,
            net_cents=net,
            vat_cents=vat,
            stamp=stamp,
        )


def html_to_pdf(html: str, images: RenderImages | None = None) -> bytes:
    """The one way the app turns HTML into a PDF (invoices, reminders, letters).

    The HTML carries account text, so WeasyPrint reads nothing but the app's own
    assets and the ``images`` made for this render (app/documents/fetcher.py), and
    nothing in the HTML can attach a file to the PDF."""
    # Imported here: WeasyPrint loads pango at import, which the web pages never need.
    from weasyprint import HTML

    # Its per-step progress is logged at INFO: not for a worker's log.
    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).setLevel(logging.WARNING)
    fetcher.quiet_weasyprint_refusals()

    document = HTML(string=html, base_url=None, url_fetcher=fetcher.url_fetcher(images)).render()
    # <link rel="attachment"> and <a rel="attachment"> embed files: none come from the HTML
    # (the app's own attachments, if any, are passed to write_pdf by the app).
    document.metadata.attachments = []
    for page in document.pages:
        page.links = [link for link in page.links if link[0] != "attachment"]
    return document.write_pdf()


def _cached(invoice: Invoice, variant: str, facts: dict, make) -> bytes:
    digest = state_hash(facts)
    row = db.session.scalar(
        select(PdfCache).where(PdfCache.invoice_id == invoice.id, PdfCache.variant == variant)
    )
    if row is not None and row.state_hash == digest:
        return row.pdf
    data = make()
    store(invoice.id, variant, digest, data)
    return data


def store(invoice_id: int, variant: str, digest: str, data: bytes) -> None:
    """Keep a rendered PDF (an upsert: two workers may render the same one)."""
    from ..reminders.planning import dialect_insert

    statement = dialect_insert(PdfCache.__table__).values(
        invoice_id=invoice_id, variant=variant, state_hash=digest, pdf=data, created_at=clock.now()
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["invoice_id", "variant"],
            set_={"state_hash": digest, "pdf": data, "created_at": clock.now()},
        )
    )


@dataclass
class Pending:
    """An invoice PDF to attach: the cached bytes, or the HTML to turn into a PDF
    outside any database transaction (WeasyPrint takes a while; SQLite's write lock
    must not wait for it)."""

    invoice_id: int
    variant: str
    digest: str
    filename: str
    data: bytes | None = None
    html: str | None = None

    def finish(self) -> bytes:
        """The PDF bytes (rendered now when they were not cached); no database access."""
        if self.data is None:
            self.data = html_to_pdf(self.html)
        return self.data


def prepare(invoice: Invoice, level: int | None = None, now=None) -> Pending:
    """What to attach for this invoice, read in the current transaction (fast)."""
    return prepare_stamped(invoice, stamp_for(invoice, level, now) if level else None)


def prepare_stamped(invoice: Invoice, stamp: str | None) -> Pending:
    """As :func:`prepare`, with the stamp given (previews: "as if on that day")."""
    facts = _facts(invoice, stamp)
    variant = f"{facts['language']}:{stamp or 'plain'}"
    digest = state_hash(facts)
    pending = Pending(invoice.id, variant, digest, pdf_filename(invoice, stamp is not None))
    if invoice.id is None:  # an unsaved sample: nothing cached
        pending.html = invoice_html(invoice, stamp)
        return pending
    row = db.session.execute(
        select(PdfCache.state_hash, PdfCache.pdf).where(
            PdfCache.invoice_id == invoice.id, PdfCache.variant == variant
        )
    ).first()
    if row is not None and row.state_hash == digest:
        pending.data = row.pdf
    else:
        pending.html = invoice_html(invoice, stamp)
    return pending


def invoice_pdf(invoice: Invoice, level: int | None = None, now=None) -> bytes:
    """The invoice PDF, stamped for a reminder of ``level`` when it is overdue.

    Read from the cache when nothing printed has changed; rendered (and cached,
    in the caller's transaction) otherwise."""
    stamp = stamp_for(invoice, level, now) if level else None
    if invoice.id is None:
        return html_to_pdf(invoice_html(invoice, stamp))
    facts = _facts(invoice, stamp)
    variant = f"{facts['language']}:{stamp or 'plain'}"
    return _cached(invoice, variant, facts, lambda: html_to_pdf(invoice_html(invoice, stamp)))


def pdf_filename(invoice: Invoice, stamped: bool = False) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in invoice.number)
    return f"{'reminder' if stamped else 'invoice'}-{safe}.pdf"


__all__ = ["invoice_pdf", "stamp_for", "DocumentProblem", "STAMPS"]
