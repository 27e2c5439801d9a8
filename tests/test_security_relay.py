"""Relance is no open relay (issue 14 point 7): nothing goes to a third party before
the owner has confirmed their address, sends to clients are limited per account and
day, and "Send by email" to an address that is not the client's is confirmed.

Real Redis, real SMTP sink, the real tick and burst worker (as tests/test_engine.py).
"""

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.extensions import db
from app.models import Account, Reminder

from .factories import make_client, make_invoice
from .test_engine import CLIENT, at, tick_and_work

PARIS = ZoneInfo("Europe/Paris")
D = date(2026, 12, 4)


def _owner_unverified(app, auth, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register(verify=False)
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        client = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice = make_invoice(account, client, issued_on=date(2026, 11, 4), due_on=D, number="F-2026-014")
        return account.id, invoice.id


def test_unverified_account_sends_nothing_to_its_client(app, client, auth, sink, fixed_now):
    _account_id, invoice_id = _owner_unverified(app, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert sink.to(CLIENT) == []
    with app.app_context():
        reminder = db.session.scalar(select(Reminder).where(Reminder.invoice_id == invoice_id))
        assert (reminder.state, reminder.reason) == ("scheduled", "unverified")
