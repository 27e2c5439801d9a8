"""The reminder engine end to end: real Redis, real SMTP sink, a burst RQ worker.

Invoice F due on Friday 4 December 2026 (D), default schedule (-3, 0, +3, +7) at
09:00 Europe/Paris, not on weekends.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app import invoicing
from app.extensions import db
from app.models import Account, Invoice, Reminder
from app.reminders.dispatch import QUEUE, tick

from .factories import make_account, make_client, make_invoice

PARIS = ZoneInfo("Europe/Paris")
D = date(2026, 12, 4)
CLIENT = "client@example.com"


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


def run_worker(app):
    connection = Redis.from_url(app.config["REDIS_URL"])
    worker = SimpleWorker([Queue(QUEUE, connection=connection)], connection=connection)
    worker.work(burst=True)
    connection.close()


def tick_and_work(app, fixed_now, moment):
    """One tick at ``moment`` (queueing ids in Redis), then a burst worker."""
    fixed_now(moment)
    with app.app_context():
        report = tick()
        run_worker(app)
    return report


def engine_case(app, fixed_now):
    """An owner, a client with an email and invoice F-2026-014 (due Friday 4 December 2026)
    sent by email on 4 November, the clock then; their ids as {"account", "client", "invoice"}."""
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com", iban="FR7630006000011234567890189")
        client = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice = make_invoice(
            account, client, total_cents=1234_56, issued_on=date(2026, 11, 4), due_on=D, number="F-2026-014"
        )
        return {"account": account.id, "client": client.id, "invoice": invoice.id}


@pytest.fixture
def setup(app, fixed_now):
    """An owner, a client with an email and invoice F sent by email on 4 November."""
    return engine_case(app, fixed_now)


def subjects(sink, address=CLIENT):
    return [m["subject"] for m in sink.to(address)]


def reminders(app, invoice_id):
    with app.app_context():
        return {
            r.step_offset: (r.state, r.reason)
            for r in db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice_id))
        }


def test_default_schedule_sends_each_step_exactly_once(app, setup, sink, fixed_now):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due in 3 days"]
    body = sink.to(CLIENT)[0].get_body(("plain",)).get_content()
    assert "€1,234.56" in body
    assert "FR7630006000011234567890189" in body

    tick_and_work(app, fixed_now, at(2026, 12, 1, 15))  # a second tick the same day
    assert len(sink.to(CLIENT)) == 1

    tick_and_work(app, fixed_now, at(2026, 12, 4, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 12, 9, 5))
    assert subjects(sink) == [
        "Reminder: invoice F-2026-014 is due in 3 days",
        "Reminder: invoice F-2026-014 is due today",
        "Reminder: invoice F-2026-014 is 3 days overdue",
        "Second reminder: invoice F-2026-014 is 7 days overdue",
    ]
    assert {state for state, _ in reminders(app, setup["invoice"]).values()} == {"sent"}
    message = sink.to(CLIENT)[0]
    assert message["Message-ID"].startswith("<reminder-")
    assert message["Reply-To"] == "owner@example.com"
    assert message.get_body(("html",)) is not None


def test_nothing_more_once_paid(app, setup, sink, fixed_now):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    fixed_now(at(2026, 12, 5, 10))
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 12, 5), "transfer")
        db.session.commit()
    for day in (7, 11, 20):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert len(sink.to(CLIENT)) == 1


def test_a_payment_between_planning_and_sending_cancels_the_reminder(app, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        tick()  # planned and queued, not yet sent
        invoice = db.session.get(Invoice, setup["invoice"])
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 12, 1), "transfer")
        db.session.commit()
        run_worker(app)
    assert sink.to(CLIENT) == []
    assert reminders(app, setup["invoice"])[-3] == ("cancelled", "paid")


def test_partial_payment_shows_the_remaining_balance(app, setup, sink, fixed_now):
    fixed_now(at(2026, 11, 20))
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        invoicing.record_payment(invoice, 234_56, date(2026, 11, 20), "transfer")
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    body = sink.to(CLIENT)[0].get_body(("plain",)).get_content()
    assert "Balance due: €1,000.00" in body
    assert "€234.56 already received" in body


def test_invoice_switch_off_sends_nothing(app, setup, sink, fixed_now, client, auth):
    auth.login(email="owner@example.com")
    response = client.form(f"/invoices/{setup['invoice']}/reminders", {}, htmx=True)
    assert response.status_code == 200
    assert "Payment reminders are off for this invoice" in response.get_data(as_text=True)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9))
    assert sink.to(CLIENT) == []
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "payment reminders are switched off for this invoice" in page
    # back on: the next step goes
    client.form(f"/invoices/{setup['invoice']}/reminders", {"enabled": "1"})
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9))
    assert subjects(sink) == ["Second reminder: invoice F-2026-014 is 7 days overdue"]


def test_account_switch_off_sends_nothing(app, setup, sink, fixed_now):
    with app.app_context():
        account = db.session.get(Account, setup["account"])
        account.reminders_enabled = False
        from app.reminders.planning import replan_account

        replan_account(account)
        db.session.commit()
    for day in (1, 4, 7, 11):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.to(CLIENT) == []


def test_client_without_email_is_skipped_with_the_reason_shown(app, fixed_now, sink, client, auth):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        nomail = make_client(account, name="Cabinet Roussel", email=None)
        invoice = make_invoice(account, nomail, issued_on=date(2026, 11, 4), due_on=D)
        invoice_id = invoice.id
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert sink.messages == []
    assert reminders(app, invoice_id)[-3] == ("skipped", "no_email")
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "Skipped: the client has no email address" in page


@pytest.mark.parametrize("via", ["post", "hand"])
def test_not_sent_by_email_gets_no_reminders(app, fixed_now, sink, via):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account()
        make_invoice(account, make_client(account), issued_on=date(2026, 11, 4), due_on=D, sent_via=via)
        make_invoice(account, make_client(account), issued_on=date(2026, 11, 4), due_on=D, sent=False)
    for day in (1, 4, 7, 11):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.messages == []


def test_smtp_421_is_retried_later_and_sent_once(app, setup, sink, fixed_now, client, auth):
    sink.handler.reply_to_data = "421 4.3.2 Try again later"
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert reminders(app, setup["invoice"])[-3] == ("failed", "temporary")
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "Next try" in page
    sink.handler.reply_to_data = None
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 2))  # too early for the retry
    assert sink.to(CLIENT) == []
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 6))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 30))
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due in 3 days"]
    assert reminders(app, setup["invoice"])[-3] == ("sent", "")


def test_smtp_550_fails_visibly_and_the_owner_gets_a_digest(app, setup, sink, fixed_now, client, auth):
    sink.handler.reply_to_data = "550 5.1.1 No such user"
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert reminders(app, setup["invoice"])[-3] == ("failed", "refused")
    sink.handler.reply_to_data = None
    tick_and_work(app, fixed_now, at(2026, 12, 1, 12))
    assert sink.to(CLIENT) == []  # never resent
    digests = sink.to("owner@example.com")
    assert len(digests) == 1
    assert "F-2026-014" in digests[0].get_body(("plain",)).get_content()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 18))
    assert len(sink.to("owner@example.com")) == 1  # once a day
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "Failed: the mail server refused it" in page


def test_redis_flushall_between_planning_and_sending(app, setup, sink, fixed_now, redis_client):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        report = tick()
        assert report.enqueued == 1
        redis_client.flushall()
        run_worker(app)  # nothing left in Redis
        assert sink.to(CLIENT) == []
        tick()  # re-queues from the database
        run_worker(app)
        tick()
        run_worker(app)
    assert len(sink.to(CLIENT)) == 1


def test_downtime_sends_only_the_latest_step(app, setup, sink, fixed_now, client, auth):
    # Nothing ran from 30 November to Monday 7 December 10:00.
    tick_and_work(app, fixed_now, at(2026, 12, 7, 10))
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is 3 days overdue"]
    assert reminders(app, setup["invoice"]) == {
        -3: ("skipped", "due_date_reached"),
        0: ("skipped", "superseded"),
        3: ("sent", ""),
    }
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "Skipped: a later reminder was due at the same time" in page


def test_preview_reaches_only_the_owner(app, setup, sink, client, auth, fixed_now):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email="owner@example.com")
    response = client.form("/settings/reminders/preview", {}, htmx=True)
    assert response.status_code == 200
    assert "Preview sent to owner@example.com" in response.get_data(as_text=True)
    assert sink.to(CLIENT) == []
    got = subjects(sink, "owner@example.com")
    assert len(got) == 3
    assert all(s.startswith("[Preview] Reminder: invoice F-2026-014") for s in got)
    assert {m["X-Rcpt-To"] for m in sink.messages} == {"owner@example.com"}


def test_preview_is_rate_limited(app, setup, sink, client, auth):
    auth.login(email="owner@example.com")
    for _ in range(5):
        assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    response = client.form("/settings/reminders/preview", {}, htmx=True)
    assert response.status_code == 429
    assert len(sink.messages) == 15


def test_send_invoice_by_email_once_even_on_double_submit(app, fixed_now, sink, client, auth):
    fixed_now(at(2026, 11, 23, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        invoice = make_invoice(
            account,
            make_client(account, email=CLIENT, language="en"),
            sent=False,
            issued_on=date(2026, 11, 23),
            due_on=D,
            number="F-2026-020",
        )
        invoice_id = invoice.id
    auth.login(email="owner@example.com")
    form = client.get(f"/invoices/{invoice_id}/email").get_data(as_text=True)
    assert "Invoice F-2026-020 from" in form
    import re

    key = re.search(r'name="key" type="hidden" value="([0-9a-f]+)"', form).group(1)
    data = {"key": key, "to": CLIENT, "subject": "Invoice F-2026-020", "message": "Hello <b>"}
    assert client.form(f"/invoices/{invoice_id}/email", data).status_code == 302
    assert client.form(f"/invoices/{invoice_id}/email", data).status_code == 302  # double click
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "Sending… to client@example.com" in page
    with app.app_context():
        run_worker(app)
    assert subjects(sink) == ["Invoice F-2026-020"]
    html = sink.to(CLIENT)[0].get_body(("html",)).get_content()
    assert "Hello &lt;b&gt;" in html
    status = client.get(f"/invoices/{invoice_id}/email/status").get_data(as_text=True)
    assert "Sent by email on" in status
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert (invoice.status, invoice.sent_via) == ("sent", "email_relance")
    # It now counts as sent by email: the -3 step goes.
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert subjects(sink)[-1] == "Reminder: invoice F-2026-020 is due in 3 days"


def test_changing_the_schedule_replans(app, setup, sink, client, auth, fixed_now):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email="owner@example.com")
    response = client.form(
        "/settings/reminders",
        {"enabled": "y", "preset": "gentle", "send_time": "09:00", "skip_weekends": "y"},
    )
    assert response.status_code == 302
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))  # no -3 step any more
    assert sink.to(CLIENT) == []
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9))
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due today"]


def test_custom_days_are_validated(app, setup, client, auth):
    auth.login(email="owner@example.com")
    base = {"enabled": "y", "preset": "custom", "offsets": "-3,0,3,7", "send_time": "09:00"}
    response = client.form("/settings/reminders", {**base, "add_offset": "3", "action": "add"})
    assert response.status_code == 422
    assert "already in your schedule" in response.get_data(as_text=True)
    response = client.form("/settings/reminders", {**base, "add_offset": "120", "action": "add"})
    assert response.status_code == 422
    response = client.form("/settings/reminders", {**base, "send_time": "25:00"})
    assert response.status_code == 422
    response = client.form("/settings/reminders", {**base, "add_offset": "14", "action": "add"}, htmx=True)
    assert response.status_code == 200
    assert "Saved." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Account, setup["account"]).reminder_offsets == "-3,0,3,7,14"


def test_reminders_in_the_clients_language(app, fixed_now, sink):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account()
        french = make_client(account, email="fr@example.com", language="fr")
        make_invoice(account, french, issued_on=date(2026, 11, 4), due_on=D, number="F-2026-030")
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))
    subject = sink.to("fr@example.com")[0]["subject"]
    assert "F-2026-030" in subject
    assert "Rappel" in subject


def test_owner_can_resend_a_failed_reminder_once(app, setup, sink, fixed_now, client, auth):
    sink.handler.reply_to_data = "550 5.2.2 Mailbox full"
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    sink.handler.reply_to_data = None
    with app.app_context():
        reminder_id = db.session.scalar(select(Reminder.id).where(Reminder.state == "failed"))
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "Send it again" in page
    url = f"/invoices/{setup['invoice']}/reminders/{reminder_id}/resend"
    assert client.form(url).status_code == 302
    assert client.form(url).status_code == 302  # a second click changes nothing
    with app.app_context():
        run_worker(app)
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due in 3 days"]
    assert reminders(app, setup["invoice"])[-3] == ("sent", "")
    again = client.form(url, follow_redirects=True).get_data(as_text=True)
    assert "cannot be sent again" in again
    assert len(sink.to(CLIENT)) == 1
