"""The reminder history of a few invoices is read through their own rows, never by
walking every sent reminder of every account (SQLite, which keeps no statistics
unless asked, otherwise prefers the index that starts with the state)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, insert

from app.extensions import db
from app.models import Reminder, ReminderItem
from app.payinfo import _load_previous
from app.reminders import sending
from app.reminders.timeline import last_sent, sent_reminders

from .factories import make_account, make_client, make_invoice


def _history(account, invoices):
    """Sent step reminders for every invoice, one two-invoice reminder (items),
    and the invoice's own email (never counted)."""
    sent_at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    rows = []
    for n, invoice in enumerate(invoices):
        for step in (0, 3):
            rows.append(
                {
                    "key": f"step:{invoice.id}:{step}",
                    "account_id": account.id,
                    "client_id": invoice.client_id,
                    "invoice_id": invoice.id,
                    "kind": "step",
                    "step_offset": step,
                    "state": "sent",
                    "sent_at": sent_at + timedelta(days=step, minutes=n),
                    "channel": "email",
                }
            )
        rows.append(
            {
                "key": f"invoice:{invoice.id}",
                "account_id": account.id,
                "client_id": invoice.client_id,
                "invoice_id": invoice.id,
                "kind": "invoice",
                "state": "sent",
                "sent_at": sent_at - timedelta(days=30),
                "channel": "email",
            }
        )
    db.session.execute(insert(Reminder), rows)
    group = Reminder(
        key="manual:k1",
        account_id=account.id,
        client_id=invoices[0].client_id,
        kind="manual",
        state="sent",
        sent_at=sent_at + timedelta(days=10),
        channel="letter",
    )
    db.session.add(group)
    db.session.flush()
    for invoice in invoices[:2]:
        db.session.add(ReminderItem(reminder_id=group.id, invoice_id=invoice.id, level=2, balance_cents=1))
    db.session.commit()
    return group


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_history_queries_use_the_invoice_indexes(app, ctx):
    account = make_account()
    client = make_client(account)
    invoices = [make_invoice(account, client, due_on=date(2026, 11, 20)) for _ in range(6)]
    group = _history(account, invoices)
    wanted = [invoices[0].id, invoices[1].id, invoices[2].id]

    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        found = sent_reminders(wanted)
        last = last_sent(wanted)
        previous = _load_previous(set(wanted))
        db.session.execute(sending._LOAD, {"reminder_id": group.id}).unique().all()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)

    # What they say: both steps and the two-invoice reminder, never the invoice email.
    assert len(found[invoices[0].id]) == len(found[invoices[1].id]) == 3
    assert group.id in found[invoices[0].id] and group.id in found[invoices[1].id]
    assert len(found[invoices[2].id]) == 2
    assert last[invoices[0].id] == (datetime(2026, 11, 30, 9, tzinfo=UTC), 3)
    assert last[invoices[2].id] == (datetime(2026, 11, 23, 9, 2, tzinfo=UTC), 2)
    assert sorted(channel for _at, channel in previous[invoices[1].id]) == ["email", "email", "letter"]

    # How they read it: through the invoice (or primary key) indexes.
    assert statements
    raw = db.engine.raw_connection()
    try:
        for statement, parameters in statements:
            plan = " / ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "ix_reminder_state_next" not in plan, (statement, plan)
            assert "SCAN reminder" not in plan.replace("SCAN reminder_item", ""), (statement, plan)
    finally:
        raw.close()
