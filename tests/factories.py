"""Factories for accounts, clients, invoices and payments (inside an app context)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import select

from app import clock, invoicing
from app.extensions import db
from app.models import Account, Client, Invoice

from .conftest import PASSWORD

_seq = itertools.count(1)


def make_account(email=None, password=PASSWORD, **fields) -> Account:
    n = next(_seq)
    fields.setdefault("language", "en")  # the tests read English pages unless they ask
    # A verified owner unless the test is about verification (issue 14).
    fields.setdefault("email_verified_at", clock.now())
    account = Account(
        email=(email or f"owner{n}@example.com").lower(),
        business_name=fields.pop("business_name", f"Business {n}"),
        **fields,
    )
    account.set_password(password)
    db.session.add(account)
    db.session.commit()
    return account


def register_owner(app, auth, fixed_now, now="2026-11-23T09:00:00+01:00", language=None) -> int:
    """owner@example.com signs up through the form at ``now``; returns the account id.
    With ``language``, the account then reads pages and emails in it."""
    fixed_now(now)
    auth.register()
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        if language is not None:
            account.language = language
            db.session.commit()
        return account.id


def make_client(account, name=None, email="client@example.com", **fields) -> Client:
    n = next(_seq)
    client = Client(account_id=account.id, name=name or f"Client {n}", email=email, **fields)
    db.session.add(client)
    db.session.commit()
    return client


def make_invoice(
    account,
    client=None,
    total_cents=100_00,
    issued_on=None,
    due_on="default",
    sent=True,
    sent_via="email_other",
    number=None,
    currency="EUR",
    **fields,
) -> Invoice:
    client = client or make_client(account)
    issued_on = issued_on or date(2026, 11, 1)
    if due_on == "default":
        due_on = issued_on + timedelta(days=30)
    invoice = Invoice(
        account_id=account.id,
        client=client,
        number=number or invoicing.suggest_number(account.id, issued_on.year),
        issued_on=issued_on,
        due_on=due_on,
        terms_days=(due_on - issued_on).days if due_on else None,
        total_cents=total_cents,
        currency=currency,
        status="draft",
        **fields,
    )
    db.session.add(invoice)
    if sent:
        invoicing.mark_sent(invoice, sent_via)
    db.session.commit()
    return invoice
