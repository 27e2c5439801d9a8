"""Reminder emails carry the money rules (issue 7): bank details, the EPC QR code as
an inline image, the structured communication for Belgian accounts, the fees the law
allows for that client with the explanation, and the link to the client's page.
Real tick, real worker, real SMTP sink; SQLite and PostgreSQL."""

import re

from app import payment
from app.extensions import db
from app.models import Account, Client, FeeCost, Invoice
from app.urls import external_url

from . import test_engine
from .conftest import PASSWORD
from .factories import make_invoice
from .test_engine import CLIENT, at, tick_and_work

setup = test_engine.setup  # owner (FR IBAN), client Atelier Moreau, F-2026-014 €1,234.56 due 4 Dec 2026


def _configure(app, setup, legal=True, iban=None, country="FR", kind="business", costs=()):
    with app.app_context():
        account = db.session.get(Account, setup["account"])
        account.fees_legal = legal
        if iban:
            account.iban = iban
        client = db.session.get(Client, setup["client"])
        client.country, client.kind = country, kind
        for level, fixed in costs:
            db.session.add(FeeCost(account_id=account.id, level=level, fixed_cents=fixed))
        db.session.commit()


def _mail(sink):
    mails = sink.to(CLIENT)
    assert len(mails) == 1, [m["subject"] for m in mails]
    message = mails[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return message, text, html


def _images(message):
    return [part for part in message.walk() if part.get_content_type() == "image/png"]


def test_overdue_reminder_to_a_french_business_has_fees_qr_and_link(app, setup, sink, fixed_now):
    _configure(app, setup, costs=((1, 15_00),))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))  # +3 step
    message, text, html = _mail(sink)
    assert "FR7630006000011234567890189" in text
    assert "Reference: F-2026-014" in text
    # €40 + interest at ECB + 10 points for 3 days (rate past the shipped table: last known 2.15 %)
    assert "Fixed recovery compensation: €40.00" in text
    assert re.search(r"Late-payment interest at 12\.15\u00a0% a year for 3 days: €1\.23", text), text
    assert "Reminder costs: €15.00" in text
    assert "Code de commerce" in text
    assert "not part of the invoice amount" in text
    assert "Balance due: €1,234.56" in text  # the fees are not added to it
    # The client's page, absolute, on the configured site address.
    with app.app_context():
        token = db.session.get(Invoice, setup["invoice"]).public_token
        url = external_url("pay.page", token=token)
    assert token and url.endswith(f"/p/{token}") and url.startswith("http")
    assert url in text and f'href="{url}"' in html
    # The QR code is an inline PNG the HTML points to, with the expected payload.
    assert 'src="cid:epc-qr@relance"' in html
    (image,) = _images(message)
    assert image["Content-ID"] == "<epc-qr@relance>"
    transfer = payment.Transfer(
        _business_name(app, setup), "FR7630006000011234567890189", "", 1_234_56, "F-2026-014"
    )
    assert image.get_content() == payment.qr_png(payment.epc_qr(transfer))


def _business_name(app, setup):
    with app.app_context():
        return db.session.get(Account, setup["account"]).business_name


def test_belgian_account_uses_the_structured_communication(app, setup, sink, fixed_now):
    _configure(app, setup, legal=False, iban="BE71096123456769", country="BE")
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 30))  # -3 step: not due, no fees
    message, text, html = _mail(sink)
    with app.app_context():
        ref = db.session.get(Invoice, setup["invoice"]).structured_ref
    assert payment.is_valid_ogm(ref)
    assert f"Structured communication: {payment.format_ogm(ref)}" in text
    assert "Late-payment costs" not in text
    (image,) = _images(message)
    transfer = payment.Transfer(_business_name(app, setup), "BE71096123456769", "", 1_234_56, ref, True)
    assert image.get_content() == payment.qr_png(payment.epc_qr(transfer))


def test_belgian_consumer_first_reminder_is_free_and_states_the_compensation(app, setup, sink, fixed_now):
    _configure(app, setup, country="BE", kind="consumer", costs=((1, 5_00), (2, 10_00)))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))
    _message, text, _html = _mail(sink)
    assert "This first reminder is free" in text
    # €1,234.56 → €65 + 5 % of €734.56 = €101.73 that would be claimed
    assert "Compensation: €101.73" in text
    assert "Reminder costs" not in text and "Fixed recovery compensation" not in text


def test_second_reminder_inside_the_14_days_carries_no_cost(app, setup, sink, fixed_now):
    _configure(app, setup, country="BE", kind="consumer", costs=((2, 10_00),))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))  # +3, first overdue reminder
    sink.clear()
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 30))  # +7, 4 days later
    _message, text, _html = _mail(sink)
    assert "No cost is charged for this reminder" in text
    assert "€7.50" not in text and "€10.00" not in text


def test_client_without_country_or_type_gets_no_guessed_fee(app, setup, sink, fixed_now, client):
    _configure(app, setup, country="", kind="", costs=((1, 15_00),))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))
    _message, text, _html = _mail(sink)
    assert "Late-payment costs" not in text and "€15.00" not in text and "€40.00" not in text
    # The owner is asked for them on the invoice page.
    client.form("/login", {"email": "owner@example.com", "password": PASSWORD})
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "Set this client&#39;s country and type" in page or "Set this client's country and type" in page


def test_french_consumer_gets_no_fees(app, setup, sink, fixed_now):
    _configure(app, setup, kind="consumer", costs=((1, 15_00),))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))
    _message, text, _html = _mail(sink)
    assert "No fee or compensation is asked of you" in text
    assert "€15.00" not in text and "€40.00" not in text


def test_no_iban_no_qr(app, setup, sink, fixed_now):
    with app.app_context():
        db.session.get(Account, setup["account"]).iban = ""
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 30))
    message, text, html = _mail(sink)
    assert _images(message) == [] and "cid:" not in html
    assert "Please pay with the reference F-2026-014." in text


def test_a_clicked_reminder_for_one_invoice_carries_the_same_block(app, setup, fixed_now):
    from app.models import Reminder
    from app.reminders import sending

    _configure(app, setup, costs=((1, 15_00),))
    fixed_now(at(2026, 12, 7, 10))
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        reminder = Reminder(
            key="manual-test", account_id=setup["account"], client_id=setup["client"], kind="manual", level=1
        )
        reminder.client = invoice.client
        rendered = sending.render_items(reminder, [invoice])
        assert "Fixed recovery compensation: €40.00" in rendered.text
        assert "Reminder costs: €15.00" in rendered.text
        assert f"/p/{invoice.public_token}" in rendered.text
        assert 'src="cid:epc-qr@relance"' in rendered.html
        assert [cid for cid, *_rest in rendered.inline] == ["epc-qr@relance"]
        # Two invoices: the usual bank details, no single QR code.
        other = make_invoice(invoice.account, invoice.client, total_cents=100_00, number="F-2")
        both = sending.render_items(reminder, [invoice, other])
        assert both.inline == [] and "Reference: F-2026-014, F-2" in both.text


def test_each_app_links_the_clients_page_on_its_own_address(tmp_path):
    """The page link is cached per application: two apps of one process (different
    site settings) never get each other's address (a cache keyed by BASE_URL alone did)."""
    from app import create_app
    from app.payinfo import pay_url

    def build(**config):
        database = f"sqlite:///{tmp_path}/a.db"
        return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database, **config})

    first = build(BASE_URL="http://127.0.0.1:5000")
    second = build(BASE_URL="http://127.0.0.1:5000", SERVER_NAME="relance.localhost")
    third = build(BASE_URL="https://pay.example.org")
    links = []
    for app in (first, second, third, first):
        with app.app_context():
            links.append(pay_url(Invoice(public_token="tok")))
    assert links[0] == links[3] and links[0].endswith("/p/tok")
    assert links[2] == "https://pay.example.org/p/tok"
    assert len(set(links[:3])) == 3, links
