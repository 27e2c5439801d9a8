"""Payments: partial and full, overpayment refused, edit and delete restore the status,
amounts as people type them, bad input."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.invoicing import record_payment
from app.models import Account, Invoice, Payment

from .factories import make_client, make_invoice, register_owner


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now)


@pytest.fixture
def new_invoice(app, owner):
    """Make an invoice of the owner: ``new_invoice(total_cents=…, sent=…)`` → its id."""

    def make(**fields):
        with app.app_context():
            account = db.session.get(Account, owner)
            fields.setdefault("issued_on", date(2026, 11, 1))
            return make_invoice(account, make_client(account, name="Atelier Moreau"), **fields).id

    return make


def pay(client, invoice_id, amount, paid_on="2026-11-20", htmx=False, **fields):
    data = {"amount": amount, "paid_on": paid_on, "method": "transfer", "reference": "", **fields}
    return client.form(f"/invoices/{invoice_id}/payments", data, htmx=htmx)


def load(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        invoice.payments  # noqa: B018 — load them before the session closes
        return invoice


def page(client, invoice_id):
    return client.get(f"/invoices/{invoice_id}").get_data(as_text=True)


def test_payment_form_has_the_labels(client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    html = page(client, invoice_id)
    for label in ("Amount", "Payment date", "Record payment"):
        assert label in html
    assert 'value="1000.00"' in html, "the balance is offered as the amount"
    assert 'value="2026-11-23"' in html, "today is offered as the date"


def test_partial_payment_reduces_the_balance(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    response = pay(client, invoice_id, "400", reference="VIR 42")
    assert response.status_code == 302
    html = page(client, invoice_id)
    assert "Payment recorded." in html
    assert "€600.00" in html  # balance
    assert "€400.00" in html  # the payment in the list
    assert "VIR 42" in html
    invoice = load(app, invoice_id)
    assert (invoice.status, invoice.paid_cents, invoice.balance_cents) == ("sent", 40000, 60000)
    assert "Record payment" in html, "more can be paid"


def test_full_payment_makes_the_invoice_paid(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    pay(client, invoice_id, "400")
    response = pay(client, invoice_id, "600,00")
    assert response.status_code == 302
    html = page(client, invoice_id)
    assert "Payment recorded: the invoice is paid in full." in html
    assert "€0.00" in html
    assert load(app, invoice_id).status == "paid"
    number = load(app, invoice_id).number
    assert number in client.get("/invoices/?tab=paid").get_data(as_text=True)
    assert number not in client.get("/invoices/?tab=sent").get_data(as_text=True)
    assert 'id="record-payment"' not in html


def test_a_draft_can_be_paid_and_stays_out_of_sent(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=5000, sent=False)
    pay(client, invoice_id, "50")
    assert load(app, invoice_id).status == "paid"


def test_overpayment_is_refused_with_a_message(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    for amount in ("1000,01", "1 000.01", "2000"):
        response = pay(client, invoice_id, amount)
        assert response.status_code == 422, amount
        html = response.get_data(as_text=True)
        assert 'id="amount-error">This is more than the balance due on this invoice.</p>' in html
        assert f'value="{amount}"' in html, "what was typed stays in the field"
    invoice = load(app, invoice_id)
    assert (invoice.paid_cents, invoice.status, invoice.payments) == (0, "sent", [])


def test_overpayment_by_htmx_gets_the_form_fragment(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    response = pay(client, invoice_id, "1500", htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'id="record-payment"' in html
    assert "This is more than the balance due on this invoice." in html


def test_htmx_payment_redirects_the_whole_page(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    response = pay(client, invoice_id, "100", htmx=True)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/invoices/{invoice_id}"
    assert load(app, invoice_id).paid_cents == 10000


def test_amounts_are_read_as_people_type_them(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=1_000_000)
    for typed, cents in (("1234,56", 123456), ("1 234.56", 123456), ("1234", 123400), ("0,5", 50)):
        response = pay(client, invoice_id, typed)
        assert response.status_code == 302, typed
        assert load(app, invoice_id).payments[-1].amount_cents == cents, typed
    payments = page(client, invoice_id).split("<h2>Payments</h2>")[1].split("</section>")[0]
    assert payments.count("€1,234.56") == 2
    assert "€1,234.00" in payments
    assert load(app, invoice_id).paid_cents == 123456 * 2 + 123400 + 50


BAD = [
    ({"amount": "-5"}, "amount", "The amount cannot be negative."),
    ({"amount": "12.345"}, "amount", "Use at most two decimals."),
    ({"amount": "1,234"}, "amount", "Use at most two decimals."),
    ({"amount": "abc"}, "amount", "This is not a valid amount."),
    ({"amount": ""}, "amount", "Enter an amount."),
    ({"amount": "0"}, "amount", "The amount must be more than zero."),
    ({"amount": "99999999999"}, "amount", "This amount is too large."),
    ({"paid_on": "9999-12-31"}, "paid_on", "Enter a date between 2000 and 2100."),
    ({"paid_on": "1970-01-01"}, "paid_on", "Enter a date between 2000 and 2100."),
    ({"paid_on": "2026-13-45"}, "paid_on", "Not a valid date value."),
    ({"paid_on": ""}, "paid_on", "This field is required."),
    ({"method": "bitcoin"}, "method", "Not a valid choice."),
    ({"reference": "x" * 141}, "reference", "Field cannot be longer than 140 characters."),
]


def test_bad_payments_are_refused_next_to_the_field(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000)
    for fields, field_id, message in BAD:
        data = {"amount": "10", "paid_on": "2026-11-20", "method": "transfer", **fields}
        response = client.form(f"/invoices/{invoice_id}/payments", data)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}' in response.get_data(as_text=True), fields
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_a_paid_invoice_explains_why_it_takes_no_more(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=5000)
    pay(client, invoice_id, "50")
    response = pay(client, invoice_id, "1")
    assert response.status_code == 422
    assert "This is more than the balance due on this invoice." in response.get_data(as_text=True)
    assert load(app, invoice_id).paid_cents == 5000


def test_a_void_invoice_takes_no_payment(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=100000, sent=False)
    client.form(f"/invoices/{invoice_id}/void")
    response = pay(client, invoice_id, "10")
    assert response.status_code == 422
    assert "This invoice is void: it cannot receive payments." in response.get_data(as_text=True)
    assert load(app, invoice_id).payments == []


# --- Edit and delete ------------------------------------------------------------------------


@pytest.fixture
def paid_invoice(app, new_invoice):
    """A sent invoice of 1,000.00 paid with 400 + 600: (invoice id, [payment ids])."""
    invoice_id = new_invoice(total_cents=100000)
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        first = record_payment(invoice, 40000, date(2026, 11, 10), "transfer", "first")
        second = record_payment(invoice, 60000, date(2026, 11, 20), "card", "second")
        db.session.commit()
        assert invoice.status == "paid"
        return invoice_id, [first.id, second.id]


def test_edit_payment_page(client, paid_invoice):
    invoice_id, (first, _second) = paid_invoice
    html = client.get(f"/invoices/{invoice_id}/payments/{first}/edit").get_data(as_text=True)
    assert 'value="400.00"' in html
    assert 'value="2026-11-10"' in html
    assert 'value="first"' in html
    assert "Delete payment" in html


def test_lowering_a_payment_makes_the_invoice_due_again(app, client, paid_invoice):
    invoice_id, (first, _second) = paid_invoice
    data = {"amount": "300", "paid_on": "2026-11-11", "method": "cash", "reference": "changed"}
    response = client.form(f"/invoices/{invoice_id}/payments/{first}/edit", data)
    assert response.status_code == 302
    invoice = load(app, invoice_id)
    assert (invoice.status, invoice.balance_cents) == ("sent", 10000)
    html = page(client, invoice_id)
    assert "Payment saved." in html
    assert "€100.00" in html
    assert "changed" in html


def test_editing_a_payment_beyond_the_total_is_refused(app, client, paid_invoice):
    invoice_id, (first, _second) = paid_invoice
    data = {"amount": "400,01", "paid_on": "2026-11-10", "method": "transfer"}
    response = client.form(f"/invoices/{invoice_id}/payments/{first}/edit", data)
    assert response.status_code == 422
    assert "This is more than the balance due on this invoice." in response.get_data(as_text=True)
    invoice = load(app, invoice_id)
    assert (invoice.status, invoice.paid_cents) == ("paid", 100000)


def test_editing_a_payment_with_garbage_is_refused(app, client, paid_invoice):
    invoice_id, (first, _second) = paid_invoice
    for fields, field_id, message in BAD:
        data = {"amount": "10", "paid_on": "2026-11-20", "method": "transfer", **fields}
        response = client.form(f"/invoices/{invoice_id}/payments/{first}/edit", data)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}' in response.get_data(as_text=True), fields
    assert [p.amount_cents for p in load(app, invoice_id).payments] == [40000, 60000]


def test_deleting_a_payment_restores_the_balance(app, client, paid_invoice):
    invoice_id, (first, second) = paid_invoice
    assert client.post(f"/invoices/{invoice_id}/payments/{second}/delete").status_code == 400
    response = client.form(f"/invoices/{invoice_id}/payments/{second}/delete")
    assert response.status_code == 302
    invoice = load(app, invoice_id)
    assert (invoice.status, invoice.paid_cents, invoice.balance_cents) == ("sent", 40000, 60000)
    html = page(client, invoice_id)
    assert "Payment deleted." in html
    assert "€600.00" in html
    client.form(f"/invoices/{invoice_id}/payments/{first}/delete")
    assert load(app, invoice_id).payments == []
    assert client.get(f"/invoices/{invoice_id}/payments/{first}/edit").status_code == 404


def test_deleting_the_payment_of_a_draft_brings_back_the_draft(app, client, new_invoice):
    invoice_id = new_invoice(total_cents=5000, sent=False)
    pay(client, invoice_id, "50")
    payment_id = load(app, invoice_id).payments[0].id
    client.form(f"/invoices/{invoice_id}/payments/{payment_id}/delete")
    assert load(app, invoice_id).status == "draft"


def test_a_payment_belongs_to_its_invoice(app, client, paid_invoice, new_invoice):
    invoice_id, (first, _second) = paid_invoice
    other = new_invoice(total_cents=100)
    assert client.get(f"/invoices/{other}/payments/{first}/edit").status_code == 404
    assert client.form(f"/invoices/{other}/payments/{first}/delete").status_code == 404
    assert len(load(app, invoice_id).payments) == 2


UNKNOWN_PAYMENT_PATHS = [
    ("post", "/invoices/99999999/payments"),
    ("get", "/invoices/{invoice}/payments/99999999/edit"),
    ("post", "/invoices/{invoice}/payments/99999999/edit"),
    ("post", "/invoices/{invoice}/payments/99999999/delete"),
    ("get", "/invoices/{invoice}/payments/abc/edit"),
    ("get", "/invoices/{invoice}/payments/99999999999999999999/edit"),
]


def test_unknown_payment_ids_give_404(client, paid_invoice):
    for method, path in UNKNOWN_PAYMENT_PATHS:
        path = path.format(invoice=paid_invoice[0])
        response = client.get(path) if method == "get" else client.form(path, {"amount": "1"})
        assert response.status_code == 404, path
