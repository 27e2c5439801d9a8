"""Invoices: create and edit (amount or line items), numbering, due dates, tabs, search,
pagination, a constant number of queries per list page, marking sent, voiding, bad input."""

import re
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, func, insert, select

from app.extensions import db
from app.invoicing import record_payment, void
from app.models import Account, Client, Invoice

from .factories import make_account, make_client, make_invoice, register_owner

NOW = "2026-11-23T09:00:00+01:00"  # a Monday, in Paris


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now, NOW)


@pytest.fixture
def moreau(app, owner):
    with app.app_context():
        return make_client(db.session.get(Account, owner), name="Atelier Moreau").id


def form(client_id, /, **fields):
    data = {
        "client_id": str(client_id),
        "number": "F-2026-001",
        "amount": "1234,56",
        "currency": "EUR",
        "issued_on": "2026-11-23",
        "due_on": "",
        "terms_days": "30",
        "payment_method": "transfer",
        "reminders_enabled": "y",
        "notes": "",
    }
    data.update(fields)
    return data


def stored(app, number="F-2026-001"):
    with app.app_context():
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == number))
        if invoice is not None:
            invoice.lines, invoice.client  # noqa: B018 — load them before the session closes
        return invoice


def invoice_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Invoice.id)))


def text(response):
    return response.get_data(as_text=True)


# --- Create ---------------------------------------------------------------------------------


def test_new_invoice_form_suggests_number_and_dates(client, owner, moreau):
    page = text(client.get("/invoices/new"))
    for label in ("Client", "Invoice number", "Amount", "Issue date", "Due date", "Create invoice"):
        assert label in page
    assert 'value="F-2026-001"' in page
    assert 'value="2026-11-23"' in page
    assert 'value="2026-12-23"' in page
    assert "Atelier Moreau" in page


def test_create_invoice_with_an_amount(app, client, owner, moreau):
    response = client.form(
        "/invoices/new", form(moreau, amount="1 234,56", due_on="2026-12-23", terms_days="")
    )
    assert response.status_code == 302
    invoice = stored(app)
    assert response.headers["Location"] == f"/invoices/{invoice.id}"
    assert (invoice.total_cents, invoice.status, invoice.due_on) == (123456, "draft", date(2026, 12, 23))
    assert invoice.terms_days == 30
    assert invoice.lines == []

    page = text(client.get(response.headers["Location"]))
    assert "Invoice F-2026-001 created." in page
    assert "Atelier Moreau" in page
    assert "€1,234.56" in page
    assert "Draft" in page
    assert "due in 30 days" in page
    assert "Dec 23, 2026" in page
    assert "Record payment" in page
    assert "Mark as sent" in page


def test_create_invoice_with_line_items_computes_the_total(app, client, owner, moreau):
    data = form(
        moreau,
        amount="",
        **{
            "lines-0-description": "Logo design",
            "lines-0-quantity": "1",
            "lines-0-unit_price": "600",
            "lines-0-vat_rate": "20",
            "lines-1-description": "Extra days",
            "lines-1-quantity": "1,5",
            "lines-1-unit_price": "400,00",
            "lines-1-vat_rate": "20 %",
            "lines-2-description": "",  # an empty line is ignored
            "lines-2-unit_price": "",
        },
    )
    response = client.form("/invoices/new", data)
    assert response.status_code == 302
    invoice = stored(app)
    assert invoice.total_cents == 144000  # (600 + 1.5 × 400) × 1.2
    assert [
        (li.description, li.quantity_milli, li.unit_price_cents, li.vat_rate_bp) for li in invoice.lines
    ] == [
        ("Logo design", 1000, 60000, 2000),
        ("Extra days", 1500, 40000, 2000),
    ]
    page = text(client.get(f"/invoices/{invoice.id}"))
    assert "€1,440.00" in page
    assert "Logo design" in page and "Extra days" in page


def test_line_items_win_over_a_typed_amount(app, client, owner, moreau):
    data = form(moreau, amount="5", **{"lines-0-description": "Work", "lines-0-unit_price": "100"})
    assert client.form("/invoices/new", data).status_code == 302
    assert stored(app).total_cents == 10000


def test_add_a_line_keeps_what_was_typed(client, owner, moreau):
    data = form(moreau, number="F-2026-042", add_line="Add a line", **{"lines-0-description": "First"})
    response = client.form("/invoices/new", data)
    assert response.status_code == 200
    page = text(response)
    assert 'name="lines-1-description"' in page
    assert 'value="First"' in page and 'value="F-2026-042"' in page


def test_a_new_client_can_be_created_from_the_invoice_form(app, client, owner):
    data = form("new", new_client_name="Café des Arts", new_client_email="Bonjour@Cafe.TEST")
    assert client.form("/invoices/new", data).status_code == 302
    invoice = stored(app)
    assert invoice.client.name == "Café des Arts"
    assert invoice.client.email == "bonjour@cafe.test"
    assert invoice.client.account_id == owner


def test_a_new_client_needs_a_name_and_nothing_is_saved(app, client, owner):
    response = client.form("/invoices/new", form("new", new_client_name=" "))
    assert response.status_code == 422
    assert "Give the new client a name." in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count(Client.id))) == 0
    assert invoice_count(app) == 0


# --- Numbers --------------------------------------------------------------------------------


def suggested(client):
    return re.search(r'name="number"[^>]*value="([^"]*)"', text(client.get("/invoices/new"))).group(1)


def test_number_suggestion_follows_the_highest_of_the_year(app, client, owner, moreau, fixed_now):
    assert suggested(client) == "F-2026-001"
    client.form("/invoices/new", form(moreau))
    assert suggested(client) == "F-2026-002"
    with app.app_context():
        account = db.session.get(Account, owner)
        make_invoice(account, number="F-2026-009")
        make_invoice(account, number="INV-77")  # another scheme does not count
        make_invoice(account, number="F-2025-120")  # nor last year
        other = make_account()
        make_invoice(other, number="F-2026-500")  # nor another account
    assert suggested(client) == "F-2026-010"
    fixed_now("2027-01-02T10:00:00+01:00")
    assert suggested(client) == "F-2027-001"


def test_number_suggestion_uses_the_owner_year_not_utc(client, owner, moreau, fixed_now):
    fixed_now("2026-12-31T23:30:00+00:00")  # already 2027 in Paris
    assert suggested(client) == "F-2027-001"


def test_a_number_is_unique_within_the_account(app, client, owner, moreau):
    assert client.form("/invoices/new", form(moreau)).status_code == 302
    response = client.form("/invoices/new", form(moreau, number="f-2026-001", amount="99"))
    assert response.status_code == 422
    assert 'id="number-error">Another invoice already has this number.</p>' in text(response)
    assert invoice_count(app) == 1


def test_a_number_taken_by_another_tab_meanwhile_is_refused_not_a_crash(app, client, owner, moreau):
    """Two tabs suggest the same number; the other one commits between our check and ours."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite transactions begin IMMEDIATE: the check and the insert cannot interleave")
    raced = []

    def other_tab_commits_first(session, flush_context, instances):
        if raced or not any(isinstance(obj, Invoice) for obj in session.new):
            return
        raced.append(True)
        with engine.begin() as connection:  # its own connection and transaction
            connection.execute(
                insert(Invoice).values(
                    account_id=owner,
                    client_id=moreau,
                    number="F-2026-001",
                    issued_on=date(2026, 11, 23),
                    total_cents=500,
                    status="draft",
                )
            )

    event.listen(db.session, "before_flush", other_tab_commits_first)
    try:
        response = client.form("/invoices/new", form(moreau, amount="777"))
    finally:
        event.remove(db.session, "before_flush", other_tab_commits_first)
    assert raced
    assert response.status_code == 422
    page = text(response)
    assert 'id="number-error">Another invoice already has this number.</p>' in page
    assert 'value="777"' in page, "what was typed is still there"
    with app.app_context():
        totals = db.session.scalars(select(Invoice.total_cents).where(Invoice.number == "F-2026-001")).all()
    assert totals == [500]


def test_another_account_may_use_the_same_number(app, client, owner, moreau):
    with app.app_context():
        other = make_account()
        make_invoice(other, number="F-2026-001")
    assert client.form("/invoices/new", form(moreau)).status_code == 302


# --- Due dates ------------------------------------------------------------------------------


DUE_DATES = [
    # due date typed, terms typed → due date, terms stored, words shown
    ("", "15", date(2026, 12, 8), 15, "due in 15 days"),
    ("", "0", date(2026, 11, 23), 0, "due today"),
    ("2026-12-31", "", date(2026, 12, 31), 38, "due in 38 days"),
    ("2026-12-01", "60", date(2026, 12, 1), 8, "due in 8 days"),  # a typed date wins
    ("", "", None, None, "no due date"),
]


def test_due_date_from_terms(app, client, owner, moreau):
    for n, (due_on, terms, expect_due, expect_terms, words) in enumerate(DUE_DATES, start=1):
        number = f"F-2026-{n:03d}"
        response = client.form("/invoices/new", form(moreau, number=number, due_on=due_on, terms_days=terms))
        assert response.status_code == 302, number
        invoice = stored(app, number)
        assert (invoice.due_on, invoice.terms_days) == (expect_due, expect_terms), number
        page = text(client.get(f"/invoices/{invoice.id}"))
        assert words in page, number
        if expect_due is None:
            assert "No due date" in page


# --- Bad input ------------------------------------------------------------------------------

BAD_INPUT = [
    ({"issued_on": "2026-13-45"}, "issued_on", "Not a valid date value."),
    ({"issued_on": ""}, "issued_on", "This field is required."),
    ({"issued_on": "1999-12-31"}, "issued_on", "Enter a date between 2000 and 2100."),
    ({"due_on": "2026-02-30"}, "due_on", "Not a valid date value."),
    ({"due_on": "9999-12-31"}, "due_on", "Enter a date between 2000 and 2100."),
    ({"issued_on": "2101-01-01"}, "issued_on", "Enter a date between 2000 and 2100."),
    ({"due_on": "2026-11-01"}, "due_on", "The due date cannot be before the issue date."),
    ({"amount": "abc"}, "amount", "This is not a valid amount."),
    ({"amount": "-5"}, "amount", "The amount cannot be negative."),
    ({"amount": "12.345"}, "amount", "Use at most two decimals."),
    ({"amount": ""}, "amount", "Enter the amount, or add line items."),
    ({"amount": "100000000"}, "amount", "This amount is too large."),
    ({"client_id": "99999999"}, "client_id", "Choose a client."),
    ({"client_id": "abc"}, "client_id", "Choose a client."),
    ({"client_id": ""}, "client_id", "Choose a client."),
    ({"client_id": "99999999999999999999"}, "client_id", "Choose a client."),
    ({"number": ""}, "number", "This field is required."),
    ({"number": "   "}, "number", "This field is required."),
    ({"number": "F" * 41}, "number", "Field cannot be longer than 40 characters."),
    ({"terms_days": "-1"}, "terms_days", "Number must be between 0 and 365."),
    ({"terms_days": "abc"}, "terms_days", "Not a valid integer value."),
    ({"currency": "XXX"}, "currency", "Not a valid choice."),
    ({"payment_method": "bitcoin"}, "payment_method", "Not a valid choice."),
    ({"lines-0-description": "Work", "lines-0-unit_price": ""}, "lines-0-unit_price", "Enter a unit price."),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "abc"},
        "lines-0-unit_price",
        "This is not a valid amount.",
    ),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "10", "lines-0-quantity": "x"},
        "lines-0-quantity",
        "Enter a quantity such as 1, 2.5 or 0.125.",
    ),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "10", "lines-0-quantity": "99999999"},
        "lines-0-quantity",
        "This quantity is too large.",
    ),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "10", "lines-0-vat_rate": "abc"},
        "lines-0-vat_rate",
        "Enter a rate such as 20 or 5.5.",
    ),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "10", "lines-0-vat_rate": "150"},
        "lines-0-vat_rate",
        "The rate is between 0 and 100.",
    ),
    (
        {"lines-0-description": "Work", "lines-0-unit_price": "9000000", "lines-0-quantity": "1000"},
        "amount",
        "This amount is too large.",
    ),
]


def test_bad_input_is_refused_next_to_the_field_and_nothing_is_saved(app, client, owner, moreau):
    with app.app_context():
        account = db.session.get(Account, owner)
        make_client(make_account(), name="Stranger")  # another account's client
        stranger_client = db.session.scalar(select(Client.id).where(Client.name == "Stranger"))
        assert account.id == owner
    cases = [*BAD_INPUT, ({"client_id": str(stranger_client)}, "client_id", "Choose a client.")]
    for fields, field_id, message in cases:
        response = client.form("/invoices/new", form(moreau, **fields))
        page = text(response)
        assert response.status_code == 422, (fields, response.status_code)
        assert f'id="{field_id}-error">{message}' in page, (fields, message)
        assert "Please correct the fields marked below." in page
    assert invoice_count(app) == 0


def test_edit_with_bad_input_keeps_the_saved_invoice(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau, amount="500"))
    invoice_id = stored(app).id
    for fields, field_id, message in BAD_INPUT[:12]:
        response = client.form(f"/invoices/{invoice_id}/edit", form(moreau, **fields))
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}' in text(response), fields
    invoice = stored(app)
    assert (invoice.total_cents, invoice.issued_on, invoice.client_id) == (50000, date(2026, 11, 23), moreau)


def test_unknown_or_malformed_invoice_ids_give_404(client, owner):
    for path in (
        "/invoices/99999999",
        "/invoices/99999999/edit",
        "/invoices/abc",
        "/invoices/-3",
        "/invoices/99999999999999999999",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in text(response)
    for action in ("sent", "void", "payments", "edit"):
        assert client.form(f"/invoices/99999999/{action}", {"amount": "1"}).status_code == 404, action


# --- Edit -----------------------------------------------------------------------------------


def test_edit_invoice(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau))
    invoice_id = stored(app).id
    page = text(client.get(f"/invoices/{invoice_id}/edit"))
    assert 'value="F-2026-001"' in page
    assert 'value="1234.56"' in page

    response = client.form(
        f"/invoices/{invoice_id}/edit", form(moreau, amount="2000", due_on="2026-12-01", terms_days="")
    )
    assert response.status_code == 302
    page = text(client.get(f"/invoices/{invoice_id}"))
    assert "Invoice F-2026-001 saved." in page
    assert "€2,000.00" in page
    assert "due in 8 days" in page


def test_edit_shows_and_replaces_line_items(app, client, owner, moreau):
    data = form(moreau, amount="", **{"lines-0-description": "Logo", "lines-0-unit_price": "600"})
    client.form("/invoices/new", data)
    invoice_id = stored(app).id
    page = text(client.get(f"/invoices/{invoice_id}/edit"))
    assert 'value="Logo"' in page and 'value="600.00"' in page
    data = form(
        moreau,
        amount="",
        **{"lines-0-description": "Logo v2", "lines-0-unit_price": "700", "lines-0-quantity": "2"},
    )
    assert client.form(f"/invoices/{invoice_id}/edit", data).status_code == 302
    invoice = stored(app)
    assert invoice.total_cents == 140000
    assert [li.description for li in invoice.lines] == ["Logo v2"]
    # Removing every line brings back the typed amount.
    assert client.form(f"/invoices/{invoice_id}/edit", form(moreau, amount="99")).status_code == 302
    invoice = stored(app)
    assert (invoice.total_cents, invoice.lines) == (9900, [])


def test_edit_cannot_take_another_invoice_number(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau))
    client.form("/invoices/new", form(moreau, number="F-2026-002"))
    second = stored(app, "F-2026-002").id
    response = client.form(f"/invoices/{second}/edit", form(moreau, number="F-2026-001"))
    assert response.status_code == 422
    assert "Another invoice already has this number." in text(response)
    assert stored(app, "F-2026-002") is not None


def test_total_cannot_go_below_what_was_paid(app, client, owner, moreau):
    with app.app_context():
        invoice = make_invoice(
            db.session.get(Account, owner), db.session.get(Client, moreau), total_cents=100000
        )
        record_payment(invoice, 60000, date(2026, 11, 20), "transfer")
        db.session.commit()
        invoice_id, number = invoice.id, invoice.number
    response = client.form(f"/invoices/{invoice_id}/edit", form(moreau, number=number, amount="500"))
    assert response.status_code == 422
    assert "The total cannot be less than what was already paid." in text(response)
    assert stored(app, number).total_cents == 100000


def test_raising_the_total_of_a_paid_invoice_makes_it_due_again(app, client, owner, moreau):
    with app.app_context():
        invoice = make_invoice(
            db.session.get(Account, owner), db.session.get(Client, moreau), total_cents=100000
        )
        record_payment(invoice, 100000, date(2026, 11, 20), "transfer")
        db.session.commit()
        invoice_id, number = invoice.id, invoice.number
    assert stored(app, number).status == "paid"
    client.form(
        f"/invoices/{invoice_id}/edit", form(moreau, number=number, amount="1200", issued_on="2026-11-01")
    )
    invoice = stored(app, number)
    assert (invoice.status, invoice.balance_cents) == ("sent", 20000)


def test_a_void_invoice_cannot_be_edited(app, client, owner, moreau):
    with app.app_context():
        invoice = make_invoice(db.session.get(Account, owner), db.session.get(Client, moreau), sent=False)
        void(invoice)
        db.session.commit()
        invoice_id = invoice.id
    response = client.get(f"/invoices/{invoice_id}/edit")
    assert response.status_code == 302
    assert "A void invoice cannot be edited." in text(client.get(f"/invoices/{invoice_id}"))
    client.form(f"/invoices/{invoice_id}/edit", form(moreau, amount="1"))
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).total_cents == 10000


# --- Mark as sent, void ---------------------------------------------------------------------


def test_mark_as_sent(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau, issued_on="2026-11-20"))
    invoice_id = stored(app).id
    response = client.form(f"/invoices/{invoice_id}/sent", {"via": "post", "sent_on": "2026-11-21"})
    assert response.status_code == 302
    page = text(client.get(f"/invoices/{invoice_id}"))
    assert "Invoice marked as sent." in page
    assert "Nov 21, 2026 · by post" in page
    invoice = stored(app)
    assert invoice.status == "sent"
    assert invoice.sent_at.isoformat() == "2026-11-21T08:00:00+00:00"  # 09:00 in Paris
    assert "F-2026-001" in text(client.get("/invoices/?tab=sent"))


MARK_SENT_BAD_INPUT = [
    ({"via": "post", "sent_on": "2026-11-24"}, "sent_on", "The date cannot be in the future."),
    ({"via": "post", "sent_on": "2026-11-19"}, "sent_on", "The date cannot be before the issue date."),
    ({"via": "post", "sent_on": "2026-13-45"}, "sent_on", "Not a valid date value."),
    ({"via": "carrier pigeon", "sent_on": "2026-11-23"}, "via", "Not a valid choice."),
    ({"via": "email_relance", "sent_on": "2026-11-23"}, "via", "Not a valid choice."),
]


def test_mark_as_sent_refuses_bad_input(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau, issued_on="2026-11-20"))
    invoice_id = stored(app).id
    for fields, field_id, message in MARK_SENT_BAD_INPUT:
        response = client.form(f"/invoices/{invoice_id}/sent", fields)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}' in text(response), fields
    assert stored(app).status == "draft"


def test_void_an_invoice(app, client, owner, moreau):
    client.form("/invoices/new", form(moreau))
    invoice_id = stored(app).id
    assert client.post(f"/invoices/{invoice_id}/void").status_code == 400
    assert stored(app).status == "draft"
    response = client.form(f"/invoices/{invoice_id}/void")
    assert response.status_code == 302
    page = text(client.get(f"/invoices/{invoice_id}"))
    assert "Invoice F-2026-001 is void." in page
    assert "Record payment" not in page
    assert stored(app).status == "void"
    assert "F-2026-001" not in text(client.get("/invoices/?tab=draft"))


def test_an_invoice_with_payments_cannot_be_voided(app, client, owner, moreau):
    with app.app_context():
        invoice = make_invoice(db.session.get(Account, owner), db.session.get(Client, moreau))
        record_payment(invoice, 1000, date(2026, 11, 20), "transfer")
        db.session.commit()
        invoice_id, number = invoice.id, invoice.number
    client.form(f"/invoices/{invoice_id}/void")
    assert "delete them before voiding it" in text(client.get(f"/invoices/{invoice_id}"))
    assert stored(app, number).status == "sent"


# --- Tabs, search, pagination ---------------------------------------------------------------


@pytest.fixture
def every_state(app, owner):
    """One invoice per state; numbers name the state, for readable assertions."""
    with app.app_context():
        account = db.session.get(Account, owner)
        moreau = make_client(account, name="Atelier Moreau")
        dubois = make_client(account, name="Claire Dubois")

        def inv(number, client=moreau, **fields):
            return make_invoice(account, client, number=number, **fields)

        inv("DRAFT-1", sent=False, issued_on=date(2026, 10, 1), due_on=date(2026, 10, 31))
        inv("SENT-LATER", dubois, issued_on=date(2026, 11, 20), due_on=date(2026, 12, 20))
        inv("SENT-TODAY", issued_on=date(2026, 10, 24), due_on=date(2026, 11, 23))
        inv("SENT-NODUE", dubois, due_on=None)
        inv("LATE-5", dubois, issued_on=date(2026, 10, 19), due_on=date(2026, 11, 18))
        partial = inv("LATE-PART", issued_on=date(2026, 10, 1), due_on=date(2026, 10, 31), total_cents=100000)
        record_payment(partial, 40000, date(2026, 11, 2), "transfer")
        paid = inv("PAID-1", dubois, issued_on=date(2026, 10, 1), due_on=date(2026, 10, 31))
        record_payment(paid, paid.total_cents, date(2026, 11, 2), "transfer")
        gone = inv("VOID-1", sent=False)
        void(gone)
        db.session.commit()


ALL = {"DRAFT-1", "SENT-LATER", "SENT-TODAY", "SENT-NODUE", "LATE-5", "LATE-PART", "PAID-1", "VOID-1"}


def numbers_on(page):
    return {n for n in ALL if n in page}


TABS = {
    "all": ALL,
    "draft": {"DRAFT-1"},
    "sent": {"SENT-LATER", "SENT-TODAY", "SENT-NODUE", "LATE-5", "LATE-PART"},
    "overdue": {"LATE-5", "LATE-PART"},
    "paid": {"PAID-1"},
    "bogus": ALL,
}


def test_tabs(client, every_state):
    for tab, expected in TABS.items():
        response = client.get(f"/invoices/?tab={tab}")
        assert response.status_code == 200
        assert numbers_on(text(response)) == expected, tab


def test_list_rows_show_client_balance_and_due_state(client, every_state):
    page = text(client.get("/invoices/"))
    for words in (
        "5 days overdue",
        "23 days overdue",
        "due today",
        "due in 27 days",
        "no due date",
        "paid",
        "void",
    ):
        assert words in page, words
    assert "€600.00" in page  # balance of the partly paid invoice
    assert "Atelier Moreau" in page and "Claire Dubois" in page
    overdue = text(client.get("/invoices/?tab=overdue"))
    assert overdue.index("LATE-PART") < overdue.index("LATE-5"), "the oldest due date comes first"


def test_htmx_gets_only_the_list(client, every_state):
    response = client.get("/invoices/?tab=paid", headers={"HX-Request": "true"})
    page = text(response)
    assert "<html" not in page
    assert numbers_on(page) == {"PAID-1"}
    assert "HX-Request" in response.headers["Vary"]


SEARCHES = {
    "late-": {"LATE-5", "LATE-PART"},
    "LaTe-5": {"LATE-5"},
    "dubois": {"SENT-LATER", "SENT-NODUE", "LATE-5", "PAID-1"},
    "ATELIER": {"DRAFT-1", "SENT-TODAY", "LATE-PART", "VOID-1"},
    "%": set(),
    "_": set(),
    "  paid-1  ": {"PAID-1"},
}


def test_search_by_number_or_client(client, every_state):
    for query, expected in SEARCHES.items():
        page = text(client.get("/invoices/", query_string={"q": query}))
        assert numbers_on(page) == expected, query
        if not expected:
            assert "No invoice matches" in page
    page = text(client.get("/invoices/", query_string={"q": "dubois", "tab": "overdue"}))
    assert numbers_on(page) == {"LATE-5"}


def test_pagination(app, client, owner):
    app.config["INVOICES_PER_PAGE"] = 5
    with app.app_context():
        account = db.session.get(Account, owner)
        moreau = make_client(account, name="Atelier Moreau")
        for n in range(1, 13):
            make_invoice(account, moreau, number=f"P-{n:03d}", issued_on=date(2026, 11, n))
    first = text(client.get("/invoices/"))
    assert "Page 1 of 3" in first
    assert [f"P-{n:03d}" in first for n in range(12, 0, -1)] == [True] * 5 + [False] * 7
    assert "Next" in first and "Previous" not in first
    last = text(client.get("/invoices/?page=3"))
    assert "Page 3 of 3" in last
    assert {f"P-{n:03d}" for n in range(1, 13) if f"P-{n:03d}" in last} == {"P-001", "P-002"}
    assert "Previous" in last and "Next" not in last


def test_malformed_or_missing_pages(client, owner, moreau):
    client.form("/invoices/new", form(moreau))
    for page, status in (("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("99", 404), ("1", 200)):
        assert client.get(f"/invoices/?page={page}").status_code == status, page


def test_an_empty_account_is_invited_to_create_an_invoice(client, owner):
    page = text(client.get("/invoices/"))
    assert "No invoice yet." in page
    assert "Create your first invoice" in page
    assert "No overdue invoice. Nice!" in text(client.get("/invoices/?tab=overdue"))


# --- A constant number of queries per page --------------------------------------------------


@contextmanager
def counting_queries(app):
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def fill(app, owner, first, last):
    """Invoices in every state, each with its own client, some paid in part."""
    with app.app_context():
        account = db.session.get(Account, owner)
        for n in range(first, last):
            client = Client(account_id=account.id, name=f"Client {n:03d}", email=f"c{n}@example.com")
            db.session.add(client)
            invoice = make_invoice(
                account,
                client,
                number=f"Q-{n:04d}",
                issued_on=date(2026, 9, 1 + n % 28),
                due_on=date(2026, 10 + n % 3, 1 + n % 27),
                sent=n % 5 != 0,
                total_cents=10000 + n,
            )
            if n % 4 == 1:
                record_payment(invoice, 5000, date(2026, 11, 1), "transfer")
            if n % 7 == 3:
                record_payment(invoice, invoice.balance_cents, date(2026, 11, 2), "transfer")
        db.session.commit()


PAGES = [
    "/invoices/",
    "/invoices/?tab=sent",
    "/invoices/?tab=overdue",
    "/invoices/?tab=paid",
    "/invoices/?tab=draft",
    "/invoices/?q=client",
    "/invoices/?page=2",
    "/clients/",
    "/today",
]


def queries_per_page(app, client):
    counts = {}
    for path in PAGES:
        with counting_queries(app) as statements:
            assert client.get(path).status_code == 200
        counts[path] = len(statements)
    return counts


def test_list_pages_run_the_same_number_of_queries_for_5_or_60_invoices(app, client, owner):
    app.config["INVOICES_PER_PAGE"] = 4
    fill(app, owner, 0, 5)
    few = queries_per_page(app, client)
    fill(app, owner, 5, 60)
    many = queries_per_page(app, client)
    assert many == few
    assert max(few.values()) < 20


def test_nul_bytes_are_dropped_not_a_500(app, client, owner, moreau):
    data = form(
        moreau,
        number="F-2026-\x00001",
        notes="x\x00y",
        **{"lines-0-description": "Lo\x00go", "lines-0-unit_price": "10"},
    )
    assert client.form("/invoices/new", data).status_code == 302
    invoice = stored(app)
    assert (invoice.notes, invoice.lines[0].description) == ("xy", "Logo")
    page = text(client.get("/invoices/", query_string={"q": "F-2026\x00"}))
    assert "F-2026-001" in page
