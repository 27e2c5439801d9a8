"""Built-in reminder texts agree in number with the days overdue (French and English)."""

import pytest

from app.documents import defaults, sandbox


def _context(days: int) -> dict:
    return {
        "client_name": "Garage Petit",
        "invoice_number": "F-1",
        "invoice_numbers": "F-1",
        "invoice_date": "1 oct. 2026",
        "due_date": "31 oct. 2026",
        "amount": "100,00 €",
        "balance": "100,00 €",
        "paid": "",
        "total_balance": "100,00 €",
        "payment_details": "",
        "business_name": "Studio",
        "days_overdue": days,
        "days_left": 0,
        "deadline_days": 8,
        "deadline_date": "9 nov. 2026",
        "invoices": [],
        "level": 1,
        "level_title": "Rappel",
        "client_is_business": True,
        "client_country": "FR",
    }


@pytest.mark.parametrize("kind", ["level1", "level2", "level3"])
def test_one_day_overdue_is_singular(kind):
    subject, body = defaults.default(kind, "email", "fr")
    text = sandbox.render(subject, _context(1)) + "\n" + sandbox.render(body, _context(1))
    assert "1 jour de retard" in text or "en retard de 1 jour" in text
    assert "1 jours" not in text
    subject, body = defaults.default(kind, "email", "en")
    text = sandbox.render(subject, _context(1)) + "\n" + sandbox.render(body, _context(1))
    assert "1 day overdue" in text and "1 days" not in text


@pytest.mark.parametrize("kind", ["level1", "level2", "level3"])
def test_several_days_overdue_is_plural(kind):
    subject, body = defaults.default(kind, "email", "fr")
    text = sandbox.render(subject, _context(12)) + "\n" + sandbox.render(body, _context(12))
    assert "12 jours de retard" in text
    subject, body = defaults.default(kind, "email", "en")
    assert "12 days overdue" in sandbox.render(body, _context(12))
