"""Settings → Account: change password and email, export my data, delete my account."""

import csv
import io
import zipfile
from datetime import date

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app.extensions import db
from app.invoicing import LineInput, record_payment, set_lines
from app.models import Account, Client, Event, Invoice, InvoiceLine, Payment

from .conftest import PASSWORD
from .factories import make_account, make_client, make_invoice

NEW_PASSWORD = "another long secret"


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth):
    auth.register()
    with app.app_context():
        return db.session.scalar(select(Account.id).where(Account.email == "owner@example.com"))


def other_session(app, email="owner@example.com", password=PASSWORD):
    session = app.test_client()
    session.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = session.form("/login", {"email": email, "password": password})
    assert response.status_code == 302
    return session


def test_account_page_shows_the_four_actions(client, owner):
    page = client.get("/settings/account").get_data(as_text=True)
    for text in ("Change password", "Change email", "Export my data", "Delete my account"):
        assert text in page
    assert "You log in with owner@example.com." in page


# --- Password -----------------------------------------------------------------------------


def test_change_password_keeps_this_session_and_ends_the_others(app, client, auth, owner):
    phone = other_session(app)
    response = client.form("/settings/account/password", {"current": PASSWORD, "password": NEW_PASSWORD})
    assert response.status_code == 302
    page = client.get("/settings/account").get_data(as_text=True)
    assert "Password changed. Your other sessions are logged out." in page
    assert phone.get("/today").status_code == 302

    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 422
    assert auth.login(password=NEW_PASSWORD).status_code == 302


PASSWORD_BAD_INPUT = [
    (
        {"current": "wrong password", "password": NEW_PASSWORD},
        "current",
        "This is not your current password.",
    ),
    ({"current": PASSWORD, "password": "short"}, "password", "Use at least 8 characters."),
    ({"current": "", "password": NEW_PASSWORD}, "current", "This field is required."),
]


def test_change_password_refuses_with_the_reason_next_to_the_field(client, auth, owner):
    for fields, field_id, message in PASSWORD_BAD_INPUT:
        response = client.form("/settings/account/password", fields)
        assert response.status_code == 422, fields
        assert f'<p class="error" id="{field_id}-error">{message}</p>' in response.get_data(as_text=True)
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 302


# --- Email --------------------------------------------------------------------------------


def test_change_email_changes_the_login(client, auth, owner, sink):
    sink.clear()
    response = client.form(
        "/settings/account/email", {"email": "New.Address@Example.com", "current": PASSWORD}
    )
    assert response.status_code == 302
    page = client.get("/settings/account").get_data(as_text=True)
    assert "Email changed to new.address@example.com." in page
    assert "Resend the link" not in page  # still confirmed: a typo must not lock the owner out
    assert sink.messages == []
    auth.logout()
    assert auth.login(email="owner@example.com").status_code == 422
    assert auth.login(email="NEW.address@example.com").status_code == 302


def test_change_email_refuses_an_address_already_in_use(app, client, auth, owner):
    with app.app_context():
        make_account("taken@example.com")
    response = client.form("/settings/account/email", {"email": "TAKEN@example.com", "current": PASSWORD})
    assert response.status_code == 422
    assert "Another account already uses this email." in response.get_data(as_text=True)
    auth.logout()
    assert auth.login().status_code == 302


EMAIL_BAD_INPUT = [
    (
        {"email": "new@example.com", "current": "wrong password"},
        "current",
        "This is not your current password.",
    ),
    (
        {"email": "not-an-address", "current": PASSWORD},
        "email",
        "Enter an email address such as name@example.com.",
    ),
    ({"email": "", "current": PASSWORD}, "email", "This field is required."),
    ({"email": "   ", "current": PASSWORD}, "email", "This field is required."),
]


def test_change_email_refuses_bad_input(client, auth, owner):
    for fields, field_id, message in EMAIL_BAD_INPUT:
        response = client.form("/settings/account/email", fields)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}</p>' in response.get_data(as_text=True), fields
    auth.logout()
    assert auth.login().status_code == 302


def test_keeping_my_own_email_is_not_a_conflict(client, owner):
    response = client.form("/settings/account/email", {"email": "OWNER@example.com", "current": PASSWORD})
    assert response.status_code == 302


# --- Export -------------------------------------------------------------------------------


def _read_zip(response):
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    tables = {}
    for name in archive.namelist():
        text = archive.read(name).decode("utf-8-sig")
        tables[name] = list(csv.DictReader(io.StringIO(text)))
    return tables


def test_export_is_a_zip_of_csv_tables_with_my_data_only(app, client, owner, fixed_now):
    fixed_now("2026-11-23T09:00:00+01:00")
    with app.app_context():
        account = db.session.get(Account, owner)
        moreau = make_client(account, name="Atelier Moreau", email="compta@moreau.test")
        make_client(account, name="Cabinet Roussel", email=None)
        invoice = make_invoice(account, moreau, number="F-2026-001", total_cents=123456)
        set_lines(invoice, [LineInput('Logo, final "v2"', 1500, 40000, 2000)])
        record_payment(invoice, 20000, date(2026, 11, 20), "transfer", "VIR 42")
        db.session.commit()
        stranger = make_account("stranger@example.com")
        make_invoice(stranger, make_client(stranger, name="Secret Client"), number="F-2026-777")

    response = client.form("/settings/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="relance-export-2026-11-23.zip"'
    assert b"Secret Client" not in response.data

    tables = _read_zip(response)
    assert {"account.csv", "clients.csv", "invoices.csv", "invoice_lines.csv", "payments.csv"} <= set(tables)
    assert tables["account.csv"][0]["email"] == "owner@example.com"
    clients = {row["name"]: row for row in tables["clients.csv"]}
    assert set(clients) == {"Atelier Moreau", "Cabinet Roussel"}
    assert clients["Atelier Moreau"]["email"] == "compta@moreau.test"
    assert clients["Cabinet Roussel"]["email"] == ""
    [row] = tables["invoices.csv"]
    assert row["number"] == "F-2026-001"
    assert row["total"] == "720.00"
    assert row["paid"] == "200.00"
    assert row["balance"] == "520.00"
    assert row["status"] == "sent"
    assert row["due_on"] == "2026-12-01"
    [line] = tables["invoice_lines.csv"]
    assert line["description"] == 'Logo, final "v2"'
    assert line["quantity"] == "1.5"
    assert line["unit_price"] == "400.00"
    assert line["vat_rate"] == "20"
    [payment] = tables["payments.csv"]
    assert (payment["amount"], payment["paid_on"], payment["reference"]) == ("200.00", "2026-11-20", "VIR 42")


def test_export_of_an_empty_account_has_headers(client, owner):
    tables = _read_zip(client.form("/settings/account/export"))
    assert tables["clients.csv"] == []
    assert tables["invoices.csv"] == []


def test_export_needs_the_csrf_token_and_a_login(client, auth, owner):
    assert client.post("/settings/account/export").status_code == 400
    auth.logout()
    response = client.form("/settings/account/export")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- Delete -------------------------------------------------------------------------------


def _counts(account_id):
    return {
        "accounts": db.session.scalar(select(func.count(Account.id)).where(Account.id == account_id)),
        "clients": db.session.scalar(select(func.count(Client.id)).where(Client.account_id == account_id)),
        "invoices": db.session.scalar(select(func.count(Invoice.id)).where(Invoice.account_id == account_id)),
        "lines": db.session.scalar(
            select(func.count(InvoiceLine.id)).join(Invoice).where(Invoice.account_id == account_id)
        ),
        "payments": db.session.scalar(select(func.count(Payment.id)).where(Payment.account_id == account_id)),
        "events": db.session.scalar(select(func.count(Event.id)).where(Event.account_id == account_id)),
    }


def _fill(account):
    client = make_client(account)
    invoice = make_invoice(account, client)
    set_lines(invoice, [LineInput("Work", 1000, 10000, 2000)])
    record_payment(invoice, 5000, date(2026, 11, 20), "transfer")
    db.session.commit()


def test_delete_account_with_the_wrong_password_deletes_nothing(app, client, owner):
    with app.app_context():
        _fill(db.session.get(Account, owner))
    response = client.form("/settings/account/delete", {"current": "wrong password"})
    assert response.status_code == 422
    assert "This is not your password: nothing was deleted." in response.get_data(as_text=True)
    assert client.get("/invoices/").status_code == 200
    with app.app_context():
        assert all(_counts(owner).values())


def test_delete_account_removes_everything_of_mine_only(app, client, auth, owner):
    with app.app_context():
        _fill(db.session.get(Account, owner))
        stranger = make_account("stranger@example.com")
        _fill(stranger)
        stranger_id = stranger.id
    phone = other_session(app)

    response = client.form("/settings/account/delete", {"current": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your account and all its data are deleted." in client.get("/login").get_data(as_text=True)
    assert client.get("/today").status_code == 302
    assert phone.get("/today").status_code == 302
    assert auth.login().status_code == 422

    with app.app_context():
        assert set(_counts(owner).values()) == {0}
        assert all(_counts(stranger_id).values())

    # The address is free again: a new account, confirmed through its emailed link.
    assert auth.register().status_code == 200
    assert client.get("/today").status_code == 200


# --- Profile ------------------------------------------------------------------------------

PROFILE = {
    "business_name": "Studio Lumière",
    "address": "12 rue des Lilas\n75011 Paris",
    "company_number": "SIRET 812 345 678 00017",
    "vat_number": "FR12812345678",
    "reply_to_email": "",
    "language": "en",
    "timezone": "America/Toronto",
    "currency": "CAD",
    "iban": "fr76 3000 6000 0112 3456 7890 189",
    "bic": "agrifrpp",
}


def test_profile_is_saved_and_shown(app, client, owner):
    response = client.form("/settings/profile", PROFILE)
    assert response.status_code == 302
    page = client.get("/settings/profile").get_data(as_text=True)
    assert "Profile saved." in page
    assert 'value="Studio Lumière"' in page
    assert 'value="FR7630006000011234567890189"' in page, "the IBAN is stored without spaces, upper-case"
    with app.app_context():
        account = db.session.get(Account, owner)
        assert (account.timezone, account.currency, account.bic) == ("America/Toronto", "CAD", "AGRIFRPP")


def test_profile_language_changes_the_pages(client, owner):
    client.form("/settings/profile", {**PROFILE, "language": "fr"})
    page = client.get("/invoices/").get_data(as_text=True)
    assert '<html lang="fr"' in page
    assert "Factures" in page


PROFILE_BAD_INPUT = [
    ({"business_name": "  "}, "business_name", "This field is required."),
    (
        {"timezone": "Mars/Olympus_Mons"},
        "timezone",
        "Choose a time zone from the list, such as Europe/Paris.",
    ),
    ({"timezone": ""}, "timezone", "This field is required."),
    ({"iban": "FR7630006000011234567890188"}, "iban", "This IBAN's check digits are wrong: please check it."),
    ({"iban": "not an iban"}, "iban", "This IBAN does not look right."),
    ({"bic": "ABC"}, "bic", "A BIC has 8 or 11 letters and digits."),
    ({"reply_to_email": "nope@"}, "reply_to_email", "Enter an email address such as name@example.com."),
    ({"language": "xx"}, "language", "Not a valid choice."),
    ({"currency": "XXX"}, "currency", "Not a valid choice."),
]


def test_profile_refuses_bad_input_and_keeps_the_saved_profile(app, client, owner):
    for fields, field_id, message in PROFILE_BAD_INPUT:
        response = client.form("/settings/profile", {**PROFILE, **fields})
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{escape(message)}</p>' in response.get_data(as_text=True), fields
    with app.app_context():
        account = db.session.get(Account, owner)
        assert (account.business_name, account.timezone, account.iban) == ("Studio Test", "Europe/Paris", "")
