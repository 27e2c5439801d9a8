"""Documents in real sends: every reminder email renders the owner's template (the
same rendering as the editor's preview and "Send me a preview") and carries the
invoice PDF — stamped when overdue — from the cache; the invoice email carries the
plain invoice PDF. Real Redis, real worker, real SMTP sink."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app import invoicing
from app.documents.outgoing import attachments, reminder_email
from app.extensions import db
from app.models import Account, Client, Invoice, PdfCache

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, D, at, run_worker, subjects, tick_and_work

OWNER = "owner@example.com"


@pytest.fixture
def setup(app, fixed_now):
    """As in test_engine: invoice F-2026-014 sent by email on 4 November, due 4 December."""
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER, iban="FR7630006000011234567890189")
        client = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice = make_invoice(
            account, client, total_cents=1234_56, issued_on=date(2026, 11, 4), due_on=D, number="F-2026-014"
        )
        return {"account": account.id, "client": client.id, "invoice": invoice.id}


def pdfs_of(message) -> list[tuple[str, str]]:
    """(file name, extracted text) of each PDF attached to a message."""
    found = []
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            reader = PdfReader(io.BytesIO(part.get_content()))
            found.append((part.get_filename(), "\n".join(p.extract_text() for p in reader.pages)))
    return found


def test_an_overdue_reminder_carries_the_stamped_invoice_pdf_from_the_cache(app, setup, sink, fixed_now):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))  # D-3: a friendly nudge, no PDF
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # D+3
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))  # D+7
    before, first, second = sink.to(CLIENT)
    assert pdfs_of(before) == []
    ((name, text),) = pdfs_of(first)
    assert name == "reminder-F-2026-014.pdf"
    assert "REMINDER" in text and "€1,234.56" in text and "Atelier Moreau" in text
    ((name, text),) = pdfs_of(second)  # D+7 is level 2
    assert name == "reminder-F-2026-014.pdf" and "SECOND REMINDER" in text
    with app.app_context():
        rows = db.session.scalars(select(PdfCache).order_by(PdfCache.id)).all()
        assert [row.variant for row in rows] == ["en:REMINDER", "en:SECOND REMINDER"]
        made_at = rows[1].created_at
        digest = rows[1].state_hash
        invoicing.record_payment(
            db.session.get(Invoice, setup["invoice"]), 234_56, date(2026, 12, 12), "transfer"
        )
        db.session.commit()
    fixed_now(at(2026, 12, 14, 9, 5))
    with app.app_context():
        ((_, _, data),) = attachments([db.session.get(Invoice, setup["invoice"])], 2)
        db.session.commit()
        assert "€1,000.00" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        rows = db.session.scalars(select(PdfCache).order_by(PdfCache.id)).all()
        assert len(rows) == 2 and rows[1].created_at > made_at and rows[1].state_hash != digest
        # the same state again: read back, not redrawn
        fixed_now(at(2026, 12, 14, 10, 5))
        assert attachments([db.session.get(Invoice, setup["invoice"])], 2)[0][2] == data
        assert db.session.get(PdfCache, rows[1].id).created_at == rows[1].created_at


def test_the_owners_text_is_what_the_client_and_the_preview_get(app, setup, sink, client, auth, fixed_now):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    response = client.form(
        "/settings/templates/level1/email/en",
        {
            "subject": "Still open: {{ invoice_number }} ({{ days_overdue }} days)",
            "body": "Dear {{ client_name }},\n\n{{ balance }} is still open.\n\n{{ payment_details }}",
            "action": "save",
        },
    )
    assert response.status_code == 302
    client.form(
        "/settings/templates/before_due/email/en",
        {"subject": "Soon: {{ invoice_number }}", "body": "Hi {{ client_name }}", "action": "save"},
    )
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    previews = subjects(sink, OWNER)
    assert "[Preview] Soon: F-2026-014" in previews
    assert "[Preview] Still open: F-2026-014 (3 days)" in previews
    sink.clear()
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))
    assert subjects(sink) == ["Still open: F-2026-014 (3 days)"]
    (message,) = sink.to(CLIENT)
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Dear Atelier Moreau,") and "€1,234.56 is still open." in body
    assert "FR7630006000011234567890189" in body
    assert "<p>Dear Atelier Moreau,</p>" in message.get_body(("html",)).get_content()


def test_the_invoice_email_carries_the_plain_invoice_pdf(app, setup, sink, client, auth, fixed_now):
    fixed_now(at(2026, 12, 20, 10))  # overdue, yet the invoice's own email is never stamped
    auth.login(email=OWNER)
    response = client.form(
        f"/invoices/{setup['invoice']}/email",
        {"key": "k" * 20, "to": CLIENT, "subject": "Invoice F-2026-014", "message": "Here it is."},
    )
    assert response.status_code == 302
    with app.app_context():
        run_worker(app)
    (message,) = sink.to(CLIENT)
    ((name, text),) = pdfs_of(message)
    assert name == "invoice-F-2026-014.pdf" and "F-2026-014" in text and "REMINDER" not in text


def test_a_grouped_reminder_lists_every_invoice(app, setup, fixed_now):
    fixed_now(at(2026, 12, 20, 10))
    with app.app_context():
        account = db.session.get(Account, setup["account"])
        client = db.session.get(Client, setup["client"])
        others = [
            make_invoice(account, client, number=f"F-2026-02{n}", issued_on=date(2026, 10, n + 1))
            for n in range(3)
        ]
        invoices = [db.session.get(Invoice, setup["invoice"]), *others]
        email = reminder_email(account, client, invoices, "grouped")
        for invoice in invoices:
            assert invoice.number in email.text and invoice.number in email.html
        assert email.subject == "Reminder: 4 unpaid invoices"
        assert "€1,534.56" in email.text  # the total of the four balances
