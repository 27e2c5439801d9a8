"""Holds (DESIGN.md rule 2, app/reminders/holds.py): a held invoice gets no automatic
reminder, its waiting reminders show as held, and the steps are decided afresh when
the hold is released or its last day has passed — with the catch-up rule (only the
latest due step goes). Real Redis, SMTP sink and burst worker, as tests/test_engine.py.
"""

from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import Event, Invoice
from app.reminders import holds
from app.reminders.dispatch import tick
from app.reminders.timeline import invoice_timeline

from . import test_engine
from .test_engine import CLIENT, at, reminders, run_worker, tick_and_work

setup = test_engine.setup  # the same fixture: invoice F-2026-014 sent by email, due 4 Dec


def _hold(app, invoice_id, reason="client_paid", detail="", until=None):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        holds.hold(invoice, reason, detail, until)
        db.session.commit()


def _release(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert holds.release(invoice)
        db.session.commit()


def test_a_held_invoice_gets_nothing_and_says_why(app, setup, sink, fixed_now):
    fixed_now(at(2026, 11, 30, 12))
    _hold(app, setup["invoice"], "client_paid", "the client answered on 30 Nov")
    for day in (1, 4, 7):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.to(CLIENT) == []
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        entries, why = invoice_timeline(invoice)
        assert {e.state for e in entries} == {"held"}
        assert "the client says they have paid" in str(why)
        assert "the client answered on 30 Nov" in str(why)


def test_a_waiting_reminder_becomes_held_and_is_not_sent(app, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        tick()  # planned and queued, not yet sent
    _hold(app, setup["invoice"], "possible_payment", "possible payment on 30 Nov")
    with app.app_context():
        run_worker(app)
    assert sink.to(CLIENT) == []
    assert reminders(app, setup["invoice"])[-3] == ("held", "possible_payment")


def test_the_worker_rechecks_a_hold_at_the_moment_of_sending(app, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        tick()
        # Set behind the planner's back (no replan): only the worker's re-check sees it.
        db.session.execute(
            Invoice.__table__.update()
            .where(Invoice.__table__.c.id == setup["invoice"])
            .values(hold_reason="client_dispute")
        )
        db.session.commit()
        run_worker(app)
    assert sink.to(CLIENT) == []
    assert reminders(app, setup["invoice"])[-3] == ("held", "client_dispute")


def test_release_sends_only_the_latest_due_step(app, setup, sink, fixed_now):
    fixed_now(at(2026, 11, 30, 12))
    _hold(app, setup["invoice"], "client_dispute")
    for day in (1, 4, 7):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.to(CLIENT) == []
    fixed_now(at(2026, 12, 8, 10))
    _release(app, setup["invoice"])
    tick_and_work(app, fixed_now, at(2026, 12, 8, 10, 5))
    tick_and_work(app, fixed_now, at(2026, 12, 8, 10, 10))
    subjects = [m["subject"] for m in sink.to(CLIENT)]
    # 8 December: +3 (7 Dec) is the latest step that has come; +7 is on 11 Dec.
    assert len(subjects) == 1 and "4 days overdue" in subjects[0], subjects
    states = reminders(app, setup["invoice"])
    assert states[3][0] == "sent"
    assert states[-3][0] == "skipped" and states[0][0] == "skipped", states
    with app.app_context():
        kinds = [e.kind for e in db.session.scalars(select(Event).order_by(Event.id))]
        assert kinds[-2:] == ["reminders_held", "reminders_resumed"]


def test_a_promise_holds_until_its_date_then_reminders_resume(app, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 2, 12))
    _hold(app, setup["invoice"], "client_promise", "will pay on 8 Dec", until=date(2026, 12, 8))
    for day in (4, 7, 8):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.to(CLIENT) == []
    # The hold ends on 9 December at the send time (09:00), not at midnight.
    tick_and_work(app, fixed_now, at(2026, 12, 9, 0, 5))
    assert sink.to(CLIENT) == []
    tick_and_work(app, fixed_now, at(2026, 12, 9, 9, 5))
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        assert invoice.hold_reason == "" and invoice.hold_until is None
    subjects = [m["subject"] for m in sink.to(CLIENT)]
    # Only the latest step that has come (+3, 7 Dec) goes, once.
    assert len(subjects) == 1 and "5 days overdue" in subjects[0], subjects
    tick_and_work(app, fixed_now, at(2026, 12, 9, 9, 35))
    assert len(sink.to(CLIENT)) == 1


def test_paid_while_held_sends_nothing_after_release(app, setup, sink, fixed_now):
    from app import invoicing

    fixed_now(at(2026, 11, 30, 12))
    _hold(app, setup["invoice"], "client_paid")
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        invoicing.record_payment(invoice, invoice.balance_cents, date(2026, 12, 2), "transfer")
        db.session.commit()
    _release(app, setup["invoice"])
    for day in (4, 7, 11):
        tick_and_work(app, fixed_now, at(2026, 12, day, 9, 30))
    assert sink.to(CLIENT) == []


def test_unknown_hold_reason_is_refused(app, setup):
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        try:
            holds.hold(invoice, "because")
        except ValueError:
            pass
        else:
            raise AssertionError("an unknown reason was accepted")


def test_a_hold_put_on_after_a_manual_reminder_was_written_stops_it(app, setup, sink, fixed_now):
    """The owner sends a manual reminder; before the worker sends it, the client
    answers "I've paid" (a hold): the reminder does not go, and says why."""
    from app.models import Account, Reminder
    from app.reminders import workflows
    from app.reminders.dispatch import enqueue_ready

    fixed_now(at(2026, 12, 10, 10))
    with app.app_context():
        invoice = db.session.get(Invoice, setup["invoice"])
        account = db.session.get(Account, invoice.account_id)
        ids = workflows.write_reminders(account, [invoice], "manual:" + "f" * 32, "manual", False, 0)
        db.session.commit()
        assert len(ids) == 1
    _hold(app, setup["invoice"], "client_paid")
    with app.app_context():
        enqueue_ready(ids)
        run_worker(app)
        reminder = db.session.get(Reminder, ids[0])
        assert (reminder.state, reminder.reason) == ("cancelled", "client_paid")
    assert sink.to(CLIENT) == []
