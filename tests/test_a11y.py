"""Accessibility: axe-core (axe-playwright-python, bundled, offline) finds nothing on
every main page, in English and in French, in light and in dark mode.

The pages are filled like a real account: the demo data (invoices in every
state), one engine pass in automatic mode (sent and skipped steps on the
timelines), then "ask me first" mode with reminders waiting on Ready to send.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import expect
from redis import Redis
from sqlalchemy import select

from app import clock
from app.demo import create_demo
from app.extensions import db
from app.models import Account, Client, Invoice, Reminder
from app.reminders.dispatch import tick

from .livebrowser import DESKTOP, PHONE, LiveServer, app_config, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

EMAIL = "a11y@relance.test"
REDIS_DB = 6
PASSWORD = "a11y-password"

PUBLIC_PAGES = ["/login", "/register", "/password/forgot", "/offline"]
PAGES = [
    "/today",
    "/invoices/",
    "/invoices/?tab=overdue",
    "/invoices/{overdue}",
    "/invoices/{draft}",
    "/invoices/new",
    "/invoices/{overdue}/edit",
    "/invoices/{overdue}/email",
    "/clients/",
    "/clients/{client}",
    "/clients/new",
    "/settings/",
    "/settings/profile",
    "/settings/account",
    "/settings/reminders",
    "/reminders/ready",
    "/settings/templates",
    "/settings/templates/level1/email/fr",
    "/imports/",
    "/imports/review",
    "/collect/batch",
    "/collect/compose?invoice={overdue}",
    "/invoices/{overdue}/level",
    "/invoices/{overdue}/history",
    "/clients/{client}/remind",
    "/clients/{client}/history",
]


def seed() -> dict:
    """The demo account, a pass of the engine yesterday (automatic), then ask-me-first today."""
    zone = ZoneInfo("Europe/Paris")
    today = clock.today("Europe/Paris")
    try:
        clock.set_now(datetime.combine(today - timedelta(days=1), time(10, 0), tzinfo=zone))
        create_demo(EMAIL, PASSWORD)
        account = db.session.scalar(select(Account).where(Account.email == EMAIL))
        tick(inline=True)
        account.reminder_mode = "ask"
        db.session.commit()
        # Whether a step falls due on a given day depends on the weekday (steps move
        # off weekends) and on what the automatic pass sent: pass on, day by day,
        # until the schedule has put something on Ready to send.
        for day in range(8):
            clock.set_now(datetime.combine(today + timedelta(days=day), time(10, 0), tzinfo=zone))
            tick(inline=True)
            if db.session.scalar(select(Reminder).where(Reminder.state == "awaiting_approval")):
                break
    finally:
        clock.set_now(None)
    # A custom schedule shows the day chips and the "add a day" field.
    account.reminder_offsets = "-5,0,3,7,14"
    db.session.commit()

    invoices = db.session.scalars(select(Invoice).where(Invoice.account_id == account.id)).all()
    reminded = {r.invoice_id for r in db.session.scalars(select(Reminder).where(Reminder.state == "sent"))}
    overdue = next(
        i for i in invoices if i.id in reminded and i.paid_cents > 0 and i.balance_cents > 0 and i.is_overdue
    )
    draft = next(i for i in invoices if i.status == "draft" and i.lines)
    waiting = db.session.scalar(select(Reminder).where(Reminder.state == "awaiting_approval"))
    assert waiting is not None, "nothing waits on Ready to send"
    client = db.session.scalar(select(Client).where(Client.id == overdue.client_id))
    return {"overdue": overdue.id, "draft": draft.id, "client": client.id}


@pytest.fixture(scope="module")
def live(redis_server, mail_sink, tmp_path_factory):
    folder = tmp_path_factory.mktemp("a11y")
    # A Redis database of its own, emptied before each test: the many logins stay under
    # the login rate limit without switching off Flask-Limiter (a process-wide switch).
    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis = Redis.from_url(url)
    redis.flushdb()
    server = LiveServer(app_config(folder, url, mail_sink.port))
    with server.app.app_context():
        ids = seed()
    yield server, ids, redis
    server.close()
    redis.flushdb()
    redis.close()


def set_language(app, language):
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == EMAIL))
        account.language = language
        db.session.commit()


def violations(page, where) -> list[str]:
    """axe-core's violations on the page as it is now, one readable block each."""
    found = page.evaluate("axe.run({resultTypes: ['violations']}).then((results) => results.violations)")
    lines = []
    for violation in found:
        nodes = violation["nodes"]
        lines.append(f"{where}: {violation['id']} ({violation['impact']}) x{len(nodes)}: {violation['help']}")
        for node in nodes[:4]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:120]}  [{summary[:200]}]")
    return lines


def log_in(page):
    page.goto("/login")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url("**/today")


# Each language in light and dark, each width in light and dark.
COMBINATIONS = [
    pytest.param("en", "light", PHONE, id="en-light-390"),
    pytest.param("fr", "dark", PHONE, id="fr-dark-390"),
    pytest.param("fr", "light", DESKTOP, id="fr-light-1280"),
    pytest.param("en", "dark", DESKTOP, id="en-dark-1280"),
]


@pytest.mark.parametrize("language,scheme,viewport", COMBINATIONS)
def test_axe_finds_no_violation(browser, live, language, scheme, viewport):
    server, ids, redis = live
    redis.flushdb()
    set_language(server.app, language)
    context = browser.new_context(
        base_url=server.url,
        viewport=viewport,
        locale="fr-FR" if language == "fr" else "en-US",
        timezone_id="Europe/Paris",
        color_scheme=scheme,
        service_workers="block",
    )
    context.set_default_timeout(10_000)
    # axe-core is in every page before the app's own scripts (faster than injecting it each time).
    context.add_init_script(AXE_SCRIPT)
    page = context.new_page()
    problems = []
    try:
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        for path in PUBLIC_PAGES:
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language, path
            problems += violations(page, path)
        # A form answered with errors (422): the messages are tied to their fields.
        page.goto("/login")
        page.locator("form [type=submit]").first.click()
        page.locator(".error").first.wait_for()
        problems += violations(page, "/login (errors)")

        log_in(page)
        for template in PAGES:
            path = template.format(**ids)
            response = page.goto(path)
            assert response.ok, f"{path}: HTTP {response.status}"
            assert page.locator("html").get_attribute("lang") == language, path
            problems += violations(page, path)

        # States that htmx swaps in: the invoice's reminders switched off (and the why),
        # the account's reminders switched off, a refused form.
        page.goto(f"/invoices/{ids['overdue']}")
        switch = page.locator("#invoice-reminders [role=switch]")
        switch.uncheck()
        page.locator("#invoice-reminders .why").wait_for()
        problems += violations(page, "invoice reminders off")
        page.locator("#invoice-reminders [role=switch]").check()
        page.locator("#invoice-reminders .flash").wait_for()

        page.goto("/settings/reminders")
        page.locator("#reminder-settings [role=switch]").uncheck()
        page.locator("#reminder-settings .warn").wait_for()
        problems += violations(page, "account reminders off")
        page.locator("#reminder-settings [role=switch]").check()
        page.locator("#reminder-settings .saved-note").wait_for()
        expect(page.locator("#reminder-settings .warn")).to_have_count(0)

        page.goto("/invoices/new")
        page.locator("form [type=submit]").last.click()
        page.locator(".error").first.wait_for()
        problems += violations(page, "/invoices/new (errors)")
    finally:
        context.close()
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
def test_reduced_motion_stops_transitions_and_spinners(browser, live, motion):
    server, ids, redis = live
    redis.flushdb()
    context = browser.new_context(base_url=server.url, viewport=PHONE, reduced_motion=motion)
    page = context.new_page()
    try:
        log_in(page)
        page.goto(f"/invoices/{ids['overdue']}")
        knob = page.evaluate(
            "getComputedStyle(document.querySelector('.switch-track'), '::after').transitionDuration"
        )
        # A spinner as the email status shows it while sending.
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<span class=\"spinner\"></span>')")
        spin = page.evaluate("getComputedStyle(document.querySelector('.spinner')).animationName")
    finally:
        context.close()
    if motion == "reduce":
        assert (knob, spin) == ("0s", "none")
    else:
        assert knob != "0s" and spin == "spin"
