"""Invoice PDFs: what they print, the reminder stamp (level, language, 12-hour
grace), the database cache, the download link and its owner check."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app import clock, invoicing
from app.documents.pdf import invoice_pdf, stamp_for
from app.extensions import db
from app.models import Account, Invoice, InvoiceLine, PdfCache

from .factories import make_account, make_client, make_invoice

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def text_of(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def pages_of(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def _business(language="fr", **client_fields):
    account = make_account(
        business_name="Studio Lumière",
        address="12 rue des Lilas\n75011 Paris",
        company_number="812 345 678 00017",
        vat_number="FR12812345678",
        iban="FR7630006000011234567890189",
        bic="AGRIFRPP",
        language="fr",
    )
    client_fields.setdefault("address", "1 place de la Mairie\n69001 Lyon")
    client = make_client(account, name="Maple Leaf Design", language=language, **client_fields)
    return account, client


def _overdue_invoice(account, client, **fields):
    fields.setdefault("issued_on", date(2026, 9, 1))  # due 1 October: overdue on NOW
    invoice = make_invoice(account, client, number=fields.pop("number", "F-2026-004"), **fields)
    invoice.lines = [
        InvoiceLine(
            position=0,
            description="Site design",
            quantity_milli=3000,
            unit_price_cents=25000,
            vat_rate_bp=2000,
        ),
        InvoiceLine(
            position=1, description="Hosting", quantity_milli=1000, unit_price_cents=15000, vat_rate_bp=2000
        ),
    ]
    invoice.total_cents = 108000
    db.session.commit()
    return invoice


@pytest.fixture
def at_now(app):
    clock.set_now(NOW)
    with app.app_context():
        yield
    clock.set_now(None)


def test_the_invoice_pdf_prints_both_parties_lines_vat_and_payment_details(at_now):
    account, client = _business()
    invoice = _overdue_invoice(account, client)
    text = text_of(invoice_pdf(invoice))
    for printed in (
        "Studio Lumière",
        "12 rue des Lilas",
        "75011 Paris",
        "812 345 678 00017",
        "FR12812345678",
        "Maple Leaf Design",
        "1 place de la Mairie",
        "F-2026-004",
        "Site design",
        "Hosting",
        "900,00",
        "180,00",
        "1 080,00",
        "FR7630006000011234567890189",
        "AGRIFRPP",
        "Facture",
    ):
        assert "".join(printed.split()) in "".join(text.split()), printed
    for stamp in ("RAPPEL", "REMINDER", "MISE EN DEMEURE"):
        assert stamp not in text


@pytest.mark.parametrize(
    "language, words",
    [
        ("fr", {1: "RAPPEL", 2: "2e RAPPEL", 3: "DERNIER RAPPEL", 4: "MISE EN DEMEURE"}),
        ("en", {1: "REMINDER", 2: "SECOND REMINDER", 3: "FINAL REMINDER", 4: "FORMAL NOTICE"}),
    ],
)
def test_the_stamp_names_the_level_in_the_clients_language(at_now, language, words):
    account, client = _business(language=language)
    invoice = _overdue_invoice(account, client)
    for level, word in words.items():
        text = text_of(invoice_pdf(invoice, level=level))
        assert word in text
        others = [w for lv, w in words.items() if lv != level and w not in word]
        assert not any(other in text for other in others), (level, others)
    other = "REMINDER" if language == "fr" else "RAPPEL"
    assert other not in text_of(invoice_pdf(invoice, level=1))


def test_no_stamp_before_the_due_date_on_it_or_once_paid(at_now):
    account, client = _business()
    not_due = make_invoice(account, client, number="F-1", issued_on=date(2026, 11, 10))  # due 10 Dec
    due_today = make_invoice(account, client, number="F-2", issued_on=date(2026, 10, 24))  # due 23 Nov
    assert stamp_for(not_due, 1) is None and stamp_for(due_today, 1) is None
    assert "RAPPEL" not in text_of(invoice_pdf(not_due, level=3))
    assert "RAPPEL" not in text_of(invoice_pdf(due_today, level=1))
    late = _overdue_invoice(account, client, number="F-3")
    assert "RAPPEL" in text_of(invoice_pdf(late, level=1))
    invoicing.record_payment(late, late.total_cents, date(2026, 11, 22), "transfer")
    db.session.commit()
    assert late.status == "paid"
    assert "RAPPEL" not in text_of(invoice_pdf(late, level=1))


def test_zero_day_terms_get_no_stamp_in_the_first_twelve_hours(app):
    with app.app_context():
        account, client = _business(language="en")
        sent_at = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)  # 20:00 in Paris, due that day
        clock.set_now(sent_at)
        invoice = make_invoice(
            account, client, number="F-0", issued_on=date(2026, 11, 20), due_on=date(2026, 11, 20), sent=False
        )
        invoicing.mark_sent(invoice, "email_relance", sent_at)
        db.session.commit()
        try:
            clock.set_now(sent_at + timedelta(hours=11))  # next morning: overdue by the calendar
            assert invoice.is_overdue
            assert "REMINDER" not in text_of(invoice_pdf(invoice, level=1))
            clock.set_now(sent_at + timedelta(hours=13))
            assert "REMINDER" in text_of(invoice_pdf(invoice, level=1))
        finally:
            clock.set_now(None)


def test_the_pdf_is_cached_and_redrawn_when_the_invoice_changes(at_now):
    account, client = _business()
    invoice = _overdue_invoice(account, client)
    first = invoice_pdf(invoice, level=1)
    db.session.commit()
    row = db.session.scalar(select(PdfCache))
    row_id, made_at, digest = row.id, row.created_at, row.state_hash
    clock.set_now(NOW + timedelta(minutes=5))
    assert invoice_pdf(invoice, level=1) == first  # read back, not redrawn
    db.session.commit()
    row = db.session.get(PdfCache, row_id)
    assert (row.created_at, row.state_hash) == (made_at, digest)
    invoice.lines[1].description = "Hosting (two years)"
    db.session.commit()
    again = invoice_pdf(invoice, level=1)
    db.session.commit()
    assert "Hosting (two years)" in text_of(again)
    row = db.session.get(PdfCache, row_id)
    assert row.state_hash != digest and row.created_at > made_at
    assert db.session.scalar(select(func.count(PdfCache.id))) == 1
    account.iban = "BE68539007547034"
    db.session.commit()
    assert "BE68539007547034" in text_of(invoice_pdf(invoice, level=1))


def test_download_link_and_another_accounts_invoice_is_404(app, client, auth):
    auth.register()
    with app.app_context():
        clock.set_now(NOW)
        account = db.session.scalar(select(Account))
        account.language = "en"
        mine = _overdue_invoice(account, make_client(account, name="Mine", language="en"))
        stranger, theirs_client = _business()
        theirs = _overdue_invoice(stranger, theirs_client, number="X-1")
        ids = mine.id, theirs.id
    try:
        page = client.get(f"/invoices/{ids[0]}").get_data(as_text=True)
        assert f"/invoices/{ids[0]}/pdf" in page and "Download PDF" in page
        response = client.get(f"/invoices/{ids[0]}/pdf?download=1")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "attachment" in response.headers["Content-Disposition"]
        assert "F-2026-004" in text_of(response.data)
        stamped = client.get(f"/invoices/{ids[0]}/pdf?level=2")
        assert "SECOND REMINDER" in text_of(stamped.data)
        assert client.get(f"/invoices/{ids[1]}/pdf").status_code == 404
        assert client.get("/invoices/99999999999/pdf").status_code == 404
    finally:
        clock.set_now(None)
    with app.app_context():
        assert db.session.scalar(select(func.count(PdfCache.id))) == 2
        assert db.session.scalar(select(Invoice.number).where(Invoice.id == ids[1])) == "X-1"
