"""Shared by the browser tests: Debian's chromium, and the app served over HTTP.

The app runs in a werkzeug thread of the test process (so tests can reach its
database and set its clock), on a fresh SQLite file, with the real Redis and
SMTP sink of tests/conftest.py.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.mailsink import free_port

from .conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 360, "height": 780}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"
)


_CONFIRM = re.compile(r"https?://[^/\s]+(/register/confirm/[A-Za-z0-9_.\-]+)")


def follow_confirmation(page, mail_sink, email):
    """After "Register": the owner opens the emailed link and signs in (issue 14: nobody
    is logged in by the registration form itself)."""
    page.get_by_role("heading", name="Check your inbox").wait_for()
    [message] = [m for m in mail_sink.to(email) if "/register/confirm/" in m.as_string()]
    link = _CONFIRM.search(message.get_body(preferencelist=("plain",)).get_content()).group(1)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/today$"))


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def french_page(browser, base_url, email, viewport, *, scheme="light", javascript=True, init_script=None):
    """A browser context in French (Paris time) logged in as ``email`` on ``base_url``:
    (context, page, the page's JavaScript errors). ``init_script`` runs in every
    page before its own scripts (e.g. axe)."""
    context = browser.new_context(
        viewport=viewport,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        base_url=base_url,
        color_scheme=scheme,
        java_script_enabled=javascript,
        service_workers="block",
    )
    context.set_default_timeout(10_000)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(re.compile(r"/today$"))
    return context, page, errors


def app_config(folder: Path, redis_url: str, mail_port: int, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "browser-test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'relance.db'}",
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_port,
        "MAIL_TIMEOUT": 5,
    }
    config.update(extra)
    return config


class LiveServer:
    """``create_app(config)`` on a fresh database, served on a free 127.0.0.1 port."""

    def __init__(self, config: dict):
        self.app = create_app(config)
        with self.app.app_context():
            db.create_all()
        self.server = make_server("127.0.0.1", free_port(), self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.app.config["LIVE_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(5)
            self.server.server_close()
            self.thread = None

    def close(self):
        self.stop()
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
