"""Fixtures: real Redis, real SMTP sink, SQLite and PostgreSQL, a CSRF-aware client."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select, text

from app import clock, create_app
from app.extensions import db
from app.mailsink import MailSink

from .services import PostgresServer, RedisServer, postgres_unavailable_reason

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_sink():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright, one per test module (tests/livebrowser.py)."""
    from playwright.sync_api import sync_playwright

    from .livebrowser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def postgres_server():
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def sink(mail_sink):
    mail_sink.clear()
    yield mail_sink
    mail_sink.clear()


@pytest.fixture
def redis_client(redis_server):
    client = Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class RelanceClient(FlaskClient):
    """A test client that sends the CSRF token, as the pages do."""

    def csrf_token(self) -> str:
        page = self.get("/offline").get_data(as_text=True)
        match = _TOKEN.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1) or match.group(2)

    def form(self, url, data=None, htmx=False, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.post(url, data=data, headers=headers, **kwargs)


def _make_app(database_url, redis_server, mail_sink, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_server.url,
            "RATELIMIT_STORAGE_URI": redis_server.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": mail_sink.port,
            "MAIL_TIMEOUT": 5,
            "SERVER_NAME": "relance.localhost",
        }
    )
    app.test_client_class = RelanceClient
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, redis_server, mail_sink, tmp_path, redis_client):
    """The application on a fresh SQLite file, then on the PostgreSQL cluster."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'relance.db'}"
    else:
        url = request.getfixturevalue("postgres_server").url
    application = _make_app(url, redis_server, mail_sink, tmp_path)
    with application.app_context():
        if request.param == "postgresql":
            db.drop_all()
        db.create_all()
    mail_sink.clear()
    yield application
    clock.set_now(None)
    with application.app_context():
        db.session.remove()
        if request.param == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


class AuthActions:
    def __init__(self, client, mail_sink=None):
        self.client = client
        self.mail_sink = mail_sink

    def register(
        self,
        email="owner@example.com",
        password=PASSWORD,
        business="Studio Test",
        timezone="Europe/Paris",
        verify=True,
    ):
        """Sign up through the form; with ``verify`` (the default) the owner then follows
        the emailed link, which confirms the address and logs them in (tests about
        verification pass False: the account exists, unconfirmed, nobody logged in).
        Returns the answer to the registration form."""
        response = self.client.form(
            "/register",
            {"email": email, "password": password, "business_name": business, "timezone": timezone},
        )
        if verify:
            from app.models import Account
            from app.views.auth import signin_token

            with self.client.application.app_context():
                account = db.session.scalar(
                    select(Account).where(Account.email == Account.normalise_email(email))
                )
                token = None
                if account is not None and account.email_verified_at is None:
                    token = signin_token(account, "confirm")
            if token:
                self.client.form(f"/register/confirm/{token}")
                self._forget_confirmation(account.email)
        return response

    def register_unconfirmed(self, email="owner@example.com", **fields):
        """An owner who is logged in while their address is unconfirmed (what the
        open-relay gate and the /verify link are for): registered and signed in
        through the emailed link, then unconfirmed again, with the /verify link that
        the "Resend the link" banner mails waiting in the sink."""
        response = self.register(email=email, **fields)
        from app.models import Account
        from app.verification import send_verification

        application = self.client.application
        with application.app_context(), application.test_request_context():
            account = db.session.scalar(
                select(Account).where(Account.email == Account.normalise_email(email))
            )
            account.email_verified_at = None
            db.session.commit()
            send_verification(account)
        return response

    def _forget_confirmation(self, address):
        # The confirmation was read: tests count the mail that comes after it.
        if self.mail_sink is None:
            return
        handler = self.mail_sink.handler
        with handler.lock:
            handler.messages[:] = [
                m
                for m in handler.messages
                if not (address in m["X-Rcpt-To"].split(", ") and "/register/confirm/" in m.as_string())
            ]

    def login(self, email="owner@example.com", password=PASSWORD):
        return self.client.form("/login", {"email": email, "password": password})

    def logout(self):
        return self.client.form("/logout")


@pytest.fixture
def auth(client, mail_sink):
    return AuthActions(client, mail_sink)


@pytest.fixture
def fixed_now():
    """Set the clock: ``fixed_now("2026-11-23T09:00:00+01:00")``."""

    def set_(value):
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        clock.set_now(moment)
        return moment

    yield set_
    clock.set_now(None)
