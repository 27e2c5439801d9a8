"""CSRF, rate limits, open redirects, production configuration and response headers."""

import pytest
from sqlalchemy import func, select

from app import create_app
from app.config import DEFAULT_SECRET_KEY
from app.extensions import db, limiter
from app.models import Account, Client

from .conftest import PASSWORD


@pytest.fixture(autouse=True)
def english(request):
    # Flask-Limiter keeps `enabled` on the shared extension object and create_app()
    # inherits it: an app made earlier in this process with RATELIMIT_ENABLED=False
    # (the accessibility live server) would switch limits off for the apps below.
    limiter.enabled = True
    # Only for tests that use the web client: the configuration tests need no database.
    if "client" in request.fixturenames:
        request.getfixturevalue("client").environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


# --- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_register_without_csrf_token_is_refused(app, client, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(
        "/register",
        data={"email": "owner@example.com", "password": PASSWORD, "business_name": "Studio"},
        headers=headers,
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Your session has expired" in page
    assert ("<html" in page) is not htmx, "htmx gets the error fragment, a browser the full page"
    assert count(app, Account) == 0


def test_logged_in_post_without_token_changes_nothing(app, client, auth):
    auth.register()
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post("/clients/new", data={"name": "Atelier", "language": "en"}, headers=headers)
        assert response.status_code == 400
        assert "Your session has expired" in response.get_data(as_text=True)
    assert count(app, Client) == 0


def test_a_token_from_another_session_is_refused(app, client, auth):
    auth.register()
    stranger = app.test_client()
    stranger.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    foreign_token = stranger.csrf_token()
    response = client.post("/clients/new", data={"name": "Atelier", "csrf_token": foreign_token})
    assert response.status_code == 400
    response = client.post(
        "/clients/new", data={"name": "Atelier"}, headers={"HX-Request": "true", "X-CSRFToken": "forged"}
    )
    assert response.status_code == 400
    assert count(app, Client) == 0


def test_htmx_header_token_is_accepted(app, client, auth):
    auth.register()
    token = client.csrf_token()
    response = client.post(
        "/clients/new",
        data={"name": "Atelier", "language": "en", "country": "FR", "kind": "business"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert response.status_code in (200, 204, 302)
    assert count(app, Client) == 1


def test_pages_carry_the_token_for_htmx(client, auth):
    auth.register()
    page = client.get("/invoices/").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


# --- Rate limits --------------------------------------------------------------------------


def test_eleventh_login_in_a_minute_gets_a_friendly_429(client, auth):
    auth.register()
    auth.logout()
    # Ten addresses, one failure each: under the per-address back-off (5), not under
    # Flask-Limiter's 10 a minute per IP (tests/test_security_auth.py has the back-off).
    for n in range(10):
        response = auth.login(email=f"guess{n}@example.com", password="wrong password")
        assert response.status_code == 422
    response = auth.login(password="wrong password")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many attempts in a short time. Wait a few minutes and try again." in page
    assert "Email me a sign-in link" in page, "the owner's way past the limit"
    assert "<html" in page
    # Even the right password waits: the limit is on attempts, not on failures.
    assert auth.login().status_code == 429


def test_login_limit_also_counts_per_address(client, auth):
    auth.register()
    auth.logout()
    # The attempts come from five machines; the address waits after five failures.
    for n in range(5):
        response = client.form(
            "/login",
            {"email": "owner@example.com", "password": "guess"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"},
        )
        assert response.status_code == 422
    response = client.form(
        "/login",
        {"email": "owner@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )
    assert response.status_code == 429
    # Another address from that same new machine is not blocked.
    response = client.form(
        "/login",
        {"email": "other@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )
    assert response.status_code == 422


def test_login_page_itself_is_not_limited(client):
    for _ in range(15):
        assert client.get("/login").status_code == 200


def test_password_reset_requests_are_limited(client, sink):
    # The caps of every mail the login pages send (AUTH_MAIL_RATE_LIMIT: 3 an hour
    # per address), so nobody floods an owner's inbox with reset links.
    for _ in range(3):
        response = client.form("/password/forgot", {"email": "nobody@example.com"})
        assert response.status_code == 302
    response = client.form("/password/forgot", {"email": "nobody@example.com"})
    assert response.status_code == 429
    assert "Slow down a little" in response.get_data(as_text=True)


def test_the_limit_is_kept_in_redis(client, auth, redis_client):
    auth.login(email="nobody@example.com")
    assert redis_client.keys("*"), "Flask-Limiter stores its counters in the real Redis"


# --- Open redirects -----------------------------------------------------------------------


EVIL_TARGETS = [
    "//evil.example",
    "//evil.example/today",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "http://relance.localhost.evil.example/today",
    "https:evil.example",
    "javascript:alert(1)",
    "///evil.example",
    "/\t/evil.example",
    "evil.example",
    " //evil.example",
]


def test_next_never_leaves_the_site(app, client, auth):
    app.config["LOGIN_RATE_LIMIT"] = "100 per minute"  # a dozen log-ins in a row here
    auth.register()
    for target in EVIL_TARGETS:
        auth.logout()
        response = client.form(
            "/login", {"email": "owner@example.com", "password": PASSWORD}, query_string={"next": target}
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/today", target


def test_next_keeps_a_local_path(client, auth):
    auth.register()
    auth.logout()
    response = client.form(
        "/login",
        {"email": "owner@example.com", "password": PASSWORD},
        query_string={"next": "/clients/?q=moreau"},
    )
    assert response.headers["Location"] == "/clients/?q=moreau"


# --- Production configuration -------------------------------------------------------------


@pytest.mark.parametrize("secret", [DEFAULT_SECRET_KEY, "dev-secret-key-change-me", "", None])
def test_production_refuses_the_default_secret_key(secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"RELANCE_ENV": "production", "SECRET_KEY": secret})


def test_production_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RELANCE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-value")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert "dev" not in app.blueprints, "the development outbox is not served in production"


def test_development_starts_with_the_default_key():
    app = create_app({"RELANCE_ENV": "development", "SECRET_KEY": DEFAULT_SECRET_KEY})
    assert app.config["SESSION_COOKIE_SECURE"] is False


# --- Headers and errors -------------------------------------------------------------------


def test_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in response.headers["Vary"]


def test_unknown_page_is_a_friendly_404(client, auth):
    auth.register()
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_the_limiter_flag_create_app_resets_still_exists():
    """create_app clears Flask-Limiter's private ``_storage_dead`` (one Limiter serves
    every app of a process, an outage seen by one app is not the next one's): an
    upgrade that renames it would make that line a silent no-op."""
    import inspect

    from flask_limiter import Limiter

    assert "self._storage_dead" in inspect.getsource(Limiter)
