"""Ask-me-first (semi-automatic) mode: due reminders wait for one click."""

import re
from datetime import date

from sqlalchemy import select

from app import invoicing
from app.extensions import db
from app.models import Invoice, Reminder

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, D, at, run_worker, subjects, tick_and_work

SETTINGS = {"enabled": "y", "preset": "standard", "send_time": "09:00", "skip_weekends": "y"}


def _ask_mode(app, client, auth, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        first = make_invoice(
            account,
            make_client(account, email=CLIENT, language="en"),
            issued_on=date(2026, 11, 4),
            due_on=D,
            number="F-2026-041",
        )
        other = make_invoice(
            account,
            make_client(account, email="b@example.com", language="en"),
            issued_on=date(2026, 11, 4),
            due_on=D,
            number="F-2026-042",
        )
        ids = first.id, other.id
    auth.login(email="owner@example.com")
    assert client.form("/settings/reminders", {**SETTINGS, "mode": "ask"}).status_code == 302
    return ids


def _checked_ids(page):
    return re.findall(r'name="reminder" value="(\d+)"', page)


def test_ask_mode_prepares_and_sends_on_one_click(app, client, auth, fixed_now, sink):
    _ask_mode(app, client, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert sink.messages == []
    home = client.get("/today").get_data(as_text=True)
    assert "2 reminders are ready to send" in home
    page = client.get("/reminders/ready").get_data(as_text=True)
    assert "Reconcile your payments first." in page
    assert "F-2026-041" in page and "F-2026-042" in page
    ids = _checked_ids(page)
    data = {"reminder": ids}
    assert client.form("/reminders/ready", data).status_code == 302
    assert client.form("/reminders/ready", data).status_code == 302  # sent twice: once
    with app.app_context():
        run_worker(app)
    assert subjects(sink) == ["Reminder: invoice F-2026-041 is due in 3 days"]
    assert len(sink.to("b@example.com")) == 1
    assert "Nothing is waiting" in client.get("/reminders/ready").get_data(as_text=True)


def test_ask_mode_sends_only_the_selection_and_rechecks(app, client, auth, fixed_now, sink):
    first, _other = _ask_mode(app, client, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    with app.app_context():
        rows = {r.invoice_id: r.id for r in db.session.scalars(select(Reminder))}
        # Paid while waiting: approving it later must not remind the client.
        invoice = db.session.get(Invoice, first)
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 12, 2), "transfer")
        db.session.commit()
    fixed_now(at(2026, 12, 2, 10))
    response = client.form("/reminders/ready", {"reminder": [str(rows[first])]})
    assert response.status_code == 302
    with app.app_context():
        run_worker(app)
    assert sink.to(CLIENT) == []
    assert client.form("/reminders/ready", {}).status_code == 422


def test_back_to_automatic_sends_what_was_waiting(app, client, auth, fixed_now, sink):
    _ask_mode(app, client, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    fixed_now(at(2026, 12, 1, 10))
    assert client.form("/settings/reminders", {**SETTINGS, "mode": "auto"}).status_code == 302
    tick_and_work(app, fixed_now, at(2026, 12, 1, 10, 5))
    assert len(sink.messages) == 2


def test_another_accounts_reminder_cannot_be_approved(app, client, auth, fixed_now, sink):
    _ask_mode(app, client, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    with app.app_context():
        ids = [str(i) for i in db.session.scalars(select(Reminder.id))]
        make_account(email="intruder@example.com")
    auth.logout()
    auth.login(email="intruder@example.com")
    client.form("/reminders/ready", {"reminder": ids})
    with app.app_context():
        run_worker(app)
    assert sink.messages == []


def test_ask_mode_with_grouping_sends_one_email_per_client(app, client, auth, fixed_now, sink):
    """The two-invoice example in ask-me-first mode: A1 (already at level 1, its +7
    step → level 2) and A2 (never reminded, +3 → level 1) of one client, approved
    together, go as ONE level-2 email (key: client, step, day); both move to level 2.
    Another client's single reminder goes on its own."""
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        a = make_client(account, email=CLIENT, language="en")
        a1 = make_invoice(
            account, a, issued_on=date(2026, 11, 4), due_on=date(2026, 11, 30), number="A1", reminder_level=1
        ).id
        a2 = make_invoice(account, a, issued_on=date(2026, 11, 4), due_on=D, number="A2").id
        b1 = make_invoice(
            account,
            make_client(account, email="b@example.com", language="en"),
            issued_on=date(2026, 11, 4),
            due_on=D,
            number="B1",
        ).id
        client_id = a.id
    auth.login(email="owner@example.com")
    assert client.form("/settings/reminders", {**SETTINGS, "mode": "ask"}).status_code == 302
    assert client.form("/settings/reminders/grouping", {"group_reminders": "1"}).status_code == 302
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # Monday: A1 +7, A2 and B1 +3
    assert sink.messages == []
    page = client.get("/reminders/ready").get_data(as_text=True)
    assert "each client gets one email" in page
    ids = _checked_ids(page)
    assert len(ids) == 3
    assert client.form("/reminders/ready", {"reminder": ids}).status_code == 302
    assert client.form("/reminders/ready", {"reminder": ids}).status_code == 302  # sent twice: once
    with app.app_context():
        run_worker(app)
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))  # a later tick sends nothing more
    (message,) = sink.to(CLIENT)
    assert message["subject"] == "Second reminder: 2 unpaid invoices"
    body = message.get_body(("plain",)).get_content()
    assert "A1" in body and "A2" in body
    assert subjects(sink, "b@example.com") == ["Reminder: invoice B1 is 3 days overdue"]
    with app.app_context():
        levels = dict(
            db.session.execute(
                select(Invoice.id, Invoice.reminder_level).where(Invoice.id.in_([a1, a2, b1]))
            ).all()
        )
        assert levels == {a1: 2, a2: 2, b1: 1}
        (grouped,) = db.session.scalars(select(Reminder).where(Reminder.kind == "group")).all()
        assert grouped.state == "sent" and grouped.level == 2
        assert grouped.key == f"group:{client_id}:7:2026-12-07"
        assert sorted(item.invoice_id for item in grouped.items) == sorted([a1, a2])
        covered = db.session.scalars(
            select(Reminder.reason).where(
                Reminder.invoice_id.in_([a1, a2]), Reminder.step_on == date(2026, 12, 7)
            )
        ).all()
        assert covered == ["grouped", "grouped"]
