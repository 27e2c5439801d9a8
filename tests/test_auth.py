"""Register, log in, log out, and the pages that need a login."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account

from .conftest import PASSWORD


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def stored_account(app, email):
    with app.app_context():
        return db.session.scalar(select(Account).where(Account.email == email))


def account_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Account.id)))


def test_register_then_the_emailed_link_logs_in_and_shows_today(app, client, auth):
    page = client.get("/register")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for label in ("Business name", "Email", "Password", "Register"):
        assert label in text

    response = auth.register(email="Owner@Example.com", business="Studio Lumière")
    assert response.status_code == 200
    assert "Check your inbox" in response.get_data(as_text=True)
    # auth.register followed the emailed link (tests/test_security_auth.py reads it from the sink)
    today = client.get("/today").get_data(as_text=True)
    assert "Studio Lumière" in today
    assert "Welcome to Relance!" in today

    account = stored_account(app, "owner@example.com")
    assert account is not None, "the address is stored lower-cased"
    assert account.timezone == "Europe/Paris"
    assert account.language == "en"
    assert account.currency == "EUR"
    assert account.password_hash.startswith("scrypt:")
    assert PASSWORD not in account.password_hash


def test_register_takes_the_browser_time_zone(app, client, auth):
    assert auth.register(timezone="America/Toronto").status_code == 200
    account = stored_account(app, "owner@example.com")
    assert account.timezone == "America/Toronto"
    assert account.currency == "CAD"


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "", "../../etc/passwd"])
def test_register_falls_back_to_paris_when_the_browser_time_zone_is_unknown(app, auth, timezone):
    assert auth.register(timezone=timezone).status_code == 200
    assert stored_account(app, "owner@example.com").timezone == "Europe/Paris"


def test_register_takes_the_browser_language(app, client, auth):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr-FR,fr;q=0.9,en;q=0.5"
    assert auth.register().status_code == 200
    assert stored_account(app, "owner@example.com").language == "fr"


def test_an_email_has_one_account_whatever_its_case(app, client, auth):
    auth.register(email="owner@example.com")
    auth.logout()
    response = auth.register(email="  OWNER@example.COM ")
    # The same answer as for a new address (tests/test_security_auth.py), nothing created.
    assert response.status_code == 200
    assert "Check your inbox" in response.get_data(as_text=True)
    assert account_count(app) == 1


REGISTER_BAD_INPUT = [
    ({"email": "not-an-email"}, "email", "Enter an email address such as name@example.com."),
    ({"email": ""}, "email", "This field is required."),
    ({"password": "short"}, "password", "Use at least 8 characters."),
    ({"business_name": ""}, "business_name", "This field is required."),
    ({"business_name": "   "}, "business_name", "This field is required."),
    ({"email": "   "}, "email", "This field is required."),
    ({"business_name": "x" * 201}, "business_name", "Field cannot be longer than 200 characters."),
]


def test_register_refuses_bad_input_next_to_the_field(app, client):
    for fields, field_id, message in REGISTER_BAD_INPUT:
        data = {
            "email": "owner@example.com",
            "password": PASSWORD,
            "business_name": "Studio",
            "timezone": "Europe/Paris",
            **fields,
        }
        response = client.form("/register", data)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}</p>' in response.get_data(as_text=True), fields
    assert account_count(app) == 0


def test_register_keeps_what_was_typed_on_error(client):
    response = client.form(
        "/register",
        {"email": "owner@example.com", "password": "short", "business_name": "Studio Lumière"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="Studio Lumière"' in page
    assert 'value="owner@example.com"' in page
    assert "short" not in page.split("<form", 1)[1], "a password is never sent back"


def test_login_and_logout(client, auth):
    auth.register()
    auth.logout()
    page = client.get("/login").get_data(as_text=True)
    for label in ("Email", "Password", "Log in"):
        assert label in page

    response = auth.login(email="OWNER@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/today"
    assert client.get("/today").status_code == 200

    response = auth.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are logged out." in client.get("/login").get_data(as_text=True)
    assert client.get("/today").status_code == 302


def test_logout_is_not_a_get(client, auth):
    auth.register()
    assert client.get("/logout").status_code == 405
    assert client.get("/today").status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("owner@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
    ],
)
def test_login_refuses_wrong_credentials_with_one_message(client, auth, email, password):
    auth.register()
    auth.logout()
    response = auth.login(email=email, password=password)
    assert response.status_code == 422
    assert "This email and password do not match." in response.get_data(as_text=True)
    assert client.get("/today").status_code == 302


def test_login_refuses_malformed_input(client):
    response = client.form("/login", {"email": "nope", "password": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter an email address such as name@example.com." in page
    assert "This field is required." in page


def test_pages_need_a_login(client):
    for path in ("/today", "/invoices/", "/invoices/new", "/clients/", "/settings/account", "/settings/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next="), path


def test_login_returns_to_the_page_that_asked_for_it(client, auth):
    auth.register()
    auth.logout()
    response = client.get("/invoices/?tab=paid")
    login_url = response.headers["Location"]
    assert login_url == "/login?next=%2Finvoices%2F%3Ftab%3Dpaid"
    assert "Please log in to see this page." in client.get(login_url).get_data(as_text=True)
    response = client.form(login_url, {"email": "owner@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/invoices/?tab=paid"


def test_logged_in_people_skip_register_and_login(client, auth):
    auth.register()
    assert client.get("/login").headers["Location"] == "/today"
    assert client.get("/register").headers["Location"] == "/today"
    assert client.get("/").headers["Location"] == "/today"


def test_root_sends_strangers_to_login(client):
    assert client.get("/").headers["Location"] == "/login"


def test_session_cookie_is_http_only(client, auth):
    auth.register()
    cookie = client.get_cookie("session", domain="relance.localhost")
    assert cookie is not None
    assert cookie.http_only
