"""Reminder levels (issue 5): after-due steps carry a level, sending moves the
invoice's level, each level has its own email, and the owner can set it by hand."""

import re
from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import Event, Invoice, Reminder, ReminderItem
from app.reminders.levels import level_for

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, D, at, subjects, tick_and_work


def test_level_mapping_default_firm_and_custom():
    assert [level_for("-3,0,3,7", "", o) for o in (-3, 0, 3, 7)] == [0, 0, 1, 2]
    firm = "-3,0,3,7,14,30"
    assert [level_for(firm, "", o) for o in (3, 7, 14, 30)] == [1, 2, 3, 4]
    assert [level_for("3,7,14,30,45,60", "", o) for o in (45, 60)] == [4, 4]
    assert level_for(firm, "3:1,7:4", 7) == 4
    assert level_for(firm, "garbage", 14) == 3


def _owner_invoice(app, fixed_now, number: str, language: str = "en") -> int:
    """owner@example.com, a client with an email, invoice ``number`` sent by email on
    4 November and due on D; the clock then. Returns the invoice's id."""
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        customer = make_client(account, email=CLIENT, language=language)
        return make_invoice(account, customer, issued_on=date(2026, 11, 4), due_on=D, number=number).id


def _invoice_level(app, invoice_id):
    with app.app_context():
        return db.session.get(Invoice, invoice_id).reminder_level


def test_steps_carry_levels_and_sending_moves_the_invoice(app, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com", reminder_offsets="-3,0,3,7,14,30")
        invoice = make_invoice(
            account,
            make_client(account, email=CLIENT, language="en"),
            issued_on=date(2026, 11, 4),
            due_on=D,
            number="F-2026-014",
        ).id
    tick_and_work(app, fixed_now, at(2026, 12, 4, 9, 5))
    assert _invoice_level(app, invoice) == 0
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))
    assert _invoice_level(app, invoice) == 1
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))
    assert _invoice_level(app, invoice) == 2
    tick_and_work(app, fixed_now, at(2026, 12, 18, 9, 5))
    tick_and_work(app, fixed_now, at(2027, 1, 4, 9, 5))
    assert _invoice_level(app, invoice) == 4
    assert subjects(sink)[1:] == [
        "Reminder: invoice F-2026-014 is 3 days overdue",
        "Second reminder: invoice F-2026-014 is 7 days overdue",
        "Final reminder: invoice F-2026-014 is 14 days overdue",
        "Formal notice: invoice F-2026-014 is 31 days overdue",
    ]
    bodies = [m.get_body(("plain",)).get_content() for m in sink.to(CLIENT)]
    assert "second reminder" in bodies[2]
    assert "final reminder" in bodies[3]
    assert "we hereby formally demand payment" in bodies[4]
    assert "formally demand" not in bodies[1]
    with app.app_context():
        rows = db.session.scalars(select(Reminder).order_by(Reminder.step_offset)).all()
        assert [(r.step_offset, r.level) for r in rows] == [(-3, 0), (0, 0), (3, 1), (7, 2), (14, 3), (30, 4)]
        items = db.session.scalars(select(ReminderItem).order_by(ReminderItem.id)).all()
        assert [i.level for i in items] == [0, 1, 2, 3, 4]
        assert {i.invoice_id for i in items} == {invoice}


def test_french_client_gets_the_level_email_in_french(app, sink, fixed_now):
    _owner_invoice(app, fixed_now, "F-2026-015", language="fr")
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))
    (message,) = sink.to(CLIENT)
    assert "F-2026-015" in message["subject"]
    assert "Bonjour" in message.get_body(("plain",)).get_content()


def test_owner_sets_the_level_by_hand_and_it_is_in_the_history(app, client, auth, fixed_now):
    fixed_now(at(2026, 12, 10, 10))
    with app.app_context():
        account = make_account(email="owner@example.com")
        invoice = make_invoice(
            account, make_client(account), number="F-2026-020", due_on=date(2026, 12, 1)
        ).id
        other = make_account(email="other@example.com")
        foreign = make_invoice(other, make_client(other), number="X-1").id
    auth.login(email="owner@example.com")
    page = client.get(f"/invoices/{invoice}").get_data(as_text=True)
    assert f"/invoices/{invoice}/level" in page and "No reminder yet" in page
    assert client.get(f"/invoices/{invoice}/level").status_code == 200
    assert client.form(f"/invoices/{invoice}/level", {"level": "7"}).status_code == 422
    assert client.form(f"/invoices/{invoice}/level", {"level": "x"}).status_code == 422
    response = client.form(f"/invoices/{invoice}/level", {"level": "3"})
    assert response.status_code == 302
    assert _invoice_level(app, invoice) == 3
    htmx = client.form(f"/invoices/{invoice}/level", {"level": "2"}, htmx=True)
    assert htmx.status_code == 200 and "Saved: Second reminder" in htmx.get_data(as_text=True)
    page = client.get(f"/invoices/{invoice}").get_data(as_text=True)
    assert "Reminder level of F-2026-020 changed by hand: No reminder yet → Final reminder" in page
    assert "Final reminder → Second reminder" in page
    listing = client.get("/invoices/?tab=overdue").get_data(as_text=True)
    assert "Second reminder" in listing
    with app.app_context():
        assert db.session.scalar(select(Event.detail).where(Event.kind == "level_changed").limit(1)) == "0:3"
    assert client.get(f"/invoices/{foreign}/level").status_code == 404
    assert client.form(f"/invoices/{foreign}/level", {"level": "2"}).status_code == 404
    assert _invoice_level(app, foreign) == 0


def test_owner_sets_the_levels_of_the_steps(app, client, auth, sink, fixed_now):
    invoice = _owner_invoice(app, fixed_now, "F-2026-016")
    auth.login(email="owner@example.com")
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert "+3 days → Reminder · +7 days → Second reminder" in page
    bad = client.form("/settings/reminders/grouping", {"levels": "3:9"})
    assert bad.status_code == 422 and "level from 1 to 4" in bad.get_data(as_text=True)
    assert client.form("/settings/reminders/grouping", {"levels": "3:1, 7:4"}).status_code == 302
    assert "+7 days → Formal notice" in client.get("/settings/reminders").get_data(as_text=True)
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 5))
    assert subjects(sink) == ["Formal notice: invoice F-2026-016 is 7 days overdue"]
    assert _invoice_level(app, invoice) == 4


def test_manual_mode_sends_nothing_until_a_click(app, client, auth, sink, fixed_now):
    """Reminders switched off: the engine sends nothing; a click still reminds."""
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email="owner@example.com", reminders_enabled=False)
        invoice = make_invoice(
            account,
            make_client(account, email=CLIENT, language="en"),
            issued_on=date(2026, 11, 4),
            due_on=D,
            number="F-2026-017",
        ).id
    for day in (1, 4, 7, 11):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 5))
    assert sink.messages == []
    auth.login(email="owner@example.com")
    page = client.get(f"/collect/compose?invoice={invoice}").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    response = client.form("/collect/compose", {"key": key, "invoice": [str(invoice)], "action": "send"})
    assert response.status_code == 302
    tick_and_work(app, fixed_now, at(2026, 12, 11, 9, 6))
    assert subjects(sink) == ["Reminder: invoice F-2026-017 is 7 days overdue"]


def test_changing_the_mapping_or_the_schedule_relevels_what_waits(app, client, auth, sink, fixed_now):
    """Rule 6: a reminder planned and not sent (here awaiting approval) takes its step's
    new level in the request that changes the schedule or the level mapping."""
    invoice = _owner_invoice(app, fixed_now, "F-2026-017")
    auth.login(email="owner@example.com")
    settings = {"enabled": "y", "send_time": "09:00", "skip_weekends": "y", "mode": "ask"}
    assert client.form("/settings/reminders", {**settings, "preset": "standard"}).status_code == 302
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # +3: awaiting approval, level 1
    assert sink.messages == []

    def waiting():
        with app.app_context():
            reminder = db.session.scalar(
                select(Reminder).where(Reminder.invoice_id == invoice, Reminder.state == "awaiting_approval")
            )
            items = db.session.scalars(
                select(ReminderItem.level).where(ReminderItem.reminder_id == reminder.id)
            )
            return reminder.id, reminder.step_offset, reminder.level, set(items)

    reminder_id, offset, level, _items = waiting()
    assert (offset, level) == (3, 1)
    # The schedule gains +1: +3 is now the second after-due step.
    changed = client.form("/settings/reminders", {**settings, "preset": "custom", "offsets": "-3,0,1,3,7"})
    assert changed.status_code == 302
    assert waiting()[0] == reminder_id and waiting()[2] == 2
    # The owner's own mapping: +3 is a formal notice.
    assert client.form("/settings/reminders/grouping", {"levels": "3:4"}).status_code == 302
    _id, _offset, level, items = waiting()
    assert level == 4 and items <= {4}
    ready = client.get("/reminders/ready").get_data(as_text=True)
    assert client.form("/reminders/ready", {"reminder": re.findall(r'name="reminder" value="(\d+)"', ready)})
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 10))
    assert subjects(sink) == ["Formal notice: invoice F-2026-017 is 3 days overdue"]
    assert _invoice_level(app, invoice) == 4
