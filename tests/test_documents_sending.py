"""Documents in real sends: every reminder email renders the owner's template (the
same rendering as the editor's preview and "Send me a preview") and carries the
invoice PDF — stamped when overdue — from the cache; the invoice email carries the
plain invoice PDF. Real Redis, real worker, real SMTP sink."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app import invoicing
from app.documents.outgoing import attachments, reminder_email
from app.documents.warm import DOCUMENTS_QUEUE
from app.extensions import db
from app.models import Account, Client, Invoice, PdfCache
from app.reminders.dispatch import tick

from .factories import make_account, make_invoice
from .test_engine import CLIENT, at, engine_case, run_worker, subjects, tick_and_work

OWNER = "owner@example.com"


@pytest.fixture
def setup(app, fixed_now):
    """As in test_engine: invoice F-2026-014 sent by email on 4 November, due 4 December."""
    return engine_case(app, fixed_now)


def pdfs_of(message) -> list[tuple[str, str]]:
    """(file name, extracted text) of each PDF attached to a message."""
    found = []
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            reader = PdfReader(io.BytesIO(part.get_content()))
            found.append((part.get_filename(), "\n".join(p.extract_text() for p in reader.pages)))
    return found


def test_an_overdue_reminder_carries_the_stamped_invoice_pdf_from_the_cache(app, setup, sink, fixed_now):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))  # D-3: a friendly nudge, the plain invoice
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # D+3
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))  # D+7
    before, first, second = sink.to(CLIENT)
    ((name, text),) = pdfs_of(before)
    assert name == "invoice-F-2026-014.pdf" and "F-2026-014" in text and "REMINDER" not in text
    ((name, text),) = pdfs_of(first)
    assert name == "reminder-F-2026-014.pdf"
    assert "REMINDER" in text and "€1,234.56" in text and "Atelier Moreau" in text
    ((name, text),) = pdfs_of(second)  # D+7 is level 2
    assert name == "reminder-F-2026-014.pdf" and "SECOND REMINDER" in text
    with app.app_context():
        rows = db.session.scalars(select(PdfCache).order_by(PdfCache.id)).all()
        assert [row.variant for row in rows] == ["en:plain", "en:REMINDER", "en:SECOND REMINDER"]
        rows = rows[1:]
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
        rows = db.session.scalars(select(PdfCache).order_by(PdfCache.id)).all()[1:]
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


def run_documents_worker(app):
    connection = Redis.from_url(app.config["REDIS_URL"])
    SimpleWorker([Queue(DOCUMENTS_QUEUE, connection=connection)], connection=connection).work(burst=True)
    connection.close()


def cached(app) -> dict[str, PdfCache]:
    with app.app_context():
        rows = db.session.scalars(select(PdfCache)).all()
        db.session.expunge_all()
        return {row.variant: row for row in rows}


def test_the_next_reminders_pdf_is_drawn_ahead_and_read_from_the_cache_at_send_time(
    app, setup, sink, fixed_now
):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))  # D-3 (its plain PDF drawn at the send)
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9, 5))  # D: not overdue yet, the same plain PDF
    assert [len(pdfs_of(m)) for m in sink.to(CLIENT)] == [1, 1]
    assert set(cached(app)) == {"en:plain"}
    fixed_now(at(2026, 12, 5, 10))  # the D+3 reminder is two days away: nothing yet
    with app.app_context():
        assert tick().pdfs_queued == 0
    fixed_now(at(2026, 12, 6, 10))  # within a day of it: its PDF is queued, once
    with app.app_context():
        assert tick().pdfs_queued == 1
        assert tick().pdfs_queued == 0
    assert "en:REMINDER" not in cached(app)  # the send queue's worker does not draw it
    with app.app_context():
        run_worker(app)
    assert "en:REMINDER" not in cached(app)
    with app.app_context():
        run_documents_worker(app)
    warmed = cached(app)["en:REMINDER"]
    assert warmed.created_at == at(2026, 12, 6, 10)
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # D+3
    message = sink.to(CLIENT)[-1]
    ((name, text),) = pdfs_of(message)
    assert name == "reminder-F-2026-014.pdf" and "REMINDER" in text
    attached = next(p for p in message.iter_attachments() if p.get_content_type() == "application/pdf")
    assert attached.get_content() == warmed.pdf  # read from the cache, not drawn again
    assert cached(app)["en:REMINDER"].created_at == at(2026, 12, 6, 10)


def test_a_reminder_for_several_invoices_carries_each_pdf_stamped_only_when_overdue(
    app, setup, sink, client, auth, fixed_now
):
    fixed_now(at(2026, 12, 20, 10))  # F-2026-014 is overdue; F-2026-030 has no due date
    with app.app_context():
        account = db.session.get(Account, setup["account"])
        other = make_invoice(
            account, db.session.get(Client, setup["client"]), number="F-2026-030", due_on=None
        )
        other_id = other.id
    auth.login(email=OWNER)
    url = f"/clients/{setup['client']}/remind"
    page = client.get(url + "?submitted=1&throttle=7&include_no_due=1").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    data = {
        "key": key,
        "throttle": "7",
        "submitted": "1",
        "include_no_due": "1",
        "invoice": [str(setup["invoice"]), str(other_id)],
        "action": "send",
    }
    assert client.form(url, data).status_code == 302
    with app.app_context():
        run_worker(app)
    (message,) = sink.to(CLIENT)
    files = dict(pdfs_of(message))
    assert set(files) == {"reminder-F-2026-014.pdf", "invoice-F-2026-030.pdf"}
    assert "REMINDER" in files["reminder-F-2026-014.pdf"]
    assert "REMINDER" not in files["invoice-F-2026-030.pdf"]


def test_send_me_a_preview_carries_the_pdf_each_real_reminder_would(
    app, setup, sink, client, auth, fixed_now
):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    before, after = sink.to(OWNER)[0], sink.to(OWNER)[-1]
    ((name, text),) = pdfs_of(before)  # D-3: the plain invoice
    assert name == "invoice-F-2026-014.pdf" and "REMINDER" not in text and "F-2026-014" in text
    ((name, text),) = pdfs_of(after)  # D+3: stamped, as if on that day
    assert name == "reminder-F-2026-014.pdf" and "REMINDER" in text
    assert all(len(pdfs_of(m)) == 1 for m in sink.to(OWNER))
    # An account without invoices: the labelled sample, with its PDF too.
    sink.clear()
    with app.app_context():
        make_account(email="new@example.com", language="en")
    auth.logout()
    auth.login(email="new@example.com")
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    messages = sink.to("new@example.com")
    assert len(messages) == 3
    ((name, text),) = pdfs_of(messages[-1])
    assert name.startswith("reminder-") and "REMINDER" in text and "Sample client" in text


def test_reminder_pdf_off_sends_text_and_html_only(app, setup, sink, fixed_now):
    """REMINDER_PDF=False: for tests and benchmarks of the send path (see the race
    test in test_engine_faults.py); the invoice's own email keeps its PDF."""
    app.config["REMINDER_PDF"] = False
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    fixed_now(at(2026, 12, 6, 10))
    with app.app_context():
        assert tick().pdfs_queued == 0
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))
    assert [pdfs_of(m) for m in sink.to(CLIENT)] == [[], []]
    assert cached(app) == {}
