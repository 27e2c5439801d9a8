"""End to end in a real browser: Playwright drives Debian's chromium against the app
served over HTTP (werkzeug, in a thread), on SQLite, with the real Redis and SMTP sink.

Phone first: the flows run at 390x844, the layout checks at 360 px.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Account

from .conftest import PASSWORD
from .factories import make_client, make_invoice
from .livebrowser import NARROW, PHONE, LiveServer, app_config, follow_confirmation, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def live_app(redis_server, mail_sink, tmp_path_factory):
    """The app on a fresh SQLite file, served on a free 127.0.0.1 port."""
    server = LiveServer(app_config(tmp_path_factory.mktemp("browser"), redis_server.url, mail_sink.port))
    yield server.app
    server.close()


@pytest.fixture
def page(browser, live_app):
    """A phone-sized page in English (the UI language follows Accept-Language)."""
    context = browser.new_context(
        viewport=PHONE,
        locale="en-US",
        timezone_id="Europe/Paris",
        is_mobile=True,
        has_touch=True,
        base_url=live_app.config["LIVE_URL"],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


_emails = iter(range(1, 10_000))


def register(page, mail_sink, business="Studio Browser") -> str:
    email = f"owner{next(_emails)}@browser.test"
    page.goto("/register")
    page.get_by_label("Business name").fill(business)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    follow_confirmation(page, mail_sink, email)
    return email


def test_register_add_client_create_invoice_record_payment(page, live_app, mail_sink):
    register(page, mail_sink)

    # A client, through the form.
    page.goto("/clients/new")
    page.get_by_label("Name", exact=True).fill("Maple Leaf Design")
    page.get_by_label("Email", exact=True).fill("ap@mapleleaf.test")
    page.get_by_label("Language", exact=True).select_option("en")
    page.get_by_role("button", name="Save client").click()
    page.wait_for_url(re.compile(r"/clients/\d+$"))
    assert page.get_by_role("heading", name="Maple Leaf Design").is_visible()

    # An invoice due in 3 days.
    with live_app.app_context():
        today = clock.today("Europe/Paris")
    page.goto("/invoices/new")
    page.get_by_label("Client", exact=True).select_option(label="Maple Leaf Design")
    page.get_by_label("Invoice number", exact=True).fill("F-TEST-001")
    page.get_by_label("Amount", exact=True).fill("1234.56")
    page.get_by_label("Issue date", exact=True).fill(today.isoformat())
    page.get_by_label("Due date", exact=True).fill((today + timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Create invoice").click()
    page.wait_for_url(re.compile(r"/invoices/\d+$"))
    assert page.get_by_role("heading", name="F-TEST-001").is_visible()
    expect(page.locator(".summary .big")).to_have_text("€1,234.56")
    assert page.get_by_text("due in 3 days").first.is_visible()

    # A partial payment changes the balance.
    payment = page.locator("#record-payment")
    payment.get_by_label("Amount", exact=True).fill("234.56")
    payment.get_by_label("Payment date", exact=True).fill(today.isoformat())
    payment.get_by_role("button", name="Record payment").click()
    expect(page.locator(".flash")).to_contain_text("Payment recorded")
    expect(page.locator(".summary .big")).to_have_text("€1,000.00")

    # The list agrees.
    page.goto("/invoices/")
    row = page.get_by_role("link", name=re.compile("Maple Leaf Design"))
    assert "€1,000.00" in row.inner_text()


MAIN_PAGES = [
    "/today",
    "/invoices/",
    "/invoices/?tab=overdue",
    "/invoices/{invoice}",
    "/invoices/new",
    "/clients/",
    "/clients/{client}",
    "/clients/new",
    "/settings/",
    "/settings/profile",
    "/settings/account",
    "/settings/reminders",
    "/reminders/ready",
    "/invoices/{invoice}/email",
    "/settings/templates",
    "/imports/",
]


def test_no_horizontal_scroll_and_big_touch_targets_at_360(page, live_app, mail_sink):
    email = register(page, mail_sink, business="Société Coopérative d'Intérêt Collectif des Artisans Réunis")
    with live_app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == email))
        client = make_client(
            account,
            name="Établissements Vandenberghe-Lefèvre et Fils, Menuiserie Générale",
            email="comptabilite.fournisseurs@etablissements-vandenberghe-lefevre.test",
        )
        today = clock.today(account.timezone)
        invoice = make_invoice(account, client, total_cents=123_456_789, issued_on=today - timedelta(days=45))
        ids = {"client": client.id, "invoice": invoice.id}

    page.set_viewport_size(NARROW)
    for path in MAIN_PAGES:
        page.goto(path.format(**ids))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{path} scrolls sideways at 360 px ({width} px wide)"
        # Every control a thumb uses is at least 44 px tall; links inside a
        # sentence are exempt (WCAG 2.5.8).
        small = page.evaluate(
            """() => [...document.querySelectorAll(
                    'a[href], button, input:not([type=hidden]), select, textarea, summary')]
                .filter((el) => el.checkVisibility())
                .filter((el) => !(el.tagName === 'A' && getComputedStyle(el).display === 'inline'))
                .filter((el) => !(el.type === 'checkbox' || el.type === 'radio'))
                .map((el) => [el.outerHTML.slice(0, 80), Math.round(el.getBoundingClientRect().height)])
                .filter(([, height]) => height < 44)"""
        )
        assert not small, f"{path}: touch targets under 44 px: {small}"


def test_service_worker_registers_and_manifest_is_valid(page, live_app):
    page.goto("/login")
    scope = page.evaluate(
        """() => navigator.serviceWorker.ready.then((registration) => registration.scope)"""
    )
    assert scope == live_app.config["LIVE_URL"] + "/"
    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/manifest.webmanifest"

    response = page.request.get("/manifest.webmanifest")
    assert response.ok
    manifest = json.loads(response.text())
    assert manifest["name"] and manifest["start_url"] and manifest["display"] == "standalone"
    pngs = {icon["sizes"]: icon for icon in manifest["icons"] if icon.get("type") == "image/png"}
    assert {"192x192", "512x512"} <= set(pngs)
    for icon in manifest["icons"]:
        image = page.request.get(icon["src"])
        assert image.ok, icon["src"]
        assert image.headers["content-type"].startswith(icon["type"])

    # The offline page the service worker falls back to is served and precached.
    offline = page.request.get("/offline")
    assert offline.ok
    cached = page.evaluate("() => caches.keys().then((keys) => keys.length)")
    assert cached >= 1


def test_nothing_scrolls_sideways_at_200_percent_zoom(browser, live_app, mail_sink):
    """A 1280x800 window zoomed to 200 % is a 640x400 CSS-pixel viewport at 2 device pixels."""
    context = browser.new_context(
        viewport={"width": 640, "height": 400},
        device_scale_factor=2,
        locale="en-US",
        timezone_id="Europe/Paris",
        base_url=live_app.config["LIVE_URL"],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        email = register(page, mail_sink, business="Zoom Studio")
        with live_app.app_context():
            account = db.session.scalar(select(Account).where(Account.email == email))
            client = make_client(account, name="Maple Leaf Design")
            invoice = make_invoice(account, client)
            ids = {"client": client.id, "invoice": invoice.id}
        for path in ["/login", "/register"] + MAIN_PAGES:
            page.goto(path.format(**ids))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 640, f"{path} scrolls sideways at 200 % zoom ({width} px wide)"
            # The main navigation stays reachable.
            if path not in ("/login", "/register"):
                assert page.get_by_role("navigation", name="Main").is_visible(), path
    finally:
        context.close()
