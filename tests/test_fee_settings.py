"""Late-fee settings (issue 7): the legal switch, owner costs per level, reference
rate corrections; bad input is refused next to the field; the IBAN's reason."""

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.extensions import db
from app.models import Account, FeeCost, RateOverride

from .factories import register_owner


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now)


def costs_form(**extra):
    data = {
        "legal": "y",
        "costs-0-fixed": "5",
        "costs-0-percent": "",
        "costs-1-fixed": "7,50",
        "costs-1-percent": "1,5",
        "costs-2-fixed": "",
        "costs-2-percent": "",
    }
    data.update(extra)
    return data


def test_page_lists_shipped_rates_and_flags_unconfirmed_ones(client, owner):
    html = client.get("/settings/fees").get_data(as_text=True)
    assert "Reference rates" in html
    assert "2.15\u00a0%" in html and "10.5\u00a0%" in html
    assert "not confirmed" in html  # 2026-H1 figures, and today's 2026-H2 past the table


def test_save_legal_switch_and_costs(app, client, owner):
    response = client.form("/settings/fees", costs_form())
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Account, owner).fees_legal is True
        rows = db.session.scalars(select(FeeCost).order_by(FeeCost.level)).all()
        assert [(r.level, r.fixed_cents, r.percent_bp) for r in rows] == [(1, 500, 0), (2, 750, 150)]
    html = client.get("/settings/fees").get_data(as_text=True)
    assert 'value="7.50"' in html or 'value="7,50"' in html
    client.form(
        "/settings/fees",
        costs_form(legal="", **{"costs-0-fixed": "", "costs-1-fixed": "", "costs-1-percent": ""}),
    )
    with app.app_context():
        assert db.session.get(Account, owner).fees_legal is False
        assert db.session.scalars(select(FeeCost)).all() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("costs-0-fixed", "-3", "The amount cannot be negative."),
        ("costs-0-fixed", "abc", "This is not a valid amount."),
        ("costs-1-percent", "150", "The rate is between 0 and 100."),
        ("costs-1-percent", "1.234", "Use at most two decimals."),
        ("costs-2-percent", "nan", "Use at most two decimals."),
    ],
)
def test_bad_costs_are_refused_next_to_the_field(app, client, owner, field, value, message):
    response = client.form("/settings/fees", costs_form(**{field: value}))
    assert response.status_code == 422
    assert f'id="{field}-error">{escape(message)}</p>' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(FeeCost)).all() == []


def test_rate_override_then_back_to_the_shipped_rate(app, client, owner):
    data = {"series": "fr_ecb", "starts_on": "2026-07-01", "rate": "2"}
    assert client.form("/settings/fees/rates", data).status_code == 302
    with app.app_context():
        row = db.session.scalar(select(RateOverride))
        assert (row.series, row.starts_on.isoformat(), row.rate_bp) == ("fr_ecb", "2026-07-01", 200)
    assert "your value" in client.get("/settings/fees").get_data(as_text=True)
    client.form("/settings/fees/rates", {"action": "reset", "series": "fr_ecb", "starts_on": "2026-07-01"})
    with app.app_context():
        assert db.session.scalars(select(RateOverride)).all() == []


@pytest.mark.parametrize(
    "data",
    [
        {"series": "xx", "starts_on": "2026-07-01", "rate": "2"},
        {"series": "fr_ecb", "starts_on": "2026-03-01", "rate": "2"},
        {"series": "fr_ecb", "starts_on": "2026-07-01", "rate": "abc"},
    ],
)
def test_bad_rates_are_refused(app, client, owner, data):
    assert client.form("/settings/fees/rates", data).status_code == 422
    with app.app_context():
        assert db.session.scalars(select(RateOverride)).all() == []


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("BE71 0961 2345 6768", "This IBAN&#39;s check digits are wrong: please check it."),
        ("BE71 0961", "too short or too long"),
        ("BE71-0961-2345-6769", "only letters and digits"),
    ],
)
def test_iban_refused_with_the_reason(client, owner, iban, message):
    data = {
        "business_name": "Studio",
        "timezone": "Europe/Paris",
        "language": "en",
        "currency": "EUR",
        "iban": iban,
    }
    response = client.form("/settings/profile", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_a_client_can_have_no_country_or_type(app, client, owner):
    data = {"name": "Sans Pays", "email": "", "language": "fr", "country": "", "kind": ""}
    response = client.form("/clients/new", data)
    assert response.status_code == 302
    from app.models import Client

    with app.app_context():
        saved = db.session.scalar(select(Client).where(Client.name == "Sans Pays"))
        assert (saved.country, saved.kind) == ("", "")
    assert "Not set" in client.get(response.headers["Location"]).get_data(as_text=True)
