"""End to end, as people use it: a real browser (Debian's chromium through Playwright)
at a phone size and a desktop size, against the app served over HTTP, a real
`python worker.py` process, the real Redis and the real SMTP sink, and the
`flask reminders tick` command run as its own process — like `make run`.

The web app runs in a thread of the test process (its database is a SQLite
file the worker and the CLI open too); Redis uses its own database number, so
no job left by another test reaches this worker.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from playwright.sync_api import expect
from redis import Redis
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Account, Invoice
from app.reminders import planning
from app.reminders import schedule as rules
from app.views.auth import signin_token

from .conftest import PASSWORD
from .factories import make_account, make_client, make_invoice
from .livebrowser import DESKTOP, PHONE, LiveServer, app_config, follow_confirmation, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 7
SECRET = "e2e-secret"


def redis_url(redis_server) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"


def process_env(server: LiveServer, redis: str, mail_port: int) -> dict:
    """The environment `make run` would give the worker and the CLI, pointed at this test's services."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": server.app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": redis,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail_port),
            "MAIL_TIMEOUT": "5",
            "SECRET_KEY": SECRET,
            "BASE_URL": server.url,
            # The worker's own periodic tick stays out of the way: the test runs the CLI tick.
            "RELANCE_TICK_SECONDS": "3600",
        }
    )
    return env


@pytest.fixture(scope="module")
def stack(redis_server, mail_sink, tmp_path_factory):
    """Web app (thread) + worker (process) on one SQLite file, Redis db 7, the SMTP sink."""
    folder = tmp_path_factory.mktemp("e2e")
    redis = redis_url(redis_server)
    Redis.from_url(redis).flushdb()
    server = LiveServer(app_config(folder, redis, mail_sink.port, SECRET_KEY=SECRET))
    env = process_env(server, redis, mail_sink.port)
    log = open(folder / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    yield server, env, worker, folder / "worker.log"
    worker.terminate()
    try:
        worker.wait(10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)
    log.close()
    server.close()
    Redis.from_url(redis).flushdb()


def new_page(browser, base_url, viewport):
    phone = viewport["width"] < 1024
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,
        locale="en-US",
        timezone_id="Europe/Paris",
        is_mobile=phone,
        has_touch=phone,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return context, page


def nav(page, name):
    """Follow the main navigation (bottom bar on a phone, side bar on a desktop)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def due_in_days(today: date) -> int:
    """3 days, unless the engine would find the −3 step not needed.

    The engine never sends a before-due step on or before the day the invoice
    was sent (schedule.NOT_NEEDED): with an invoice sent today and due in
    exactly 3 days, the −3 step is today, so it would never go. The due date
    moves out until the −3 step (moved off weekends) falls after today.
    """
    days = 3
    while rules.step_day(today + timedelta(days=days), -3, skip_weekends=True) <= today:
        days += 1
    return days


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1280x800"])
def test_invoice_sent_by_email_then_reminded(browser, stack, sink, viewport):
    server, env, worker, worker_log = stack
    assert worker.poll() is None, worker_log.read_text()
    width = viewport["width"]
    owner = f"owner-{width}@e2e.test"
    client_email = f"ap-{width}@mapleleaf.test"
    number = f"F-E2E-{width}"
    context, page = new_page(browser, server.url, viewport)
    try:
        # Register.
        page.goto("/register")
        page.get_by_label("Business name").fill(f"Studio {width}")
        page.get_by_label("Email").fill(owner)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Register").click()
        follow_confirmation(page, sink, owner)

        # The emailed link confirmed the address and signed the owner in: no banner
        # (until then nothing would go to a client, issue 14: no open relay).
        expect(page.locator(".verify-banner")).to_have_count(0)

        # A client with an email.
        nav(page, "Clients")
        page.get_by_role("link", name="New client").first.click()
        page.get_by_label("Name", exact=True).fill("Maple Leaf Design")
        page.get_by_label("Email", exact=True).fill(client_email)
        page.get_by_label("Language", exact=True).select_option("en")
        page.get_by_role("button", name="Save client").click()
        expect(page.get_by_role("heading", name="Maple Leaf Design")).to_be_visible()

        # An invoice due in 3 days (see due_in_days).
        with server.app.app_context():
            account = db.session.scalar(select(Account).where(Account.email == owner))
            timezone = account.timezone
        today = clock.today(timezone)
        days = due_in_days(today)
        nav(page, "Invoices")
        page.get_by_role("link", name="New invoice").first.click()
        page.get_by_label("Client", exact=True).select_option(label="Maple Leaf Design")
        page.get_by_label("Invoice number", exact=True).fill(number)
        page.get_by_label("Amount", exact=True).fill("1234.56")
        page.get_by_label("Issue date", exact=True).fill(today.isoformat())
        page.get_by_label("Due date", exact=True).fill((today + timedelta(days=days)).isoformat())
        page.get_by_role("button", name="Create invoice").click()
        expect(page.get_by_role("heading", name=number)).to_be_visible()
        invoice_url = page.url
        expect(page.locator(".summary .big")).to_have_text("€1,234.56")
        expect(page.locator(".facts")).to_contain_text(format_date(today, "medium", locale="en"))

        # Send it by email: confirm screen, then the worker process sends it.
        page.get_by_role("link", name="Send by email").click()
        expect(page.get_by_role("heading", name="Send by email")).to_be_visible()
        expect(page.get_by_label("To", exact=True)).to_have_value(client_email)
        page.get_by_role("button", name="Send", exact=True).click()
        page.wait_for_url(re.compile(re.escape(invoice_url)))
        expect(page.locator("#email-status")).to_contain_text("Sent by email on", timeout=30_000)
        expect(page.locator("#email-status")).to_contain_text(client_email)
        invoice_mails = sink.to(client_email)
        assert len(invoice_mails) == 1 and number in invoice_mails[0]["Subject"]

        # Reminder frequency: Gentle, then back to Standard (saved in place by htmx).
        nav(page, "Settings")
        page.get_by_role("link", name=re.compile("^Payment reminders")).click()
        expect(page.get_by_role("heading", name="Payment reminders", exact=True)).to_be_visible()
        page.get_by_role("radio", name=re.compile("^Gentle")).check()
        expect(page.locator(".saved-note")).to_be_visible()
        expect(page.get_by_role("radio", name=re.compile("^Gentle"))).to_be_checked()
        expect(page.locator("#reminder-settings .timeline li")).to_have_count(2)
        page.get_by_role("radio", name=re.compile("^Standard")).check()
        expect(page.locator("#reminder-settings .timeline li")).to_have_count(4)
        expect(page.get_by_role("radio", name=re.compile("^Standard"))).to_be_checked()
        with server.app.app_context():
            assert db.session.scalar(select(Account.reminder_offsets).where(Account.email == owner)) == (
                "-3,0,3,7"
            )

        # Reminders off, then on again, for this invoice (the switch on its page).
        page.goto(invoice_url)
        switch = page.get_by_role("switch", name="Send payment reminders")
        expect(switch).to_be_checked()
        switch.uncheck()
        expect(page.locator("#invoice-reminders")).to_contain_text(
            "Payment reminders are off for this invoice."
        )
        expect(page.locator("#invoice-reminders .why")).to_be_visible()
        page.get_by_role("switch", name="Send payment reminders").check()
        expect(page.locator("#invoice-reminders")).to_contain_text(
            "Payment reminders are on for this invoice."
        )
        expect(page.locator("#invoice-reminders .why")).to_have_count(0)
        expect(page.get_by_role("switch", name="Send payment reminders")).to_be_checked()

        # "Send me a preview": three reminders, to the owner only.
        nav(page, "Settings")
        page.get_by_role("link", name=re.compile("^Payment reminders")).click()
        page.get_by_role("button", name="Send me a preview").click()
        expect(page.locator("#preview-result")).to_contain_text(f"Preview sent to {owner}")
        previews = [m for m in sink.messages if m["Subject"].startswith("[Preview]")]
        assert len(previews) == 3, [m["Subject"] for m in previews]
        assert {m["X-Rcpt-To"] for m in previews} == {owner}
        assert len(sink.to(client_email)) == 1  # still only the invoice itself

        # The −3 step: `flask reminders tick --now <that moment>` in its own process.
        with server.app.app_context():
            invoice = db.session.scalar(select(Invoice).where(Invoice.number == number))
            account = db.session.get(Account, invoice.account_id)
            step = next(
                s
                for s in rules.steps(planning.facts_of(invoice), planning.schedule_of(account), clock.now())
                if s.offset == -3
            )
        assert step.status == rules.FUTURE, step
        moment = step.at.astimezone(rules.ZoneInfo(timezone)).isoformat()
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "reminders", "tick", "--now", moment],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        reminders = [m for m in sink.to(client_email) if m not in invoice_mails]
        assert len(reminders) == 1, (done.stdout, [m["Subject"] for m in sink.to(client_email)])
        assert number in reminders[0].get_body(("plain",)).get_content()

        # It shows on the invoice's timeline.
        page.goto(invoice_url)
        sent = page.locator("#invoice-reminders .step-sent")
        expect(sent).to_have_count(1)
        expect(sent).to_contain_text("3 days before the due date")
        expect(sent).to_contain_text(f"Sent on {format_date(step.on, 'M/d/yy', locale='en')}")
        expect(sent).to_contain_text(client_email)

        # French: Settings → Business profile → Language.
        nav(page, "Settings")
        page.get_by_role("link", name=re.compile("^Business profile")).click()
        page.get_by_label("Language", exact=True).select_option("fr")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        navigation = page.get_by_role("navigation", name="Principale")
        expect(navigation).to_contain_text("Factures")
        expect(navigation).to_contain_text("Paramètres")
        page.goto(invoice_url)
        expect(page.get_by_role("heading", name="Envoyer des relances de paiement")).to_be_visible()
        expect(page.locator(".summary .big")).to_have_text(format_currency(1234.56, "EUR", locale="fr_FR"))
        expect(page.locator(".facts")).to_contain_text(format_date(today, "medium", locale="fr"))
        expect(page.locator("#invoice-reminders .step-sent")).to_contain_text(
            f"Envoyée le {format_date(step.on, 'dd/MM/y', locale='fr')}"
        )
        assert not page.js_errors, page.js_errors
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1280x800"])
def test_remind_all_shows_its_progress_then_a_summary(browser, stack, sink, viewport):
    """Invoices → Remind all → the count → Send: the progress while the worker works, then the summary."""
    server, env, worker, worker_log = stack
    assert worker.poll() is None, worker_log.read_text()
    width = viewport["width"]
    owner = f"batch-{width}@e2e.test"
    # The worker's first tick (at its start) is over: the engine leaves these invoices to the batch.
    deadline = time.monotonic() + 60
    while "tick: " not in worker_log.read_text():
        assert time.monotonic() < deadline, worker_log.read_text()
        time.sleep(0.2)
    with server.app.app_context():
        account = make_account(email=owner, timezone="Europe/Paris")
        today = clock.today(account.timezone)
        overdue = {"issued_on": today - timedelta(days=40), "due_on": today - timedelta(days=10)}
        atelier = make_client(account, name="Atelier Nord", email=f"nord-{width}@e2e.test", language="en")
        bureau = make_client(account, name="Bureau Sud", email=f"sud-{width}@e2e.test", language="en")
        make_invoice(account, atelier, number=f"B-{width}-1", total_cents=120_00, **overdue)
        make_invoice(account, atelier, number=f"B-{width}-2", total_cents=80_00, **overdue)
        make_invoice(account, bureau, number=f"B-{width}-3", total_cents=300_00, **overdue)
        # Not due yet: left out of "Remind all".
        make_invoice(
            account, bureau, number=f"B-{width}-4", issued_on=today, due_on=today + timedelta(days=20)
        )
    context, page = new_page(browser, server.url, viewport)
    stopped = False
    try:
        page.goto("/login")
        page.get_by_label("Email").fill(owner)
        page.get_by_label("Password").fill(PASSWORD)
        page.locator("form [type=submit]").first.click()
        page.wait_for_url("**/today")

        nav(page, "Invoices")
        page.get_by_role("link", name="Remind all").click()
        expect(page.get_by_role("heading", name="Remind all")).to_be_visible()
        expect(page.locator("#batch-form [role=status]")).to_have_text("3 invoices · 2 clients")

        # The worker is paused (SIGSTOP) so that the progress can be seen before the sends.
        worker.send_signal(signal.SIGSTOP)
        stopped = True
        page.get_by_role("button", name="Send the reminders").click()
        page.wait_for_url(re.compile(r"/collect/batches/\d+$"))
        progress = page.locator("#batch-progress")
        expect(progress).to_contain_text("Sending…")
        expect(progress.locator("progress")).to_be_visible()
        with page.expect_response(re.compile(r"/collect/batches/\d+/progress$")):
            pass  # it polls while the batch runs
        assert sink.to(f"nord-{width}@e2e.test") == []

        worker.send_signal(signal.SIGCONT)
        stopped = False
        done = progress.locator("[data-state=done]")
        expect(done).to_have_text("Done.", timeout=30_000)
        expect(progress.locator("progress")).to_have_count(0)
        summary = progress.locator(".facts")
        expect(summary.locator("div", has_text="Sent")).to_contain_text("3")
        expect(progress).to_contain_text("Left out")
        expect(progress.get_by_role("link", name="Back to overdue invoices")).to_be_visible()

        # In the SMTP sink: the two of Atelier Nord, the one of Bureau Sud, nothing more.
        subjects = "\n".join(f"{m['X-Rcpt-To']} {m['Subject']}" for m in sink.messages)
        assert len(sink.to(f"nord-{width}@e2e.test")) == 2, subjects
        (sud,) = sink.to(f"sud-{width}@e2e.test")
        assert f"B-{width}-3" in sud["Subject"]
        assert not page.js_errors, page.js_errors
    finally:
        if stopped:
            worker.send_signal(signal.SIGCONT)
        context.close()


def test_offline_page_when_the_server_is_stopped(browser, redis_server, mail_sink, tmp_path):
    server = LiveServer(app_config(tmp_path, redis_url(redis_server), mail_sink.port, SECRET_KEY=SECRET))
    context, page = new_page(browser, server.url, PHONE)
    try:
        # Logged in before the first page: the service worker installs inside a session.
        form = page.request.get("/register").text()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        email = "offline@e2e.test"
        fields = {"csrf_token": token, "business_name": "Offline", "email": email, "password": PASSWORD}
        english = {"Accept-Language": "en-US,en"}
        assert page.request.post("/register", form=fields, headers=english).ok
        with server.app.app_context():
            account = db.session.scalar(select(Account).where(Account.email == email))
            link = "/register/confirm/" + signin_token(account, "confirm")
        form = page.request.get(link).text()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        assert page.request.post(link, form={"csrf_token": token}, headers=english).ok
        page.goto("/today")
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        # The service worker installs (precaching the offline page) and takes control.
        # (a function, not an expression string: Playwright evals those, which the CSP refuses)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        server.stop()
        response = page.goto("/today")
        assert response.from_service_worker
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        expect(page.get_by_role("link", name="Try again")).to_be_visible()
        # The precached page is nobody's: no navigation, no email, no session token.
        expect(page.get_by_role("navigation")).to_have_count(0)
        assert email not in page.content()
        assert not page.js_errors, page.js_errors
    finally:
        context.close()
        server.close()
