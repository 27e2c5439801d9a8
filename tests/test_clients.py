"""Clients: create, edit, list with open balance and overdue count, detail, delete, bad input."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, Client

from .factories import make_client, make_invoice, register_owner

VALID = {
    "name": "Atelier Moreau",
    "email": "compta@moreau.test",
    "language": "fr",
    "country": "FR",
    "kind": "business",
}


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now)


def clients_of(app, account_id):
    with app.app_context():
        return db.session.scalars(
            select(Client).where(Client.account_id == account_id).order_by(Client.id)
        ).all()


def test_new_client_form_has_the_labels(client, owner):
    page = client.get("/clients/new").get_data(as_text=True)
    for label in ("Name", "Email", "Language", "Save client"):
        assert label in page


def test_create_client_and_see_it(app, client, owner):
    response = client.form(
        "/clients/new",
        {**VALID, "email": "  Compta@Moreau.TEST ", "address": "1 rue X\n75001 Paris", "notes": "Pays late"},
    )
    assert response.status_code == 302
    [stored] = clients_of(app, owner)
    assert response.headers["Location"] == f"/clients/{stored.id}"
    assert stored.email == "compta@moreau.test"
    assert stored.language == "fr"

    page = client.get(f"/clients/{stored.id}").get_data(as_text=True)
    assert "Client Atelier Moreau added." in page
    assert "compta@moreau.test" in page
    assert "Français" in page
    assert "1 rue X\n75001 Paris" in page
    assert "No invoice for this client yet." in page
    assert "Atelier Moreau" in client.get("/clients/").get_data(as_text=True)


def test_a_client_without_email_is_allowed_and_flagged(app, client, owner):
    response = client.form("/clients/new", {**VALID, "name": "Cabinet Roussel", "email": ""})
    assert response.status_code == 302
    [stored] = clients_of(app, owner)
    assert stored.email is None
    assert "No email: reminders cannot be emailed to this client." in client.get(
        f"/clients/{stored.id}"
    ).get_data(as_text=True)
    assert "No email: letters only" in client.get("/clients/").get_data(as_text=True)


CLIENT_BAD_INPUT = [
    ({"name": ""}, "name", "This field is required."),
    ({"name": "   "}, "name", "This field is required."),
    ({"name": "x" * 201}, "name", "Field cannot be longer than 200 characters."),
    ({"email": "compta@"}, "email", "Enter an email address such as name@example.com."),
    # email_validator takes it (SMTPUTF8), our mail cannot carry it: refused here, not at send time.
    ({"email": "élise@atelier-moreau.fr"}, "email", "Enter an email address such as name@example.com."),
    ({"language": "xx"}, "language", "Not a valid choice."),
    ({"country": "ZZ"}, "country", "Not a valid choice."),
    ({"kind": "alien"}, "kind", "Not a valid choice."),
]


def test_create_client_refuses_bad_input_next_to_the_field(app, client, owner):
    for fields, field_id, message in CLIENT_BAD_INPUT:
        response = client.form("/clients/new", {**VALID, **fields})
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}</p>' in response.get_data(as_text=True), fields
    assert clients_of(app, owner) == []


def test_edit_client(app, client, owner):
    with app.app_context():
        stored = make_client(db.session.get(Account, owner), name="Atelier Moreau")
        client_id = stored.id
    page = client.get(f"/clients/{client_id}/edit").get_data(as_text=True)
    assert 'value="Atelier Moreau"' in page

    response = client.form(
        f"/clients/{client_id}/edit",
        {**VALID, "name": "Atelier Moreau & Fils", "language": "en", "reminders_paused": "y"},
    )
    assert response.status_code == 302
    page = client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Atelier Moreau &amp; Fils" in page
    assert "English" in page
    assert "Paused" in page


def test_edit_client_with_bad_input_keeps_the_saved_client(app, client, owner):
    with app.app_context():
        client_id = make_client(
            db.session.get(Account, owner), name="Atelier Moreau", email="a@moreau.test"
        ).id
    response = client.form(f"/clients/{client_id}/edit", {**VALID, "name": "New name", "email": "broken@"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="broken@"' in page, "what was typed stays in the form"
    [stored] = clients_of(app, owner)
    assert (stored.name, stored.email) == ("Atelier Moreau", "a@moreau.test")


def test_list_shows_open_balance_and_overdue_count(app, client, owner):
    with app.app_context():
        account = db.session.get(Account, owner)
        moreau = make_client(account, name="Atelier Moreau")
        make_invoice(
            account, moreau, total_cents=100000, issued_on=date(2026, 10, 1), due_on=date(2026, 10, 31)
        )
        make_invoice(
            account, moreau, total_cents=23456, issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1)
        )
        make_invoice(
            account,
            moreau,
            total_cents=50000,
            currency="CAD",
            issued_on=date(2026, 10, 1),
            due_on=date(2026, 11, 1),
        )
        make_invoice(account, moreau, total_cents=99999, sent=False)  # a draft is not owed yet
        paid = make_client(account, name="Zebra Paid")
        invoice = make_invoice(account, paid, total_cents=1000)
        from app.invoicing import record_payment

        record_payment(invoice, 1000, date(2026, 11, 20), "transfer")
        db.session.commit()

    page = client.get("/clients/").get_data(as_text=True)
    moreau_row, zebra_row = page.split("Atelier Moreau", 1)[1].split("Zebra Paid", 1)
    assert "€1,234.56" in moreau_row
    assert "CA$500.00" in moreau_row
    assert "2 overdue" in moreau_row
    assert "Nothing due" in zebra_row
    assert "overdue" not in zebra_row


def test_client_search(app, client, owner):
    with app.app_context():
        account = db.session.get(Account, owner)
        make_client(account, name="Atelier Moreau")
        make_client(account, name="Boulangerie Lefèvre")
        make_client(account, name="100% Design")
    page = client.get("/clients/?q=moreau").get_data(as_text=True)
    assert "Atelier Moreau" in page and "Boulangerie" not in page
    page = client.get("/clients/?q=LEFÈVRE").get_data(as_text=True)
    assert "Boulangerie Lefèvre" in page
    page = client.get("/clients/?q=%25").get_data(as_text=True)
    assert "100% Design" in page and "Atelier Moreau" not in page
    page = client.get("/clients/?q=nobody").get_data(as_text=True)
    assert "No client matches “nobody”." in page
    partial = client.get("/clients/?q=moreau", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Atelier Moreau" in partial and "<html" not in partial


def test_client_detail_lists_their_invoices_and_balance(app, client, owner):
    with app.app_context():
        account = db.session.get(Account, owner)
        moreau = make_client(account, name="Atelier Moreau")
        make_invoice(
            account,
            moreau,
            number="F-2026-001",
            total_cents=40000,
            issued_on=date(2026, 10, 19),
            due_on=date(2026, 11, 18),
        )
        make_invoice(
            account,
            moreau,
            number="F-2026-002",
            total_cents=10000,
            issued_on=date(2026, 11, 20),
            due_on=date(2026, 11, 26),
        )
        make_invoice(account, make_client(account, name="Other"), number="F-2026-003")
        client_id = moreau.id
    page = client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "F-2026-001" in page and "F-2026-002" in page
    assert "F-2026-003" not in page
    assert "€500.00" in page
    assert "5 days overdue" in page
    assert "due in 3 days" in page


def test_delete_a_client_without_invoices(app, client, owner):
    with app.app_context():
        client_id = make_client(db.session.get(Account, owner), name="Typo Client").id
    response = client.form(f"/clients/{client_id}/delete")
    assert response.status_code == 302
    assert "Client deleted." in client.get("/clients/").get_data(as_text=True)
    assert clients_of(app, owner) == []
    assert client.get(f"/clients/{client_id}").status_code == 404


def test_a_client_with_invoices_cannot_be_deleted(app, client, owner):
    with app.app_context():
        account = db.session.get(Account, owner)
        client_id = make_invoice(account, make_client(account, name="Atelier Moreau")).client_id
    response = client.form(f"/clients/{client_id}/delete")
    assert response.status_code == 302
    page = client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "This client has invoices" in page
    assert len(clients_of(app, owner)) == 1


def test_delete_needs_the_token(app, client, owner):
    with app.app_context():
        client_id = make_client(db.session.get(Account, owner)).id
    assert client.post(f"/clients/{client_id}/delete").status_code == 400
    assert len(clients_of(app, owner)) == 1


UNKNOWN_OR_MALFORMED = [
    ("get", "/clients/99999999"),
    ("get", "/clients/99999999/edit"),
    ("post", "/clients/99999999/edit"),
    ("post", "/clients/99999999/delete"),
    ("get", "/clients/abc"),
    ("get", "/clients/-1"),
    ("get", "/clients/1.5"),
    ("get", "/clients/99999999999999999999999"),
    ("get", "/invoices/new?client_id=99999999"),
    ("get", "/invoices/new?client_id=99999999999999999999999"),
]


def test_malformed_or_unknown_ids_give_404(client, owner):
    for method, path in UNKNOWN_OR_MALFORMED:
        response = client.get(path) if method == "get" else client.form(path, VALID)
        assert response.status_code == 404, path
        assert "Page not found" in response.get_data(as_text=True), path


def test_new_invoice_for_a_client_preselects_it(app, client, owner):
    with app.app_context():
        client_id = make_client(db.session.get(Account, owner), name="Atelier Moreau").id
    page = client.get(f"/invoices/new?client_id={client_id}").get_data(as_text=True)
    assert f'<option selected value="{client_id}">Atelier Moreau</option>' in page


def test_client_count_is_unchanged_by_a_refused_form(app, client, owner):
    client.form("/clients/new", {**VALID, "email": "nope"})
    with app.app_context():
        assert db.session.scalar(select(func.count(Client.id))) == 0


def test_nul_bytes_are_dropped_not_a_500(app, client, owner):
    # PostgreSQL refuses NUL bytes in text: a pasted one must not break the page.
    response = client.form("/clients/new", {**VALID, "name": "Atelier\x00 Moreau", "notes": "a\x00b"})
    assert response.status_code == 302
    [stored] = clients_of(app, owner)
    assert (stored.name, stored.notes) == ("Atelier Moreau", "ab")
    assert client.get("/clients/", query_string={"q": "Atelier\x00"}).status_code == 200
