"""Review of the reminder engine: each test proves a rule of DESIGN.md that can be
broken today. They are marked xfail(strict=True) until the bug is fixed: when a
fix lands the test passes, strict xfail turns that into a failure, and the
marker must be removed.

Real Redis, real SMTP sinks, SQLite and PostgreSQL; time moved with the clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import date, time
from email.utils import getaddresses
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text

from app import invoicing
from app.extensions import db
from app.mailsink import MailSink, SinkHandler
from app.models import Account, Invoice, Payment
from app.reminders import planning
from app.reminders.dispatch import enqueue_ready, tick
from app.reminders.schedule import InvoiceFacts, Schedule, steps
from app.reminders.sending import send_batch

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, D, at, engine_case, reminders, run_worker, subjects, tick_and_work

PARIS = ZoneInfo("Europe/Paris")
OWNER = "owner@example.com"


@pytest.fixture
def case(app, fixed_now):
    """As tests/test_engine.py: an owner, a client with an email, invoice F-2026-014
    (due Friday 4 December 2026) sent by email on 4 November; default schedule."""
    return engine_case(app, fixed_now)


def no_propagation(app):
    """Let the app's own 500 handler answer, so a crash shows as a status code."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.testing = False


# --- 1. Bad input in the reminder views -------------------------------------------------


def test_ready_post_with_a_unicode_digit_is_not_a_500(app, case, client, auth):
    no_propagation(app)
    auth.login(email=OWNER)
    response = client.form("/reminders/ready", {"reminder": "²"})
    assert response.status_code in (400, 422)


def test_a_far_future_due_date_does_not_stop_everybody_s_reminders(app, case, sink, fixed_now, client, auth):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    form = {
        "client_id": str(case["client"]),
        "number": "F-2026-999",
        "amount": "10",
        "currency": "EUR",
        "issued_on": "2026-11-23",
        "due_on": "9999-12-30",
        "payment_method": "transfer",
        "reminders_enabled": "y",
    }
    assert client.form("/invoices/new", form).status_code == 422  # the form refuses it
    # An import (or an old row) can still carry one: it must not stop the planner.
    with app.app_context():
        form["due_on"] = "2026-12-30"
        assert client.form("/invoices/new", form).status_code == 302
        far = db.session.scalar(select(Invoice).where(Invoice.number == "F-2026-999"))
        far.due_on = date(9999, 12, 30)
        invoicing.mark_sent(far, "email_other")
        db.session.commit()
    # The other invoice (F-2026-014, due 4 December) must still get its -3 reminder.
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due in 3 days"]


def test_a_far_future_due_date_does_not_break_the_invoice_page(app, case, client, auth, fixed_now):
    no_propagation(app)
    fixed_now(at(2026, 11, 23, 10))
    with app.app_context():
        invoice = db.session.get(Invoice, case["invoice"])
        invoice.due_on = date(9999, 12, 30)
        planning.replan(invoice)
        db.session.commit()
    auth.login(email=OWNER)
    assert client.get(f"/invoices/{case['invoice']}").status_code == 200


# --- 2. Changes re-plan (rule 6) --------------------------------------------------------


def test_a_schedule_change_cancels_a_waiting_step_that_left_the_schedule(
    app, case, sink, fixed_now, client, auth
):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        assert tick().enqueued == 1  # the -3 step is decided and queued; no worker yet
    auth.login(email=OWNER)
    response = client.form(
        "/settings/reminders",
        {"enabled": "y", "mode": "auto", "preset": "gentle", "send_time": "09:00", "skip_weekends": "y"},
    )
    assert response.status_code == 302
    with app.app_context():
        run_worker(app)
    assert sink.to(CLIENT) == []  # "Gentle" has no step before the due date
    state, reason = reminders(app, case["invoice"])[-3]
    assert state == "cancelled"


def test_moving_the_due_date_replans_a_waiting_step(app, case, sink, fixed_now):
    sink.handler.reply_to_data = "421 4.3.2 Try again later"
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9))  # step 0 fails, retry at 09:05
    assert reminders(app, case["invoice"])[0] == ("failed", "temporary")
    sink.handler.reply_to_data = None
    fixed_now(at(2026, 12, 4, 9, 2))
    with app.app_context():  # what views/invoices.py edit does: new due date, then replan
        invoice = db.session.get(Invoice, case["invoice"])
        invoice.due_on = date(2026, 12, 31)
        invoice.terms_days = (invoice.due_on - invoice.issued_on).days
        planning.replan(invoice)
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9, 10))
    # Nothing may go today: the invoice is due in 27 days and no step falls today.
    assert subjects(sink) == []
    tick_and_work(app, fixed_now, at(2026, 12, 28, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 31, 9, 5))
    assert subjects(sink)[-1] == "Reminder: invoice F-2026-014 is due today"


def _delete_the_payment(app, fixed_now, client, auth, case):
    fixed_now(at(2026, 12, 4, 9, 1))
    with app.app_context():
        invoice = db.session.get(Invoice, case["invoice"])
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 12, 4), "transfer")
        db.session.commit()
    fixed_now(at(2026, 12, 4, 9, 2))
    with app.app_context():  # a mistake: the payment was for another invoice
        invoice = db.session.get(Invoice, case["invoice"])
        payment = db.session.scalar(select(Payment).where(Payment.invoice_id == invoice.id))
        invoicing.delete_payment(invoice, payment)
        db.session.commit()
        assert invoice.status == "sent"


def _switch_off_and_on(app, fixed_now, client, auth, case):
    auth.login(email=OWNER)
    fixed_now(at(2026, 12, 4, 9, 1))
    client.form(f"/invoices/{case['invoice']}/reminders", {})  # off
    fixed_now(at(2026, 12, 4, 9, 2))
    client.form(f"/invoices/{case['invoice']}/reminders", {"enabled": "1"})  # on again


@pytest.mark.parametrize(
    "change", [_delete_the_payment, _switch_off_and_on], ids=["payment_deleted", "switch_back_on"]
)
def test_a_step_cancelled_by_a_change_that_was_undone_still_goes(
    app, case, sink, fixed_now, client, auth, change
):
    fixed_now(at(2026, 12, 4, 9))
    with app.app_context():
        assert tick().enqueued == 1  # step 0 decided and queued
    change(app, fixed_now, client, auth, case)
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 4, 15))
    # The invoice is unpaid, reminders are on, it is its due date: the owner expects
    # the due-date reminder; today it stays "cancelled: paid / switched off" for good.
    assert subjects(sink) == ["Reminder: invoice F-2026-014 is due today"]


# --- 3. Time (rules 1 and 2) ------------------------------------------------------------


def test_zero_day_terms_grace_still_sends_at_or_after_the_send_time():
    # 0-day terms, dated and due 1 December, sent on 3 December at 16:00.
    invoice = InvoiceFacts(due_on=date(2026, 12, 1), sent_at=at(2026, 12, 3, 16), terms_days=0)
    schedule = Schedule(offsets=(1,), skip_weekends=False)
    [step] = steps(invoice, schedule, at(2026, 12, 3, 17))
    local = step.at.astimezone(PARIS)
    assert local.time() >= time(9, 0), f"the +1 reminder would go at {local:%Y-%m-%d %H:%M} Paris time"


# --- 4. No transaction open during SMTP -------------------------------------------------


class ProbeHandler(SinkHandler):
    """Refuses mail to the client (so a digest is due) and, while the owner's message
    is in DATA, looks whether the app holds a database transaction."""

    def __init__(self, database_url):
        super().__init__()
        self.database_url = database_url
        self.findings: list[str] = []

    def probe(self) -> str:
        if self.database_url.startswith("sqlite"):
            path = self.database_url.removeprefix("sqlite:///")
            connection = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                return "free"
            except sqlite3.OperationalError as error:
                return f"sqlite write lock held: {error}"
            finally:
                connection.close()
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                count = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
            return "free" if count == 0 else f"{count} session(s) idle in transaction"
        finally:
            engine.dispose()

    async def handle_DATA(self, server, session, envelope):
        if CLIENT in envelope.rcpt_tos:
            return "550 5.1.1 No such user"
        self.findings.append(self.probe())
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def probe_sink(app):
    sink = MailSink()
    sink.handler = ProbeHandler(app.config["SQLALCHEMY_DATABASE_URI"])
    sink.controller.handler = sink.handler
    sink.start()
    app.config["MAIL_PORT"] = sink.port
    yield sink
    sink.stop()


def test_the_daily_digest_is_mailed_with_no_transaction_open(app, case, fixed_now, probe_sink):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        tick(inline=True)  # the -3 reminder is refused (550): the digest goes out
        db.session.remove()
    assert len(probe_sink.to(OWNER)) == 1
    assert probe_sink.handler.findings == ["free"]


def test_the_preview_is_mailed_with_no_transaction_open(app, case, fixed_now, probe_sink, client, auth):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    assert probe_sink.handler.findings == ["free", "free", "free"]


# --- 5. What the client receives: headers from user text ----------------------------------


def test_a_business_name_with_a_comma_gives_one_sender(app, case, sink, fixed_now):
    with app.app_context():
        account = db.session.get(Account, case["account"])
        account.business_name = "Dupont, Martin & Associés"
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    [message] = sink.to(CLIENT)
    senders = getaddresses([str(message["From"])])
    assert len(senders) == 1, senders
    assert senders[0][1].endswith("@relance.test")


def test_send_by_email_subject_cannot_inject_headers(app, case, sink, fixed_now, client, auth):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    data = {
        "key": "a" * 32,
        "to": CLIENT,
        "subject": "Invoice F-2026-014\r\nX-Injected: yes",
        "message": "Hello",
    }
    response = client.form(f"/invoices/{case['invoice']}/email", data)
    if response.status_code == 422:
        return  # refused with a message: fine
    with app.app_context():
        run_worker(app)
    [message] = sink.to(CLIENT)
    assert message["X-Injected"] is None


def test_an_invoice_number_cannot_inject_headers_into_reminders(app, case, sink, fixed_now, client, auth):
    fixed_now(at(2026, 11, 4, 10))
    auth.login(email=OWNER)
    response = client.form(
        "/invoices/new",
        {
            "client_id": str(case["client"]),
            "number": "F-2026-077\r\nX-Injected: yes",
            "amount": "10",
            "currency": "EUR",
            "issued_on": "2026-11-04",
            "due_on": "2026-12-04",
            "payment_method": "transfer",
            "reminders_enabled": "y",
        },
    )
    if response.status_code == 422:
        return  # refused with a message: fine
    with app.app_context():
        invoice = db.session.scalar(select(Invoice).where(Invoice.number.like("F-2026-077%")))
        invoicing.mark_sent(invoice, "email_other")
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert len(sink.to(CLIENT)) == 2
    assert [m["X-Injected"] for m in sink.to(CLIENT)] == [None, None]


def test_client_text_is_escaped_in_the_reminder_html(app, case, sink, fixed_now):
    with app.app_context():
        account = db.session.get(Account, case["account"])
        account.business_name = "Studio <i>Test</i>"
        account.address = "1 rue <script>x</script>"
        invoice = db.session.get(Invoice, case["invoice"])
        invoice.client.name = "Atelier <b>Moreau</b>"
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    html = sink.to(CLIENT)[0].get_body(("html",)).get_content()
    assert "<b>Moreau" not in html and "&lt;b&gt;Moreau" in html
    assert "<script>" not in html and "<i>Test" not in html


# --- 6. Reminder views: other ids, outcomes shown -----------------------------------------


def test_resend_with_an_id_beyond_the_database_integer_is_a_404(app, case, client, auth):
    no_propagation(app)
    auth.login(email=OWNER)
    url = f"/invoices/{case['invoice']}/reminders/{10**22}/resend"
    assert client.form(url, {}).status_code == 404


def test_a_non_ascii_client_address_fails_visibly_instead_of_sticking_in_sending(app, case, sink, fixed_now):
    with app.app_context():
        invoice = db.session.get(Invoice, case["invoice"])
        invoice.client.email = "jérôme@example.com"  # ClientForm accepts it (email_validator, SMTPUTF8)
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert reminders(app, case["invoice"])[-3][0] in ("sent", "failed")
    # Not "unknown: it may have arrived" after the lease: it never left.
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 10))
    assert reminders(app, case["invoice"])[-3][0] in ("sent", "failed")


def test_ask_me_first_timeline_does_not_say_every_step_is_behind_us(app, case, client, auth, fixed_now):
    with app.app_context():
        account = db.session.get(Account, case["account"])
        account.reminder_mode = "ask"
        account.reminder_offsets = "0"
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9))
    assert reminders(app, case["invoice"])[0] == ("awaiting_approval", "")
    auth.login(email=OWNER)
    page = client.get(f"/invoices/{case['invoice']}").get_data(as_text=True)
    assert "Waiting for your approval" in page
    assert "every step of your reminder schedule for this invoice is behind us" not in page


# --- 7. A worker must survive a database error ------------------------------------------


def test_one_database_error_does_not_poison_the_worker_for_every_later_job(app, fixed_now, sink):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip("PostgreSQL aborts the transaction on an error; SQLite recovers")
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        for n in range(3):
            make_invoice(
                account,
                make_client(account, email=f"c{n}@example.com", language="en"),
                issued_on=date(2026, 11, 4),
                due_on=D,
                number=f"F-2026-10{n}",
            )
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        planning.plan_due()
        ids = planning.ready_ids()
        assert len(ids) == 3
        for reminder_id in ids:  # one job each, as separate ticks or clicks would queue them
            enqueue_ready([reminder_id])
        database = db.session.scalar(text("SELECT current_database()"))
        db.session.commit()
    # A lock timeout (a usual production setting) makes the first job's claim fail
    # while something else holds that reminder's row for a moment.
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    holder = create_engine(url)
    with admin.connect() as connection:
        connection.execute(text(f"ALTER DATABASE \"{database}\" SET lock_timeout = '1s'"))
    try:
        with app.app_context():
            db.engine.dispose()  # new connections take the setting
        held = threading.Event()

        def hold():
            with holder.connect() as connection:
                connection.execute(text("SELECT id FROM reminder WHERE id = :i FOR UPDATE"), {"i": ids[0]})
                held.set()
                threading.Event().wait(3)
                connection.rollback()

        thread = threading.Thread(target=hold)
        thread.start()
        held.wait(10)
        with app.app_context():  # one worker, one app context, as worker.py runs it
            run_worker(app)
        thread.join()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" RESET lock_timeout'))
        admin.dispose()
        holder.dispose()
    # The two other reminders were free: the worker must have sent them.
    assert sorted(m["X-Rcpt-To"] for m in sink.messages) == ["c1@example.com", "c2@example.com"]


# --- 8. A send that outlives its lease ----------------------------------------------------


class LateAnswer(SinkHandler):
    """Takes the message, then waits a moment before answering 250."""

    def __init__(self):
        super().__init__()
        self.arrived = threading.Event()
        self.answer = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        self.arrived.set()
        while not self.answer.is_set():
            await asyncio.sleep(0.05)
        return reply


def test_a_send_that_outlives_its_lease_still_records_sent(app, case, fixed_now):
    late = MailSink()
    late.handler = LateAnswer()
    late.controller.handler = late.handler
    late.start()
    app.config["MAIL_PORT"] = late.port
    fixed_now(at(2026, 12, 1, 9))
    outcome = {}

    def work():
        with app.app_context():
            ids = planning.ready_ids()
            outcome.update(send_batch(ids))

    try:
        with app.app_context():
            planning.plan_due()
        worker = threading.Thread(target=work)
        worker.start()
        assert late.handler.arrived.wait(10)
        # A slow server, or a ticking machine whose clock is ahead: the lease looks over.
        fixed_now(at(2026, 12, 1, 9, 6))
        with app.app_context():
            assert planning.sweep_lost() == 1
        late.handler.answer.set()
        worker.join(20)
    finally:
        late.handler.answer.set()
        late.stop()
    assert outcome == {"sent": 1}  # the server said 250: the worker knows it went
    # ...but the row says "unknown: it may have arrived" and offers "Send it again".
    assert reminders(app, case["invoice"])[-3] == ("sent", "")


# --- 9. A reminder that cannot be rendered ------------------------------------------------


def test_a_reminder_that_cannot_be_rendered_fails_visibly_and_the_batch_goes_on(
    app, fixed_now, sink, monkeypatch, client, auth
):
    from app.documents import outgoing
    from app.models import Reminder

    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        ids = {}
        for name in ("Broken", "Fine"):
            customer = make_client(account, name=name, email=f"{name.lower()}@example.com", language="en")
            invoice = make_invoice(
                account, customer, issued_on=date(2026, 11, 4), due_on=D, number=f"F-2026-{name}"
            )
            ids[name] = invoice.id
    real = outgoing.reminder_email

    def reminder_email(account, customer, invoices, *args, **kwargs):
        if customer.name == "Broken":  # e.g. a text or a value the renderer chokes on
            raise RuntimeError("cannot render this one")
        return real(account, customer, invoices, *args, **kwargs)

    monkeypatch.setattr(outgoing, "reminder_email", reminder_email)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    # The other reminder of the batch went.
    assert [m["X-Rcpt-To"] for m in sink.messages] == ["fine@example.com"]
    assert reminders(app, ids["Fine"])[-3] == ("sent", "")
    # The broken one is failed (certainly not sent), with the error, not left in sending.
    assert reminders(app, ids["Broken"])[-3] == ("failed", "render_error")
    with app.app_context():
        row = db.session.scalar(select(Reminder).where(Reminder.invoice_id == ids["Broken"]))
        assert "cannot render this one" in row.last_error
        assert row.next_attempt_at is None
    # Later ticks neither sweep it to "unknown" nor send it.
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 10))
    assert reminders(app, ids["Broken"])[-3] == ("failed", "render_error")
    assert [m["X-Rcpt-To"] for m in sink.messages if m["X-Rcpt-To"] != OWNER] == ["fine@example.com"]
    auth.login(email=OWNER)
    page = client.get(f"/invoices/{ids['Broken']}").get_data(as_text=True)
    assert "could not be prepared" in page


def test_an_address_the_idna_codec_refuses_fails_visibly_and_the_batch_goes_on(app, fixed_now, sink):
    """Review of the one-transaction send path: an imported address that passes the
    import's shape check but that the IDNA codec refuses (a UnicodeError, not a
    UnicodeEncodeError) is failed at once; it was left in "sending" (then swept to
    "unknown") and stopped the rest of its batch."""
    app.config["REMINDER_PDF"] = False
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        ids = {}
        for name, email in (("Broken", "paul@ex\u00e4mple..com"), ("Fine", "fine@example.com")):
            customer = make_client(account, name=name, email=email, language="en")
            invoice = make_invoice(
                account, customer, issued_on=date(2026, 11, 4), due_on=D, number=f"F-{name}"
            )
            ids[name] = invoice.id
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert reminders(app, ids["Broken"])[-3] == ("failed", "refused")
    assert reminders(app, ids["Fine"])[-3] == ("sent", "")
    assert [m["X-Rcpt-To"] for m in sink.messages] == ["fine@example.com"]


def test_a_database_error_after_the_claim_puts_the_reminder_back_in_line(app, fixed_now, sink, monkeypatch):
    """A claimed reminder that certainly did not go (the error came before its SMTP
    exchange) is not left in "sending" (which would end as "unknown" after the lease):
    it is scheduled again and the next tick sends it, once."""
    from sqlalchemy.exc import OperationalError

    from app.documents import outgoing

    app.config["REMINDER_PDF"] = False
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        customer = make_client(account, name="Only", email="only@example.com", language="en")
        invoice_id = make_invoice(account, customer, issued_on=date(2026, 11, 4), due_on=D, number="F-1").id
    real = outgoing.finish_attachments
    calls = []

    def finish_attachments(pending):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT INTO pdf_cache", {}, Exception("disk I/O error"))
        return real(pending)

    monkeypatch.setattr(outgoing, "finish_attachments", finish_attachments)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))  # the job fails with the error
    assert reminders(app, invoice_id)[-3] == ("scheduled", "")
    assert sink.messages == []
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 10))
    assert reminders(app, invoice_id)[-3] == ("sent", "")
    assert [m["X-Rcpt-To"] for m in sink.messages] == ["only@example.com"]
