"""Collection workflows through HTTP (issue 5): the Overdue tab and manual reminders,
"Remind all" on the worker, the per-client reminder, grouping and history. Real
Redis, real burst RQ worker, real SMTP sink, SQLite and PostgreSQL."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app import invoicing
from app.extensions import db
from app.models import Account, Client, Invoice, Reminder, ReminderBatch

from .factories import make_account, make_client, make_invoice
from .test_engine import run_worker

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 10, 10, 0, tzinfo=PARIS)


@pytest.fixture
def world(app, fixed_now):
    """Today is 10 December 2026. Client A (a@) has A1 (level 1) and A2 (never
    reminded) overdue and I1 on instalments; B (b@) has B1 overdue, N1 not yet due,
    P1 sent by post, D0 without due date; C has no email and C1 overdue."""
    fixed_now(datetime(2026, 11, 1, 10, tzinfo=PARIS))
    with app.app_context():
        account = make_account(email="owner@example.com", address="5 quai de la Fosse\n44000 Nantes")
        a = make_client(account, name="Atelier A", email="a@example.com", language="en")
        b = make_client(account, name="Bureau B", email="b@example.com", language="en")
        c = make_client(account, name="Cabinet C", email=None, language="en")
        due = date(2026, 11, 20)
        ids = {
            "A1": make_invoice(account, a, number="A1", due_on=due, total_cents=100_00, reminder_level=1),
            "A2": make_invoice(account, a, number="A2", due_on=date(2026, 11, 25), total_cents=50_00),
            "I1": make_invoice(account, a, number="I1", due_on=due, instalment_plan=True),
            "B1": make_invoice(account, b, number="B1", due_on=due, total_cents=300_00),
            "N1": make_invoice(account, b, number="N1", due_on=date(2026, 12, 20)),
            "P1": make_invoice(account, b, number="P1", due_on=due, sent_via="post"),
            "D0": make_invoice(account, b, number="D0", due_on=None),
            "C1": make_invoice(account, c, number="C1", due_on=due, payment_method="direct_debit"),
        }
        other = make_account(email="other@example.com")
        foreign = make_invoice(other, make_client(other, email="x@example.com"), number="X1", due_on=due)
        result = {name: invoice.id for name, invoice in ids.items()}
        result.update(a=a.id, b=b.id, c=c.id, foreign=foreign.id, foreign_client=foreign.client_id)
    fixed_now(NOW)
    return result


def _login(auth, fixed_now):
    auth.login(email="owner@example.com")
    fixed_now(NOW)


def _key(page):
    return re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)


def _level(app, invoice_id):
    with app.app_context():
        return db.session.get(Invoice, invoice_id).reminder_level


def _work(app):
    with app.app_context():
        run_worker(app)


def test_overdue_tab_filters_and_warns_about_clients_without_email(app, client, auth, world, fixed_now):
    _login(auth, fixed_now)
    page = client.get("/invoices/?tab=overdue").get_data(as_text=True)
    for number in ("A1", "A2", "I1", "B1", "P1", "C1"):
        assert f'name="invoice" value="{world[number]}" checked' in page
    shown = re.findall(r'name="invoice" value="(\d+)"', page)
    assert str(world["N1"]) not in shown and str(world["D0"]) not in shown
    assert "No email: letter only" in page and "⚠" in page
    assert "data-select-all" in page
    level_one = client.get("/invoices/?tab=overdue&level=1").get_data(as_text=True)
    assert re.findall(r'name="invoice" value="(\d+)"', level_one) == [str(world["A1"])]
    debit = client.get("/invoices/?tab=overdue&method=direct_debit").get_data(as_text=True)
    assert re.findall(r'name="invoice" value="(\d+)"', debit) == [str(world["C1"])]
    by_client = client.get(f"/invoices/?tab=overdue&client={world['b']}").get_data(as_text=True)
    assert sorted(re.findall(r'name="invoice" value="(\d+)"', by_client)) == sorted(
        [str(world["B1"]), str(world["P1"])]
    )
    late = client.get("/invoices/?tab=overdue&days=17").get_data(as_text=True)
    late_ids = re.findall(r'name="invoice" value="(\d+)"', late)
    assert str(world["A2"]) not in late_ids and str(world["A1"]) in late_ids
    big = client.get("/invoices/?tab=overdue&amount=200").get_data(as_text=True)
    assert re.findall(r'name="invoice" value="(\d+)"', big) == [str(world["B1"])]
    bad = client.get("/invoices/?tab=overdue&days=abc", headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Enter a number of days" in bad.get_data(as_text=True)


def test_manual_reminder_choose_preview_send_once(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    url = f"/collect/compose?invoice={world['A1']}&invoice={world['A2']}&invoice={world['I1']}"
    page = client.get(url).get_data(as_text=True)
    assert "never reminded" in page  # I1: pre-authorised instalments
    key = _key(page)
    data = {"key": key, "invoice": [str(world[n]) for n in ("A1", "A2", "I1")], "level": "0", "group": "1"}
    preview = client.form("/collect/compose", {**data, "action": "preview"})
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert "Second reminder: 2 unpaid invoices" in text and "Hello Atelier A" in text
    assert sink.messages == []
    assert client.form("/collect/compose", {**data, "action": "send"}).status_code == 302
    assert client.form("/collect/compose", {**data, "action": "send"}).status_code == 302  # double submit
    _work(app)
    (message,) = sink.to("a@example.com")
    assert message["subject"] == "Second reminder: 2 unpaid invoices"
    body = message.get_body(("plain",)).get_content()
    assert "A1" in body and "A2" in body and "I1" not in body
    assert "second reminder" in body
    assert (_level(app, world["A1"]), _level(app, world["A2"]), _level(app, world["I1"])) == (2, 2, 0)
    # A chosen type: the formal notice, one email per invoice.
    page = client.get(f"/collect/compose?invoice={world['B1']}").get_data(as_text=True)
    data = {"key": _key(page), "invoice": [str(world["B1"])], "level": "4", "action": "send"}
    assert client.form("/collect/compose", data).status_code == 302
    _work(app)
    (notice,) = sink.to("b@example.com")
    assert notice["subject"] == "Formal notice: invoice B1 is 20 days overdue"
    assert _level(app, world["B1"]) == 4


def test_manual_rules_empty_selection_and_other_accounts(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    page = client.get(
        f"/collect/compose?invoice={world['N1']}&invoice={world['P1']}&invoice={world['C1']}"
    ).get_data(as_text=True)
    assert "not yet due: a reminder is never sent before the due date" in page
    assert "not sent to the client by email" in page
    assert "the client has no email address: letter only" in page
    data = {"key": _key(page), "invoice": [str(world[n]) for n in ("N1", "P1", "C1")], "action": "send"}
    refused = client.form("/collect/compose", data)
    assert refused.status_code == 422
    assert "No invoice in this selection can be reminded by email." in refused.get_data(as_text=True)
    empty = client.get("/collect/compose", follow_redirects=True)
    assert "Select at least one invoice to remind." in empty.get_data(as_text=True)
    assert client.get(f"/collect/compose?invoice={world['foreign']}").status_code == 404
    data = {"key": "a" * 32, "invoice": [str(world["A1"]), str(world["foreign"])], "action": "send"}
    assert client.form("/collect/compose", data).status_code == 404
    _work(app)
    assert sink.messages == []


def test_reminder_n_on_overdue_invoices_send_on_the_others(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    overdue = client.get(f"/invoices/{world['A2']}").get_data(as_text=True)
    assert "Reminder (0)" in overdue
    later = client.get(f"/invoices/{world['N1']}").get_data(as_text=True)
    assert "Reminder (" not in later and ">Send</a>" in later
    page = client.get(f"/collect/compose?invoice={world['A2']}").get_data(as_text=True)
    client.form("/collect/compose", {"key": _key(page), "invoice": [str(world["A2"])], "action": "send"})
    _work(app)
    assert "Reminder (1)" in client.get(f"/invoices/{world['A2']}").get_data(as_text=True)
    listing = client.get("/invoices/?tab=overdue").get_data(as_text=True)
    assert "(#1)" in listing


def _batch_id(response):
    return int(re.search(r"/collect/batches/(\d+)", response.headers["Location"]).group(1))


def test_remind_all_counts_runs_on_the_worker_and_sends_once(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    dialog = client.get("/collect/batch").get_data(as_text=True)
    assert "3 invoices · 2 clients" in dialog  # A1, A2, B1 (I1, P1, C1, N1, D0 left out)
    with_no_due = client.get(
        "/collect/batch?submitted=1&throttle=7&include_no_due=1", headers={"HX-Request": "true"}
    )
    assert "4 invoices · 2 clients" in with_no_due.get_data(as_text=True)
    bad = client.form("/collect/batch", {"key": _key(dialog), "throttle": "366"})
    assert bad.status_code == 422 and "from 0 to 365" in bad.get_data(as_text=True)
    assert client.form("/collect/batch", {"key": _key(dialog), "throttle": "-1"}).status_code == 422
    data = {"key": _key(dialog), "throttle": "7", "submitted": "1"}
    first = client.form("/collect/batch", data)
    second = client.form("/collect/batch", data)  # double click, second tab
    assert first.status_code == second.status_code == 302
    assert _batch_id(first) == _batch_id(second)
    fragment = client.get(f"/collect/batches/{_batch_id(first)}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment and "Sending" in fragment
    _work(app)
    fragment = client.get(f"/collect/batches/{_batch_id(first)}/progress").get_data(as_text=True)
    assert 'data-state="done"' in fragment and "every 1s" not in fragment
    assert "paid by pre-authorised instalments" in fragment
    assert sorted(m["subject"] for m in sink.to("a@example.com")) == [
        "Reminder: invoice A2 is 15 days overdue",
        "Second reminder: invoice A1 is 20 days overdue",
    ]
    assert len(sink.to("b@example.com")) == 1
    assert len(sink.messages) == 3
    with app.app_context():
        assert db.session.scalar(select(func.count(ReminderBatch.id))) == 1
    # Throttle: everybody was reminded today; 0 days lifts it.
    dialog = client.get("/collect/batch").get_data(as_text=True)
    again = client.form("/collect/batch", {"key": _key(dialog), "throttle": "7", "submitted": "1"})
    assert again.status_code == 422 and "Nothing to send with these options." in again.get_data(as_text=True)
    lifted = client.form("/collect/batch", {"key": _key(dialog), "throttle": "0", "submitted": "1"})
    assert lifted.status_code == 302
    _work(app)
    assert len(sink.messages) == 6
    assert client.get("/collect/batches/999999").status_code == 404


def test_grouped_batch_one_email_per_client_at_the_highest_level(app, client, auth, world, fixed_now, sink):
    """The two-invoice example: A1 at level 1 and A2 never reminded → one level-2
    email covering both, and both move to level 2."""
    _login(auth, fixed_now)
    dialog = client.get("/collect/batch").get_data(as_text=True)
    response = client.form(
        "/collect/batch", {"key": _key(dialog), "throttle": "7", "group": "1", "submitted": "1"}
    )
    assert response.status_code == 302
    _work(app)
    (message,) = sink.to("a@example.com")
    assert message["subject"] == "Second reminder: 2 unpaid invoices"
    assert (_level(app, world["A1"]), _level(app, world["A2"])) == (2, 2)
    assert _level(app, world["B1"]) == 1
    with app.app_context():
        grouped = db.session.scalar(select(Reminder).where(Reminder.client_id == world["a"]))
        assert grouped.level == 2 and sorted(i.invoice_id for i in grouped.items) == sorted(
            [world["A1"], world["A2"]]
        )


def test_client_reminder_lists_the_selection_in_one_email(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    url = f"/clients/{world['b']}/remind"
    page = client.get(url).get_data(as_text=True)
    assert f'name="invoice" value="{world["B1"]}" checked' in page
    assert f'name="invoice" value="{world["P1"]}"' not in page
    assert "not sent to the client by email" in page and "no due date" in page
    options = client.get(url + "?submitted=1&throttle=7&include_no_due=1&include_not_sent=1").get_data(
        as_text=True
    )
    for name in ("B1", "P1", "D0"):
        assert f'name="invoice" value="{world[name]}" checked' in options
    assert f'name="invoice" value="{world["N1"]}"' not in options  # never before the due date
    bad = client.form(url, {"key": _key(page), "throttle": "999", "submitted": "1", "action": "send"})
    assert bad.status_code == 422 and "from 0 to 365" in bad.get_data(as_text=True)
    empty = client.form(url, {"key": _key(page), "throttle": "7", "submitted": "1", "action": "send"})
    assert empty.status_code == 422
    assert "Select at least one invoice that can be reminded." in empty.get_data(as_text=True)
    data = {
        "key": _key(options),
        "throttle": "7",
        "submitted": "1",
        "include_no_due": "1",
        "include_not_sent": "1",
        "invoice": [str(world[n]) for n in ("B1", "P1", "D0")],
        "action": "send",
    }
    assert client.form(url, data).status_code == 302
    assert client.form(url, data).status_code == 302  # sent once
    _work(app)
    (message,) = sink.to("b@example.com")
    assert message["subject"] == "Reminder: 3 unpaid invoices"
    body = message.get_body(("plain",)).get_content()
    assert "B1" in body and "P1" in body and "D0" in body
    listing = client.get("/clients/").get_data(as_text=True)
    assert "Last reminder: Dec 10, 2026" in listing
    assert listing.count("Last reminder:") == 1
    assert client.get(f"/clients/{world['foreign_client']}/remind").status_code == 404
    no_email = client.get(f"/clients/{world['c']}/remind").get_data(as_text=True)
    assert "can only be reached by letter" in no_email


def test_history_of_a_client_and_an_invoice(app, client, auth, world, fixed_now, sink):
    _login(auth, fixed_now)
    page = client.get(f"/collect/compose?invoice={world['A1']}").get_data(as_text=True)
    client.form("/collect/compose", {"key": _key(page), "invoice": [str(world["A1"])], "action": "send"})
    _work(app)
    client.form(f"/invoices/{world['A2']}/level", {"level": "3"})
    with app.app_context():
        invoice = db.session.get(Invoice, world["A1"])
        invoicing.record_payment(invoice, 40_00, date(2026, 12, 10), "transfer")
        db.session.commit()
    history = client.get(f"/clients/{world['a']}/history").get_data(as_text=True)
    assert "Second reminder" in history and "email" in history and "sent" in history
    assert "Payment of €40.00" in history
    assert "Invoice A1 sent by email" in history
    assert "Reminder level of A2 changed by hand: No reminder yet → Final reminder" in history
    one = client.get(f"/invoices/{world['A1']}/history").get_data(as_text=True)
    assert "Second reminder" in one and "Payment of €40.00" in one and "changed by hand" not in one
    assert client.get(f"/invoices/{world['foreign']}/history").status_code == 404
    assert client.get(f"/clients/{world['foreign_client']}/history").status_code == 404


def test_group_reminders_per_client_automatic_steps(app, client, auth, world, fixed_now, sink):
    """Account option on: A1 (+3 step, level 1) and A9 (+7 step, level 2) of the same
    client due the same day go as ONE level-2 email; both invoices move to level 2."""
    from app.reminders.dispatch import tick

    _login(auth, fixed_now)
    assert client.form("/settings/reminders/grouping", {"group_reminders": "1"}).status_code == 302
    fixed_now(datetime(2026, 11, 1, 10, tzinfo=PARIS))
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        a = db.session.get(Client, world["a"])
        # Mon 14 Dec 2026: +3 of a Friday-11 due date and +7 of a Monday-7 due date.
        make_invoice(account, a, number="G3", due_on=date(2026, 12, 11), total_cents=10_00)
        make_invoice(account, a, number="G7", due_on=date(2026, 12, 7), total_cents=20_00)
        db.session.execute(
            Invoice.__table__.update()
            .where(Invoice.id.in_([world[n] for n in ("A1", "A2", "I1", "B1", "P1", "C1")]))
            .values(status="paid")
        )
        db.session.commit()
    fixed_now(datetime(2026, 12, 14, 9, 5, tzinfo=PARIS))
    with app.app_context():
        tick()
        run_worker(app)
    (message,) = sink.to("a@example.com")
    assert message["subject"] == "Second reminder: 2 unpaid invoices"
    body = message.get_body(("plain",)).get_content()
    assert "G3" in body and "G7" in body
    with app.app_context():
        levels = dict(
            db.session.execute(
                select(Invoice.number, Invoice.reminder_level).where(Invoice.number.in_(["G3", "G7"]))
            ).all()
        )
        assert levels == {"G3": 2, "G7": 2}
        steps = db.session.scalars(
            select(Reminder).where(Reminder.kind == "step", Reminder.state.not_in(("skipped", "sent")))
        ).all()
        assert steps == []
        grouped = db.session.scalars(select(Reminder).where(Reminder.reason == "grouped")).all()
        assert sorted((r.invoice.number, r.step_offset) for r in grouped) == [("G3", 3), ("G7", 7)]
        sent = db.session.scalars(
            select(Reminder).where(Reminder.state == "sent", Reminder.client_id == world["a"])
        ).all()
        assert [(r.kind, r.level) for r in sent] == [("group", 2)]
        tick()  # a second tick the same day: nothing more
        run_worker(app)
    assert len(sink.to("a@example.com")) == 1
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert 'name="group_reminders" value="1" checked' in page


def _submit_batch(client):
    dialog = client.get("/collect/batch").get_data(as_text=True)
    response = client.form("/collect/batch", {"key": _key(dialog), "throttle": "7", "submitted": "1"})
    assert response.status_code == 302
    return _batch_id(response)


def _manual_mode(app):
    """Automatic reminders off: only the batch sends (the tick still runs)."""
    with app.app_context():
        db.session.execute(Account.__table__.update().values(reminders_enabled=False))
        db.session.commit()


def _batch_state(app, batch_id):
    with app.app_context():
        return db.session.get(ReminderBatch, batch_id).state


def test_remind_all_with_redis_down_at_submit_is_queued_again_by_the_tick(
    app, client, auth, world, fixed_now, sink
):
    """Redis unreachable when the owner submits: the batch is saved, the page says it
    waits, and a tick after the lease queues it again; each email goes once."""
    from datetime import timedelta

    from app.reminders.dispatch import tick

    _login(auth, fixed_now)
    _manual_mode(app)
    real_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    app.extensions.pop("relance_redis", None)
    try:
        batch_id = _submit_batch(client)
        flashed = client.get(f"/collect/batches/{batch_id}").get_data(as_text=True)
    finally:
        app.config["REDIS_URL"] = real_url
        app.extensions.pop("relance_redis", None)
    assert "will go out automatically within a few minutes" in flashed
    assert _batch_state(app, batch_id) == "queued"
    _work(app)  # nothing in Redis
    assert sink.messages == []
    fixed_now(NOW + timedelta(minutes=1))
    fragment = client.get(f"/collect/batches/{batch_id}/progress").get_data(as_text=True)
    assert 'data-state="waiting"' in fragment and "Nothing has been sent yet" in fragment
    assert 'hx-trigger="every 10s"' in fragment
    with app.app_context():
        assert tick().batches == 0  # within the lease: left alone
    _work(app)
    assert sink.messages == []
    fixed_now(NOW + timedelta(minutes=6))
    with app.app_context():
        assert tick().batches == 1
        assert tick().batches == 0  # queued already: a second tick does not queue it twice
        run_worker(app)
    assert sorted(m["subject"] for m in sink.to("a@example.com")) == [
        "Reminder: invoice A2 is 15 days overdue",
        "Second reminder: invoice A1 is 20 days overdue",
    ]
    assert len(sink.messages) == 3
    assert _batch_state(app, batch_id) == "done"
    fragment = client.get(f"/collect/batches/{batch_id}/progress").get_data(as_text=True)
    assert 'data-state="done"' in fragment
    fixed_now(NOW + timedelta(minutes=30))
    with app.app_context():
        assert tick().batches == 0
        run_worker(app)
    assert len(sink.messages) == 3


def test_remind_all_job_lost_with_redis_data_runs_again_and_sends_once(
    app, client, auth, world, fixed_now, sink, redis_client
):
    """The job is lost (FLUSHALL after submit); a run killed half way leaves the batch
    "running"; the tick after the lease queues it again and a duplicate run is harmless."""
    from datetime import timedelta

    from app.jobs import run_batch
    from app.reminders import workflows
    from app.reminders.dispatch import tick

    _login(auth, fixed_now)
    _manual_mode(app)
    batch_id = _submit_batch(client)
    redis_client.flushall()
    _work(app)
    assert sink.messages == [] and _batch_state(app, batch_id) == "queued"
    fixed_now(NOW + timedelta(minutes=6))
    with app.app_context():
        assert workflows.stale_batches() == [batch_id]
        assert tick().batches == 1
        redis_client.delete(f"relance:batch:{batch_id}")
        assert workflows.enqueue_batch(batch_id)  # the same batch queued twice
        run_worker(app)
        run_batch(batch_id)  # and run once more by hand
    assert len(sink.messages) == 3
    assert len(sink.to("a@example.com")) == 2 and len(sink.to("b@example.com")) == 1
    assert _batch_state(app, batch_id) == "done"
    with app.app_context():
        sent = db.session.scalar(
            select(func.count(Reminder.id)).where(Reminder.batch_id == batch_id, Reminder.state == "sent")
        )
        assert sent == 3


def test_a_grouped_step_left_out_of_its_group_is_decided_again(app, client, auth, world, fixed_now, sink):
    """G3 and G7 grouped on 14 December; before the group goes, the client says G7 is
    paid (a hold): the group goes for G3 alone, G7's +7 step shows held (not "sent in
    one email"), and when the owner resumes G7 that step is decided again and goes."""
    from app.reminders import holds
    from app.reminders.dispatch import tick

    _login(auth, fixed_now)
    assert client.form("/settings/reminders/grouping", {"group_reminders": "1"}).status_code == 302
    fixed_now(datetime(2026, 11, 1, 10, tzinfo=PARIS))
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        a = db.session.get(Client, world["a"])
        make_invoice(account, a, number="G3", due_on=date(2026, 12, 11), total_cents=10_00)
        g7 = make_invoice(account, a, number="G7", due_on=date(2026, 12, 7), total_cents=20_00).id
        db.session.execute(
            Invoice.__table__.update()
            .where(Invoice.id.in_([world[n] for n in ("A1", "A2", "I1", "B1", "P1", "C1")]))
            .values(status="paid")
        )
        db.session.commit()
    fixed_now(datetime(2026, 12, 14, 9, 5, tzinfo=PARIS))
    with app.app_context():
        tick()  # the group is written and queued
        holds.hold(db.session.get(Invoice, g7), "client_paid")
        db.session.commit()
        run_worker(app)
    (message,) = sink.to("a@example.com")
    body = message.get_body(("plain",)).get_content()
    assert "G3" in body and "G7" not in body
    with app.app_context():
        step = db.session.scalar(select(Reminder).where(Reminder.invoice_id == g7, Reminder.step_offset == 7))
        assert (step.step_offset, step.state, step.reason) == (7, "held", "client_paid")
    fixed_now(datetime(2026, 12, 14, 9, 30, tzinfo=PARIS))
    with app.app_context():
        assert holds.release(db.session.get(Invoice, g7))
        db.session.commit()
        tick()
        run_worker(app)
    later = sink.to("a@example.com")[1:]
    assert len(later) == 1 and "G7" in later[0]["subject"]
    with app.app_context():
        step = db.session.scalar(select(Reminder).where(Reminder.invoice_id == g7, Reminder.step_offset == 7))
        assert (step.step_offset, step.state) == (7, "sent")


def test_a_manual_form_sent_again_with_another_choice_sends_nothing_more(
    app, client, auth, world, fixed_now, sink
):
    """Send (one email per invoice), Back, tick "group", send again: the form went
    already; the client does not get the same reminders a second time."""
    _login(auth, fixed_now)
    page = client.get(f"/collect/compose?invoice={world['A1']}&invoice={world['A2']}").get_data(as_text=True)
    data = {
        "key": _key(page),
        "invoice": [str(world["A1"]), str(world["A2"])],
        "level": "0",
        "action": "send",
    }
    assert client.form("/collect/compose", data).status_code == 302
    _work(app)
    assert len(sink.to("a@example.com")) == 2
    again = client.form("/collect/compose", {**data, "group": "1"})
    assert again.status_code == 302
    _work(app)
    assert len(sink.to("a@example.com")) == 2
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "These reminders were already sent." in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Reminder.id)).where(Reminder.kind == "manual")) == 2
