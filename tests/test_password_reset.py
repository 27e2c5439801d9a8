"""A forgotten password: the email arrives at the SMTP sink, its link works once, for one hour."""

import re
from datetime import datetime, timedelta

import pytest

from .conftest import PASSWORD

NEW_PASSWORD = "a brand new secret"
SENT_AT = datetime.fromisoformat("2026-11-23T09:00:00+01:00")
LINK = re.compile(r"https?://relance\.localhost(/password/reset/[A-Za-z0-9_.\-]+)")


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(auth):
    auth.register()
    auth.logout()
    return "owner@example.com"


def ask_for_link(client, sink, email="owner@example.com"):
    response = client.form("/password/forgot", {"email": email})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    messages = sink.to(email)
    assert len(messages) == 1
    text = messages[0].get_body(preferencelist=("plain",)).get_content()
    return LINK.search(text).group(1)


def test_reset_email_arrives_with_a_link(client, sink, owner):
    page = client.get("/password/forgot")
    assert page.status_code == 200
    assert "Forgot your password?" in page.get_data(as_text=True)

    client.form("/password/forgot", {"email": "  OWNER@Example.com "})
    assert "a reset link is on its way" in client.get("/login").get_data(as_text=True)
    [message] = sink.to("owner@example.com")
    assert message["Subject"] == "Reset your Relance password"
    assert message["To"] == "owner@example.com"
    assert "no-reply@relance.test" in message["From"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "owner@example.com" in text
    link = LINK.search(text)
    assert link, text
    assert link.group(0) in html
    assert PASSWORD not in text and PASSWORD not in html


def test_the_link_sets_a_new_password_once(client, auth, sink, owner):
    path = ask_for_link(client, sink)
    page = client.get(path)
    assert page.status_code == 200
    assert "Choose a new password" in page.get_data(as_text=True)

    response = client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your password is changed." in client.get("/login").get_data(as_text=True)

    assert auth.login(password=PASSWORD).status_code == 422
    assert auth.login(password=NEW_PASSWORD).status_code == 302
    auth.logout()

    again = client.get(path)
    assert again.status_code == 400
    assert "This link no longer works" in again.get_data(as_text=True)
    response = client.form(path, {"password": "third password!", "confirm": "third password!"})
    assert response.status_code == 400
    assert auth.login(password="third password!").status_code == 422
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_a_new_password_by_link_logs_out_other_sessions(app, client, auth, sink):
    auth.register()
    phone = app.test_client()
    phone.form("/login", {"email": "owner@example.com", "password": PASSWORD})
    assert phone.get("/today").status_code == 200

    path = ask_for_link(client, sink)
    client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert phone.get("/today").status_code == 302
    assert client.get("/today").status_code == 302


def test_the_link_expires_after_one_hour(client, auth, sink, owner, fixed_now):
    fixed_now(SENT_AT)
    path = ask_for_link(client, sink)

    fixed_now(SENT_AT + timedelta(minutes=59))
    assert client.get(path).status_code == 200

    fixed_now(SENT_AT + timedelta(hours=1, minutes=1))
    expired = client.get(path)
    assert expired.status_code == 400
    assert "This link no longer works" in expired.get_data(as_text=True)
    response = client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert auth.login(password=NEW_PASSWORD).status_code == 422
    assert auth.login(password=PASSWORD).status_code == 302


def test_an_older_link_dies_when_a_newer_one_is_used(client, auth, sink, owner):
    first = ask_for_link(client, sink)
    sink.clear()
    second = ask_for_link(client, sink)
    assert client.form(second, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert client.get(first).status_code == 400


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, sink, owner):
    response = client.form("/password/forgot", {"email": "stranger@example.com"})
    assert response.status_code == 302
    assert "a reset link is on its way" in client.get("/login").get_data(as_text=True)
    assert sink.messages == []


def test_a_forged_or_broken_link_is_refused(client, owner):
    for token in ("garbage", "eyJpZCI6MX0.ZZZZZZ.forged-signature", "a" * 500, ".."):
        response = client.get(f"/password/reset/{token}")
        assert response.status_code == 400, token
        assert "This link no longer works" in response.get_data(as_text=True)


def test_a_link_signed_for_someone_else_does_not_work(app, client, sink, owner):
    path = ask_for_link(client, sink)
    token = path.rsplit("/", 1)[1]
    app.config["SECRET_KEY"] = "another-secret"
    assert client.get(f"/password/reset/{token}").status_code == 400


RESET_BAD_INPUT = [
    ({"password": NEW_PASSWORD, "confirm": "something else"}, "confirm", "The two passwords differ."),
    ({"password": "short", "confirm": "short"}, "password", "Use at least 8 characters."),
    ({"password": "", "confirm": ""}, "password", "This field is required."),
]


def test_reset_form_refuses_bad_passwords_and_keeps_the_link(client, auth, sink, owner):
    path = ask_for_link(client, sink)
    for fields, field_id, message in RESET_BAD_INPUT:
        response = client.form(path, fields)
        assert response.status_code == 422, fields
        assert f'id="{field_id}-error">{message}</p>' in response.get_data(as_text=True), fields
    assert client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_forgot_form_refuses_a_malformed_address(client, sink):
    response = client.form("/password/forgot", {"email": "not an address"})
    assert response.status_code == 422
    assert "Enter an email address such as name@example.com." in response.get_data(as_text=True)
    assert sink.messages == []


def test_a_foreign_host_header_is_refused_when_the_site_address_is_set(client, sink, owner):
    response = client.form(
        "/password/forgot", {"email": "owner@example.com"}, headers={"Host": "evil.example"}
    )
    assert response.status_code in (400, 404)
    assert sink.messages == []


def test_reset_link_never_takes_its_host_from_the_request(app, client, sink, owner):
    app.config["SERVER_NAME"] = None  # as a production deployment configured from DESIGN.md's names
    attacker = app.test_client()
    page = attacker.get("/password/forgot", base_url="http://evil.example").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    attacker.post(
        "/password/forgot",
        data={"email": "owner@example.com", "csrf_token": token},
        base_url="http://evil.example",
    )
    [message] = sink.to("owner@example.com")
    assert "evil.example" not in message.get_body(preferencelist=("plain",)).get_content()
