"""`flask demo`: a demo account with invoices in every state, created once."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, Client, Invoice

NOW = "2026-11-23T09:00:00+01:00"


@pytest.fixture
def demo(app, fixed_now):
    fixed_now(NOW)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return result


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Account.id))),
            db.session.scalar(select(func.count(Client.id))),
            db.session.scalar(select(func.count(Invoice.id))),
        )


def test_demo_creates_the_account_once(app, demo):
    assert "Demo account created." in demo.output
    assert "demo@relance.test / demo-password" in demo.output
    first = counts(app)
    assert first[0] == 1 and first[1] >= 12 and first[2] >= 12

    again = app.test_cli_runner().invoke(args=["demo"])
    assert again.exit_code == 0
    assert "Demo account already there" in again.output
    assert counts(app) == first


def test_demo_accepts_other_credentials(app, client, fixed_now):
    fixed_now(NOW)
    result = app.test_cli_runner().invoke(
        args=["demo", "--email", "Show@Example.com", "--password", "show-me-1234"]
    )
    assert result.exit_code == 0, result.output
    response = client.form("/login", {"email": "show@example.com", "password": "show-me-1234"})
    assert response.status_code == 302


def test_demo_has_invoices_in_every_state(app, demo):
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "demo@relance.test"))
        invoices = db.session.scalars(select(Invoice).where(Invoice.account_id == account.id)).all()
        today = date(2026, 11, 23)
        sent = [i for i in invoices if i.status == "sent"]
        late_days = {(today - i.due_on).days for i in sent if i.due_on and i.due_on < today}

        assert {i.status for i in invoices} >= {"draft", "sent", "paid"}
        assert {3, 10, 40} <= late_days
        assert any(i.due_on == today for i in sent), "due today"
        assert any(i.due_on and 0 < (i.due_on - today).days <= 7 for i in sent), "due soon"
        assert any(0 < i.paid_cents < i.total_cents for i in sent), "partly paid"
        assert any(i.due_on is None for i in sent), "without due date"
        assert any(i.client.email is None for i in sent), "client without email"
        assert any(i.instalment_plan and i.payment_method == "direct_debit" for i in invoices)
        assert any(i.lines for i in invoices), "one invoice with line items"
        assert len({i.currency for i in invoices}) >= 2


def test_the_demo_account_works_in_the_browser(client, demo):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.form("/login", {"email": "demo@relance.test", "password": "demo-password"})
    assert response.status_code == 302
    assert client.get("/today").status_code == 200
    for tab in ("all", "draft", "sent", "overdue", "paid"):
        page = client.get(f"/invoices/?tab={tab}").get_data(as_text=True)
        assert "No invoice" not in page and "Nothing here." not in page, tab
    page = client.get("/invoices/").get_data(as_text=True)
    # The demo account is French: due states are in French, amounts formatted the French way.
    assert '<html lang="fr"' in page
    assert "en retard de 40 jours" in page
    assert "\u00a0€" in page
    assert client.get("/clients/").status_code == 200
