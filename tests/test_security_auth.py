"""Logins (issue 14 point 7): nothing tells whether an address has an account; password
guessing is slowed per address and per IP, also while Redis is down, without locking the
real owner out; a cookie captured before logout or a password change stops working.

Real Redis, real SMTP sink, SQLite and PostgreSQL; time moves through app/clock.py. The
only thing wrapped is werkzeug's password hashing, to count how often it runs.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug import security

import app.models
import app.views.auth
from app import clock
from app.extensions import db
from app.models import Account

from .conftest import PASSWORD, _make_app
from .services import RedisServer

OWNER = "owner@example.com"
NOBODY = "nobody@example.com"
NOW = "2026-11-23T09:00:00+01:00"
_VOLATILE = [
    re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+'),
    re.compile(r'("X-CSRFToken": ")[^"]+'),
    re.compile(r'(nonce=")[^"]+'),
]


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def roomy(app):
    """Flask-Limiter's per-minute caps out of the way: these tests are about the back-off."""
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    return app


@pytest.fixture
def owner(auth, sink):
    auth.register(email=OWNER)
    auth.logout()
    sink.clear()
    return OWNER


def page_of(response, address=None):
    """The answer's body without what changes on every request (CSRF tokens, CSP nonces)
    and, when given, the address that was typed."""
    text = response.get_data(as_text=True)
    for pattern in _VOLATILE:
        text = pattern.sub(r"\1…", text)
    return text.replace(address, "ADDRESS") if address else text


@pytest.fixture
def hashes(monkeypatch):
    """Counts of werkzeug's scrypt checks and derivations, wherever the app calls them."""
    counts = {"check": 0, "generate": 0}

    def check(*args, **kwargs):
        counts["check"] += 1
        return security.check_password_hash(*args, **kwargs)

    def generate(*args, **kwargs):
        counts["generate"] += 1
        return security.generate_password_hash(*args, **kwargs)

    monkeypatch.setattr(app.models, "check_password_hash", check)
    monkeypatch.setattr(app.models, "generate_password_hash", generate)
    monkeypatch.setattr(app.views.auth, "generate_password_hash", generate, raising=False)
    return counts


def login(client, email, password=PASSWORD, **kwargs):
    return client.form("/login", {"email": email, "password": password}, **kwargs)


def link_in(sink, address, path):
    [message] = sink.to(address)
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://relance\.localhost(" + re.escape(path) + r"[A-Za-z0-9_.\-]+)", text)
    assert match, text
    return message, match.group(1)


def account_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Account.id)))


# --- The same answer, the same work ---------------------------------------------------------


def test_the_dummy_hash_costs_what_a_real_one_does():
    real = security.generate_password_hash("x", method="scrypt")
    assert app.models._NO_PASSWORD_HASH.split("$")[0] == real.split("$")[0]  # method and parameters
    assert len(app.models._NO_PASSWORD_HASH) == len(real)


def test_login_answers_the_same_with_one_hash_whether_or_not_the_address_has_an_account(
    app, client, auth, owner, hashes
):
    wrong = login(client, OWNER, "not my password")
    assert hashes == {"check": 1, "generate": 0}
    unknown = login(client, NOBODY)
    assert hashes == {"check": 2, "generate": 0}, "an unknown address costs one hash too"
    assert wrong.status_code == unknown.status_code == 422
    assert "This email and password do not match." in wrong.get_data(as_text=True)
    assert page_of(wrong, OWNER) == page_of(unknown, NOBODY)
    assert sorted(wrong.headers.keys()) == sorted(unknown.headers.keys())


def test_registering_an_existing_address_answers_like_a_new_one_and_warns_its_owner(
    app, client, auth, sink, hashes
):
    new = auth.register(email=OWNER, business="Studio Lumière", verify=False)
    assert hashes == {"check": 0, "generate": 1}
    [confirmation] = sink.to(OWNER)
    _message, link = link_in(sink, OWNER, "/register/confirm/")
    client.form(link)  # confirmed (unconfirmed, see the test after next)
    client.form("/logout")
    sink.clear()
    again = auth.register(email=OWNER, password="the attacker's choice", business="Evil", verify=False)
    assert hashes == {"check": 0, "generate": 2}, "an existing address costs one hash too"

    assert new.status_code == again.status_code == 200
    assert "Check your inbox" in new.get_data(as_text=True)
    assert page_of(new) == page_of(again)
    assert account_count(app) == 1
    assert client.get("/today").status_code == 302, "nobody is logged in by registering"

    message, reset = link_in(sink, OWNER, "/password/reset/")
    assert message["Subject"] == "Someone tried to register with your address"
    assert "http://relance.localhost/login" in message.get_body(preferencelist=("plain",)).get_content()
    assert client.get(reset).status_code == 200, "the reset link in the warning works"
    assert confirmation["Subject"] == "Confirm your address to start with Relance"
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.business_name == "Studio Lumière"
        assert account.check_password(PASSWORD), "the second registration changed nothing"


def test_a_mail_server_that_refuses_changes_no_answer(app, client, auth, owner, sink):
    sink.handler.reply_to_data = "421 try again later"
    taken = auth.register(email=OWNER, verify=False)
    new = auth.register(email="new@example.com", verify=False)
    assert taken.status_code == new.status_code == 200
    assert page_of(taken, OWNER) == page_of(new, "new@example.com")
    assert account_count(app) == 2


def test_an_unconfirmed_address_cannot_log_in_with_its_password(app, client, auth, sink, hashes):
    # Else registering then logging in would tell a new address from a taken one.
    auth.register(email=OWNER, verify=False)
    unconfirmed = login(client, OWNER)
    unknown = login(client, NOBODY)
    assert hashes["check"] == 2
    assert unconfirmed.status_code == unknown.status_code == 422
    assert page_of(unconfirmed, OWNER) == page_of(unknown, NOBODY)


def test_the_emailed_link_confirms_the_address_and_signs_in_once(app, client, auth, sink, fixed_now):
    fixed_now(NOW)
    auth.register(email=OWNER, business="Studio Lumière", verify=False)
    _message, link = link_in(sink, OWNER, "/register/confirm/")
    page = client.get(link)
    assert page.status_code == 200
    assert client.get("/today").status_code == 302, "opening the link (a mail scanner) signs nobody in"
    response = client.form(link)
    assert response.headers["Location"] == "/today"
    today = client.get("/today").get_data(as_text=True)
    assert "Studio Lumière" in today and "Welcome to Relance!" in today
    with app.app_context():
        assert db.session.scalar(select(Account)).email_verified_at == clock.now()

    client.form("/logout")
    assert client.get(link).status_code == 400
    assert client.form(link).status_code == 400
    assert client.get("/today").status_code == 302
    assert login(client, OWNER).status_code == 302, "confirmed: the password works now"


def test_a_password_reset_confirms_the_address_too(app, client, auth, sink):
    # The owner who lost the confirmation email: the reset link proves the mailbox.
    auth.register(email=OWNER, verify=False)
    sink.clear()
    client.form("/password/forgot", {"email": OWNER})
    _message, link = link_in(sink, OWNER, "/password/reset/")
    client.form(link, {"password": "new password 1", "confirm": "new password 1"})
    assert login(client, OWNER, "new password 1").headers["Location"] == "/today"


def test_the_confirmation_link_expires(app, client, auth, sink, fixed_now):
    fixed_now(NOW)
    auth.register(email=OWNER, verify=False)
    _message, link = link_in(sink, OWNER, "/register/confirm/")
    clock.advance(timedelta(seconds=app.config["CONFIRM_LINK_MAX_AGE"] + 1))
    assert client.get(link).status_code == 400
    assert "This link no longer works" in client.form(link).get_data(as_text=True)


# --- Back-off ---------------------------------------------------------------------------------


def test_five_failures_lock_the_address_with_doubling_waits(roomy, client, owner, fixed_now):
    fixed_now(NOW)
    for _ in range(5):
        assert login(client, OWNER, "guess").status_code == 422
    locked = login(client, OWNER)  # even the right password waits
    assert locked.status_code == 429
    assert "Try again in 1 minute." in locked.get_data(as_text=True)
    assert "Email me a sign-in link" in locked.get_data(as_text=True)
    assert client.get("/today").status_code == 302

    clock.advance(timedelta(seconds=61))
    assert login(client, OWNER, "guess").status_code == 422  # the sixth failure: 2 minutes
    assert "Try again in 2 minutes." in login(client, OWNER).get_data(as_text=True)
    clock.advance(timedelta(seconds=119))
    assert login(client, OWNER).status_code == 429
    clock.advance(timedelta(seconds=2))
    assert login(client, OWNER).headers["Location"] == "/today"

    # A success forgets the address's failures.
    client.form("/logout")
    for _ in range(4):
        assert login(client, OWNER, "guess").status_code == 422
    assert login(client, OWNER).status_code == 302


def test_an_unknown_address_locks_exactly_like_a_known_one(roomy, client, owner, fixed_now):
    fixed_now(NOW)
    answers = {}
    for address in (OWNER, NOBODY):
        for _ in range(5):
            login(client, address, "guess")
        answers[address] = login(client, address, "guess")
    assert answers[OWNER].status_code == answers[NOBODY].status_code == 429
    assert page_of(answers[OWNER], OWNER) == page_of(answers[NOBODY], NOBODY)


def test_one_ip_trying_many_addresses_is_slowed_and_others_are_not(roomy, client, owner, fixed_now):
    fixed_now(NOW)
    for n in range(20):
        assert login(client, f"victim{n}@example.com", "guess").status_code == 422
    assert login(client, "victim99@example.com", "guess").status_code == 429
    assert login(client, OWNER).status_code == 429, "the IP waits, whatever address it tries"
    elsewhere = {"REMOTE_ADDR": "203.0.113.7"}
    assert login(client, OWNER, environ_base=elsewhere).headers["Location"] == "/today"


def test_the_real_owner_unlocks_with_the_emailed_link(roomy, app, client, owner, sink, fixed_now):
    fixed_now(NOW)
    for _ in range(6):
        login(client, OWNER, "guess")
    assert login(client, OWNER).status_code == 429

    # No CAPTCHA: the lockout page asks for a link by email.
    response = client.form("/login/link", {"email": OWNER})
    assert response.headers["Location"] == "/login"
    notice = "If an account uses this address, a sign-in link is on its way."
    assert notice in client.get("/login").get_data(as_text=True)
    message, link = link_in(sink, OWNER, "/login/link/")
    assert message["Subject"] == "Your Relance sign-in link"

    assert client.get(link).status_code == 200
    assert client.form(link).headers["Location"] == "/today"
    assert client.get("/today").status_code == 200
    assert client.form(link).status_code == 400, "the link works once"

    # The address's failures are forgotten: the password works again at once.
    client.form("/logout")
    assert login(client, OWNER).headers["Location"] == "/today"

    # An unknown address gets the same answer and no email.
    client.form("/logout")
    sink.clear()
    assert client.form("/login/link", {"email": NOBODY}).headers["Location"] == "/login"
    assert notice in client.get("/login").get_data(as_text=True)
    assert sink.messages == []


def test_the_sign_in_link_expires(roomy, app, client, owner, sink, fixed_now):
    fixed_now(NOW)
    client.form("/login/link", {"email": OWNER})
    _message, link = link_in(sink, OWNER, "/login/link/")
    clock.advance(timedelta(seconds=app.config["SIGNIN_LINK_MAX_AGE"] + 1))
    assert client.form(link).status_code == 400
    assert client.get("/today").status_code == 302


def test_sign_in_links_are_not_a_mail_cannon(app, client, owner, sink):
    for _ in range(3):
        assert client.form("/login/link", {"email": OWNER}).status_code == 302
    assert client.form("/login/link", {"email": OWNER}).status_code == 429
    assert len(sink.to(OWNER)) == 3


def test_flask_limiter_caps_the_login_form_and_its_429_offers_the_link(app, client, owner):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert login(client, OWNER, "guess").status_code == 422
    capped = login(client, OWNER)
    assert capped.status_code == 429
    assert "Email me a sign-in link" in capped.get_data(as_text=True)


# --- Current-password checks ----------------------------------------------------------------


def test_every_current_password_check_is_slowed(roomy, app, client, auth, fixed_now):
    fixed_now(NOW)
    auth.register(email=OWNER)
    for _ in range(5):
        response = client.form(
            "/settings/account/password", {"current": "guess", "password": "new password 1"}
        )
        assert "This is not your current password." in response.get_data(as_text=True)

    tries = [
        ("/settings/account/password", {"current": PASSWORD, "password": "new password 1"}),
        ("/settings/account/email", {"current": PASSWORD, "email": "new@example.com"}),
        ("/settings/account/delete", {"current": PASSWORD}),
    ]
    for url, data in tries:
        response = client.form(url, data)
        assert response.status_code == 422, url
        assert "Too many wrong passwords. Try again in 1 minute." in response.get_data(as_text=True), url
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.email == OWNER and account.check_password(PASSWORD), "nothing changed"

    clock.advance(timedelta(seconds=61))
    response = client.form("/settings/account/password", {"current": PASSWORD, "password": "new password 1"})
    assert response.headers["Location"] == "/settings/account"


def test_current_password_checks_have_a_request_cap_too(app, client, auth):
    auth.register(email=OWNER)
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    for _ in range(2):
        assert client.form("/settings/account/delete", {"current": "guess"}).status_code == 422
    assert client.form("/settings/account/delete", {"current": PASSWORD}).status_code == 429
    assert account_count(app) == 1


# --- Server-side sessions ---------------------------------------------------------------------


def captured(app, client):
    """A second client holding copies of ``client``'s cookies (a stolen cookie jar)."""
    thief = app.test_client()
    for name in ("session", "remember_token"):
        cookie = client.get_cookie(name, domain="relance.localhost")
        if cookie is not None:
            thief.set_cookie(name, cookie.value, domain="relance.localhost")
    return thief


def only_remember_me(app, client):
    thief = app.test_client()
    cookie = client.get_cookie("remember_token", domain="relance.localhost")
    assert cookie is not None
    thief.set_cookie("remember_token", cookie.value, domain="relance.localhost")
    return thief


def test_a_cookie_captured_before_logout_stops_working(app, client, owner):
    assert client.form("/login", {"email": OWNER, "password": PASSWORD, "remember": "y"}).status_code == 302
    thief, remembered = captured(app, client), only_remember_me(app, client)
    assert thief.get("/today").status_code == 200
    assert remembered.get("/today").status_code == 200
    client.form("/logout")
    assert thief.get("/today").status_code == 302
    assert remembered.get("/today").status_code == 302
    assert client.get("/today").status_code == 302


def test_a_cookie_captured_before_a_password_change_stops_working(app, client, owner):
    assert login(client, OWNER).status_code == 302
    thief = captured(app, client)
    assert thief.get("/today").status_code == 200
    response = client.form("/settings/account/password", {"current": PASSWORD, "password": "new password 1"})
    assert response.headers["Location"] == "/settings/account"
    assert client.get("/today").status_code == 200, "the session that changed it goes on"
    assert thief.get("/today").status_code == 302


def test_a_cookie_captured_before_a_password_reset_stops_working(app, client, owner, sink):
    assert login(client, OWNER).status_code == 302
    thief = captured(app, client)
    other = app.test_client()
    other.form("/password/forgot", {"email": OWNER})
    _message, link = link_in(sink, OWNER, "/password/reset/")
    other.form(link, {"password": "new password 1", "confirm": "new password 1"})
    assert thief.get("/today").status_code == 302
    assert client.get("/today").status_code == 302


# --- Redis down --------------------------------------------------------------------------------


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, that the test stops."""
    server = RedisServer()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def app_on_own_redis(own_redis, mail_sink, tmp_path):
    application = _make_app(f"sqlite:///{tmp_path / 'relance.db'}", own_redis, mail_sink, tmp_path)
    with application.app_context():
        db.create_all()
    yield application
    clock.set_now(None)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def stop(server):
    server.process.terminate()
    server.process.wait(10)


def test_with_redis_down_people_log_in_and_the_back_off_holds(app_on_own_redis, own_redis, sink, fixed_now):
    application = app_on_own_redis
    application.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    fixed_now(NOW)
    client = application.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    from .conftest import AuthActions

    AuthActions(client, sink).register(email=OWNER)
    client.form("/logout")

    stop(own_redis)
    assert login(client, OWNER).headers["Location"] == "/today", "Redis is down: logging in still works"
    client.form("/logout")
    for _ in range(5):
        assert login(client, OWNER, "guess").status_code == 422
    assert login(client, OWNER).status_code == 429, "and the back-off still counts (in memory)"
    clock.advance(timedelta(seconds=61))
    assert login(client, OWNER).headers["Location"] == "/today"


def test_with_redis_down_flask_limiter_still_caps(app_on_own_redis, own_redis, sink):
    application = app_on_own_redis
    client = application.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    stop(own_redis)
    application.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert login(client, NOBODY, "guess").status_code == 422
    assert login(client, NOBODY, "guess").status_code == 429


# --- Review findings (sec-fix) -------------------------------------------------------------------


def test_forgot_password_answers_the_same_when_the_mail_server_refuses(app, client, owner, sink):
    sink.handler.reply_to_data = "421 try again later"
    known = client.form("/password/forgot", {"email": OWNER})
    unknown = client.form("/password/forgot", {"email": NOBODY})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]


def test_forgot_password_flashes_the_same_on_a_refusal_as_for_nobody(app, client, owner, sink):
    sink.handler.reply_to_data = "554 no"
    known = client.form("/password/forgot", {"email": OWNER}, follow_redirects=True)
    unknown = client.form("/password/forgot", {"email": NOBODY}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    assert "a reset link is on its way" in known.get_data(as_text=True)
    assert page_of(known) == page_of(unknown)


def test_reset_links_are_not_a_mail_cannon(app, client, owner, sink):
    for _ in range(3):
        assert client.form("/password/forgot", {"email": OWNER}).status_code == 302
    assert client.form("/password/forgot", {"email": OWNER}).status_code == 429
    assert len(sink.to(OWNER)) == 3
    # The reset email still carries its HTML part.
    assert sink.to(OWNER)[0].get_body(preferencelist=("html",)) is not None


def test_reset_links_are_capped_per_ip_too(app, client, owner, sink):
    app.config["AUTH_MAIL_IP_RATE_LIMIT"] = "2 per hour"
    assert client.form("/password/forgot", {"email": OWNER}).status_code == 302
    assert client.form("/password/forgot", {"email": "a@example.com"}).status_code == 302
    assert client.form("/password/forgot", {"email": "b@example.com"}).status_code == 429


def _choose_a_password_through(client, sink, password):
    _message, link = link_in(sink, OWNER, "/password/reset/")
    response = client.form(link, {"password": password, "confirm": password})
    assert response.status_code == 302


def test_registering_again_while_unconfirmed_mails_a_link_to_choose_the_password(app, client, auth, sink):
    # A stranger registered the address first, with a password of their choosing.
    first = auth.register(email=OWNER, password="the stranger's 123", verify=False)
    sink.clear()
    again = auth.register(email=OWNER, password="the owner's own 123", verify=False)
    assert page_of(first) == page_of(again)
    # The mailbox's owner gets no plain sign-in (the stranger's password would then
    # open the account they use): a link to choose the password, which confirms.
    _choose_a_password_through(client, sink, "the owner's own 123")
    with app.app_context():
        assert db.session.scalar(select(Account)).email_verified_at is not None
    auth.logout()
    assert auth.login(email=OWNER, password="the stranger's 123").status_code == 422
    assert auth.login(email=OWNER, password="the owner's own 123").status_code == 302


def test_the_login_page_offers_an_emailed_sign_in_link(app, client, auth, sink):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/login/link"' in page
    form = client.get("/login/link")
    assert form.status_code == 200
    assert "Email me a sign-in link" in form.get_data(as_text=True)
    # An unconfirmed address gets in that way too, by choosing its password (the one
    # set at registration may be a stranger's): the link confirms it.
    auth.register(email=OWNER, password="the stranger's 123", verify=False)
    sink.clear()
    client.form("/login/link", {"email": OWNER})
    _choose_a_password_through(client, sink, "the owner's own 123")
    with app.app_context():
        assert db.session.scalar(select(Account)).email_verified_at is not None
    auth.logout()
    assert auth.login(email=OWNER, password="the stranger's 123").status_code == 422


def test_a_dead_link_points_to_the_emailed_sign_in_link(app, client):
    page = client.get("/login/link/nonsense")
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "Email me a sign-in link" in text and "Forgot your password?" in text
    assert "Log in with your password" not in text


def test_a_memory_storage_uri_does_not_break_logins(app, client, owner, fixed_now):
    fixed_now(NOW)
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    app.extensions.pop("loginguard", None)
    assert login(client, OWNER).headers["Location"] == "/today"
    client.form("/logout")
    for _ in range(5):
        assert login(client, OWNER, "guess").status_code == 422
    assert login(client, OWNER).status_code == 429, "the back-off counts in memory"


def test_one_serializer_on_the_clock_for_every_link(app):
    from app import tokens, verification
    from app.views import auth as auth_views

    assert not hasattr(auth_views, "_ClockSerializer")
    assert not hasattr(verification, "_ClockSerializer")
    with app.test_request_context():
        clock.set_now(clock.now() - timedelta(days=10))
        old = tokens.serializer("x").dumps({"a": 1})
        clock.set_now(None)
        with pytest.raises(Exception, match="age"):
            tokens.serializer("x").loads(old, max_age=3600)


def test_a_reset_link_mailed_before_a_change_of_email_stops_working(app, client, owner, sink):
    sink.clear()
    client.form("/password/forgot", {"email": OWNER})
    _message, link = link_in(sink, OWNER, "/password/reset/")
    with app.app_context():
        account = db.session.scalar(select(Account))
        account.email = "new.address@example.com"
        db.session.commit()
    assert client.get(link).status_code == 400
