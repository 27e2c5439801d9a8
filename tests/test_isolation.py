"""Tenant isolation: every route, called with another account's ids, answers 404.

The routes are read from ``app.url_map``, so a new route that takes an id is checked
the day it is added: if it takes an id this file does not know, the test says so.
"""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.invoicing import record_payment
from app.models import (
    Account,
    Client,
    Event,
    ImportFile,
    Invoice,
    Payment,
    Reminder,
    ReminderBatch,
    StatementLine,
)

from .conftest import PASSWORD
from .factories import make_account, make_client, make_invoice

# Route arguments that are not ids of an account's rows: a public token, a file
# name, a template slot (kind × channel × language, the same for every account).
NOT_OWNED = {"token", "filename", "kind", "channel", "language"}
# Development-only pages that read files, not the database.
DEV_ONLY = {"dev"}

# Every field any form of the app may read, filled with values that would be
# accepted for the attacker's own objects: a 404 must come from the ownership check.
PAYLOAD = {
    "amount": "1",
    "paid_on": "2026-11-20",
    "method": "transfer",
    "reference": "hack",
    "via": "post",
    "sent_on": "2026-11-20",
    "name": "Hacked",
    "email": "attacker@example.com",
    "language": "en",
    "country": "FR",
    "kind": "business",
    "number": "HACK-1",
    "issued_on": "2026-11-01",
    "due_on": "2026-12-01",
    "currency": "EUR",
    "payment_method": "transfer",
    "reminders_enabled": "y",
    "enabled": "y",
    "current": PASSWORD,
    "to": "attacker@example.com",
    "subject": "Hello",
    "message": "Hello",
    "key": "a" * 32,
}


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def _world(app):
    """A victim account with one of everything, and the attacker's own objects."""
    with app.app_context():
        victim = make_account("victim@example.com")
        victim_client = make_client(victim, name="Victim Secret Client", email="secret@victim.test")
        invoice = make_invoice(
            victim,
            victim_client,
            number="VICTIM-001",
            total_cents=100000,
            issued_on=date(2026, 10, 1),
            due_on=date(2026, 10, 31),
        )
        payment = record_payment(invoice, 10000, date(2026, 11, 2), "transfer", "victim-ref")
        draft = make_invoice(victim, victim_client, number="VICTIM-002", sent=False)
        db.session.flush()
        reminder = Reminder(
            key=f"isolation-{invoice.id}",
            account_id=victim.id,
            client_id=victim_client.id,
            invoice_id=invoice.id,
            step_offset=3,
            step_on=date(2026, 11, 3),
            state="awaiting_approval",
            recipient="secret@victim.test",
            subject="Victim reminder",
        )
        db.session.add(reminder)
        batch = ReminderBatch(key=f"isolation-batch-{invoice.id}", account_id=victim.id)
        db.session.add(batch)
        # Imports (issue 9): an uploaded file waiting for its mapping, a bank line to review.
        upload = ImportFile(
            account_id=victim.id,
            kind="invoices",
            filename="victim.csv",
            content=b"number;client;date;amount\nVICTIM-9;Victim Secret Client;2026-11-01;1,00\n",
            size=60,
            mapping='{"number": 0, "client": 1, "issued_on": 2, "amount": 3}',
        )
        db.session.add(upload)
        db.session.flush()
        line = StatementLine(
            account_id=victim.id,
            import_id=upload.id,
            bank_id="victim-line",
            booked_on=date(2026, 11, 21),
            amount_cents=90000,
            currency="EUR",
            counterparty="Victim Secret Client",
            state="review",
            invoice_id=invoice.id,
            match_reason="amount_only",
            confidence=40,
        )
        db.session.add(line)
        db.session.commit()

        attacker = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        own_client = make_client(attacker, name="Own Client")
        own_invoice = make_invoice(attacker, own_client, number="OWN-001", total_cents=100000)
        own_payment = record_payment(own_invoice, 100, date(2026, 11, 2), "transfer")
        db.session.commit()
        return {
            "victim": {
                "invoice_id": invoice.id,
                "client_id": victim_client.id,
                "payment_id": payment.id,
                "reminder_id": reminder.id,
                "batch_id": batch.id,
                "draft_id": draft.id,
                "account_id": victim.id,
                "import_id": upload.id,
                "line_id": line.id,
            },
            "own": {"invoice_id": own_invoice.id, "client_id": own_client.id, "payment_id": own_payment.id},
        }


def _snapshot(app, account_id):
    with app.app_context():
        invoices = db.session.scalars(
            select(Invoice).where(Invoice.account_id == account_id).order_by(Invoice.id)
        ).all()
        return {
            "invoices": [
                (i.number, i.status, i.total_cents, i.paid_cents, i.due_on, i.sent_via, i.reminders_enabled)
                for i in invoices
            ],
            "clients": [
                (c.name, c.email, c.language, c.reminders_paused)
                for c in db.session.scalars(select(Client).where(Client.account_id == account_id))
            ],
            "payments": [
                (p.amount_cents, p.paid_on, p.reference)
                for p in db.session.scalars(select(Payment).where(Payment.account_id == account_id))
            ],
            "reminders": [
                (r.state, r.subject)
                for r in db.session.scalars(select(Reminder).where(Reminder.account_id == account_id))
            ],
            "events": db.session.scalar(select(func.count(Event.id)).where(Event.account_id == account_id)),
        }


def id_routes(app):
    """Rules of the app that take at least one id of an account's row."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in DEV_ONLY:
            continue
        ids = set(rule.arguments) - NOT_OWNED
        if ids:
            routes.append((rule, ids))
    return routes


def test_id_routes_are_found(app):
    endpoints = {rule.endpoint for rule, _ids in id_routes(app)}
    assert {
        "invoices.detail",
        "invoices.edit",
        "invoices.add_payment",
        "invoices.edit_payment",
        "invoices.delete_payment",
        "invoices.mark_sent",
        "invoices.void",
        "clients.detail",
        "clients.edit",
        "clients.delete",
    } <= endpoints


def test_every_route_answers_404_for_another_accounts_ids(app, client, auth, fixed_now):
    fixed_now("2026-11-23T09:00:00+01:00")
    auth.register()
    world = _world(app)
    victim, own = world["victim"], world["own"]
    before = _snapshot(app, victim["account_id"])

    problems = []
    checked = 0
    for rule, ids in id_routes(app):
        unknown = ids - set(victim)
        if unknown:
            problems.append(f"{rule.rule}: add the victim's {sorted(unknown)} to this test")
            continue
        # Every combination that points at a victim's row: all victim ids, and (for
        # nested routes) the attacker's own parent with the victim's child.
        variants = [{name: victim[name] for name in ids}]
        if "payment_id" in ids:
            variants.append(
                {**{name: own[name] for name in ids if name in own}, "payment_id": victim["payment_id"]}
            )
        if "invoice_id" in ids and rule.endpoint.startswith("invoices."):
            variants.append({**{name: victim[name] for name in ids}, "invoice_id": victim["draft_id"]})
        for values in variants:
            path = rule.rule
            for name, value in values.items():
                path = path.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
            for method in ("GET", "POST"):
                for htmx in (False, True):
                    headers = {"HX-Request": "true"} if htmx else {}
                    if method == "GET":
                        response = client.get(path, headers=headers)
                    else:
                        response = client.form(path, PAYLOAD, htmx=htmx)
                    expected = 404 if method in rule.methods else 405
                    body = response.get_data(as_text=True)
                    checked += 1
                    if response.status_code != expected:
                        problems.append(f"{method} {path} (htmx={htmx}) → {response.status_code}")
                    if "Victim" in body or "VICTIM" in body or "secret@victim" in body:
                        problems.append(f"{method} {path} (htmx={htmx}) shows the victim's data")
    assert not problems, "\n".join(problems)
    assert checked >= 60
    assert _snapshot(app, victim["account_id"]) == before, "another account's data changed"


def test_lists_and_searches_show_only_my_rows(app, client, auth, fixed_now):
    fixed_now("2026-11-23T09:00:00+01:00")
    auth.register()
    world = _world(app)
    pages = [
        "/today",
        "/invoices/",
        "/invoices/?tab=overdue",
        "/invoices/?tab=sent",
        "/invoices/?tab=draft",
        "/invoices/?q=victim",
        "/invoices/new",
        "/clients/",
        "/clients/?q=victim",
        f"/clients/{world['own']['client_id']}",
        f"/invoices/{world['own']['invoice_id']}",
    ]
    for path in pages:
        body = client.get(path).get_data(as_text=True)
        assert "Victim" not in body and "VICTIM" not in body, path
    assert "OWN-001" in client.get("/invoices/").get_data(as_text=True)


def test_a_new_invoice_cannot_use_another_accounts_client(app, client, auth, fixed_now):
    fixed_now("2026-11-23T09:00:00+01:00")
    auth.register()
    world = _world(app)
    victim_client = world["victim"]["client_id"]
    assert client.get(f"/invoices/new?client_id={victim_client}").status_code == 404
    data = {**PAYLOAD, "client_id": str(victim_client), "terms_days": "30"}
    response = client.form("/invoices/new", data)
    assert response.status_code == 422
    assert "Choose a client." in response.get_data(as_text=True)
    response = client.form(f"/invoices/{world['own']['invoice_id']}/edit", {**data, "number": "OWN-001"})
    assert response.status_code == 422
    with app.app_context():
        assert (
            db.session.scalar(select(Invoice.client_id).where(Invoice.number == "OWN-001"))
            == (world["own"]["client_id"])
        )
        assert db.session.scalar(select(func.count(Invoice.id)).where(Invoice.number == "HACK-1")) == 0


def test_strangers_are_sent_to_login_not_told_anything(app, client, auth):
    auth.register()
    world = _world(app)
    auth.logout()
    for path in (f"/invoices/{world['victim']['invoice_id']}", f"/clients/{world['victim']['client_id']}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
