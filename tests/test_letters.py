"""Letters for the post: refused without a postal address, ready to print until
confirmed, printed as one PDF (each letter on a new sheet), owner-checked."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Account, Reminder

from .factories import make_account, make_client, make_invoice

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture
def owner(app, client, auth):
    auth.register()
    clock.set_now(NOW)
    with app.app_context():
        account = db.session.scalar(select(Account))
        account.address = "12 rue des Lilas\n75011 Paris"
        account.company_number = "812 345 678 00017"
        account.language = "en"  # the pages in English; the letters in each client's language
        db.session.commit()
        ids = {"account": account.id}
        lyon = make_client(
            account, name="Maple Leaf Design", language="fr", address="1 place Bellecour\n69002 Lyon"
        )
        london = make_client(account, name="Thames Ltd", language="en", address="5 Strand\nLondon WC2N 5HR")
        nowhere = make_client(account, name="No Address SAS", language="fr", address="")
        ids["fr"] = make_invoice(account, lyon, number="F-1", issued_on=date(2026, 9, 1)).id
        ids["en"] = make_invoice(account, london, number="F-2", issued_on=date(2026, 9, 1)).id
        ids["none"] = make_invoice(account, nowhere, number="F-3", issued_on=date(2026, 9, 1)).id
    yield ids
    clock.set_now(None)


def _count(app, **where):
    with app.app_context():
        query = select(func.count(Reminder.id))
        for name, value in where.items():
            query = query.where(getattr(Reminder, name) == value)
        return db.session.scalar(query)


def _letter(client, invoice_id, kind="level1", key="k" * 12):
    return client.form(f"/invoices/{invoice_id}/letter", {"kind": kind, "key": key})


def test_a_client_without_postal_address_gets_a_clear_message_and_nothing(app, client, owner):
    response = _letter(client, owner["none"])
    assert response.status_code == 422
    assert "No Address SAS has no postal address" in response.get_data(as_text=True)
    assert _count(app) == 0


def test_a_formal_notice_needs_the_accounts_address(app, client, owner):
    with app.app_context():
        db.session.get(Account, owner["account"]).address = ""
        db.session.commit()
    response = _letter(client, owner["fr"], kind="level4")
    assert response.status_code == 422
    assert "formal notice must show your postal address" in response.get_data(as_text=True)
    assert _count(app) == 0
    assert _letter(client, owner["fr"], kind="level1").status_code == 302  # a plain reminder is fine


def test_letters_wait_ready_to_print_then_print_as_one_pdf_and_are_confirmed(app, client, owner):
    assert _letter(client, owner["fr"], kind="level2", key="a" * 12).status_code == 302
    assert _letter(client, owner["fr"], kind="level2", key="a" * 12).status_code == 302  # double click
    assert _letter(client, owner["en"], kind="level4", key="b" * 12).status_code == 302
    assert _count(app, state="ready_to_print", channel="letter") == 2
    page = client.get("/letters").get_data(as_text=True)
    assert "Maple Leaf Design" in page and "Thames Ltd" in page
    with app.app_context():
        ids = [r.id for r in db.session.scalars(select(Reminder).order_by(Reminder.id))]
    response = client.form("/letters/print", {"reminder": [str(i) for i in ids]})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    texts = pages(response.data)
    # each letter: the letter, then its invoice; the second letter starts on a new sheet (page 3)
    assert len(texts) == 4
    assert (
        "Maple Leaf Design" in texts[0] and "1 place Bellecour" in texts[0] and "Deuxième rappel" in texts[0]
    )
    assert "2e RAPPEL" in texts[1] and "F-1" in texts[1]
    assert "FORMAL NOTICE" in texts[2] and "Thames Ltd" in texts[2] and "5 Strand" in texts[2]
    assert "12 rue des Lilas" in texts[2] and "812 345 678 00017" in texts[2]
    assert "8 days" in texts[2] and "legal proceedings" in texts[2] and "interest" in texts[2]
    assert "FORMAL NOTICE" in texts[3] and "F-2" in texts[3]
    # printing does not send anything; confirming marks them sent by post
    assert _count(app, state="ready_to_print") == 2
    response = client.form("/letters/confirm", {"reminder": [str(ids[0])]})
    assert response.status_code == 302
    assert _count(app, state="sent", reason="post", channel="letter") == 1
    assert _count(app, state="ready_to_print") == 1


def test_empty_selection_and_another_accounts_letters(app, client, owner):
    _letter(client, owner["fr"])
    assert client.form("/letters/print", {}).status_code == 422
    assert client.form("/letters/confirm", {}).status_code == 422
    with app.app_context():
        stranger = make_account()
        theirs = make_invoice(
            stranger, make_client(stranger, address="Somewhere"), issued_on=date(2026, 9, 1)
        )
        db.session.add(
            Reminder(
                key="x-letter",
                account_id=stranger.id,
                client_id=theirs.client_id,
                invoice_id=theirs.id,
                kind="letter",
                channel="letter",
                state="ready_to_print",
                document_kind="level1",
            )
        )
        db.session.commit()
        their_reminder = db.session.scalar(select(Reminder.id).where(Reminder.key == "x-letter"))
    assert client.form("/letters/print", {"reminder": [str(their_reminder)]}).status_code == 404
    assert client.form("/letters/confirm", {"reminder": [str(their_reminder)]}).status_code == 404
    assert _letter(client, theirs.id if False else their_reminder + 1000).status_code == 404
    assert client.form("/letters/print", {"reminder": ["abc"]}).status_code == 400
    assert _count(app, state="ready_to_print") == 2


def test_each_letter_starts_on_a_new_sheet_even_after_an_odd_number_of_pages(app, client, owner):
    from app.models import Invoice, InvoiceLine

    with app.app_context():
        invoice = db.session.get(Invoice, owner["fr"])
        invoice.lines = [
            InvoiceLine(
                position=n,
                description=f"Journée d'atelier n° {n}",
                quantity_milli=1000,
                unit_price_cents=100,
                vat_rate_bp=0,
            )
            for n in range(30)
        ]
        invoice.total_cents = 6000
        db.session.commit()
    _letter(client, owner["fr"], key="c" * 12)
    _letter(client, owner["en"], key="d" * 12)
    with app.app_context():
        ids = [r.id for r in db.session.scalars(select(Reminder).order_by(Reminder.id))]
    texts = pages(client.form("/letters/print", {"reminder": [str(i) for i in ids]}).data)
    second = next(n for n, text in enumerate(texts) if "Thames Ltd" in text and "Hello" in text)
    assert second % 2 == 0  # 0-based even = a front side: a new sheet when printed on both sides
    assert "n° 29" in texts[2]  # the first letter: letter, invoice on two pages…
    assert texts[3].strip() == ""  # …and the back of its last sheet stays blank
    assert second == 4


def test_a_formal_notice_by_email_needs_the_accounts_address_too(app, client, owner):
    with app.app_context():
        db.session.get(Account, owner["account"]).address = ""
        db.session.commit()
    page = client.get(f"/collect/compose?invoice={owner['fr']}").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    data = {"key": key, "invoice": [str(owner["fr"])], "level": "4", "action": "send"}
    response = client.form("/collect/compose", data)
    assert response.status_code == 422
    assert "formal notice must show your postal address" in response.get_data(as_text=True)
    assert _count(app) == 0


def test_a_letter_of_an_invoice_paid_meanwhile_is_neither_printed_nor_posted(app, client, owner):
    from app import invoicing
    from app.models import Invoice

    assert _letter(client, owner["fr"], kind="level2", key="c" * 12).status_code == 302
    with app.app_context():
        (letter_id,) = db.session.scalars(select(Reminder.id)).all()
        invoice = db.session.get(Invoice, owner["fr"])
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 11, 23), "transfer")
        db.session.commit()
        assert invoice.status == "paid"
    assert _count(app, state="cancelled", reason="paid", channel="letter") == 1
    assert "Maple Leaf Design" not in client.get("/letters").get_data(as_text=True)
    response = client.form("/letters/print", {"reminder": [str(letter_id)]})
    assert response.status_code == 422 and response.mimetype != "application/pdf"
    client.form("/letters/confirm", {"reminder": [str(letter_id)]})
    assert _count(app, state="sent") == 0
