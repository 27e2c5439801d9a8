"""Money, dates and due states in the reader's language (French and English)."""

from datetime import UTC, date

import pytest
from flask import render_template_string
from flask_babel import force_locale
from sqlalchemy import select

from app import create_app
from app.config import ROOT
from app.extensions import db
from app.filters import due_tone, due_words
from app.models import Account, Invoice

from .factories import make_client, make_invoice

TODAY = date(2026, 11, 23)
FRENCH_CATALOGUE = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.mo"
needs_french = pytest.mark.skipif(
    not FRENCH_CATALOGUE.exists(),
    reason="no compiled French catalogue: test_the_french_catalogue_is_compiled fails for it",
)


@pytest.fixture(scope="module")
def plain_app():
    """An application that never touches a database, Redis or SMTP."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


@pytest.fixture
def in_locale(plain_app):
    def words(locale, invoice):
        with plain_app.test_request_context(), force_locale(locale):
            return str(due_words(invoice, TODAY))

    return words


def invoice(due_on, status="sent"):
    return Invoice(status=status, due_on=due_on, total_cents=1000, paid_cents=0)


@pytest.mark.parametrize(
    ("due_on", "status", "english"),
    [
        (date(2026, 11, 26), "sent", "due in 3 days"),
        (date(2026, 11, 24), "sent", "due tomorrow"),
        (date(2026, 11, 23), "sent", "due today"),
        (date(2026, 11, 22), "sent", "1 day overdue"),
        (date(2026, 11, 18), "sent", "5 days overdue"),
        (date(2026, 10, 14), "sent", "40 days overdue"),
        (None, "sent", "no due date"),
        (None, "draft", "no due date"),
        (date(2026, 10, 1), "paid", "paid"),
        (date(2026, 10, 1), "void", "void"),
    ],
)
def test_due_state_in_english(in_locale, due_on, status, english):
    assert in_locale("en", invoice(due_on, status)) == english


def _fr(text):
    return text.replace("\u2019", "'").lower()


def test_the_french_catalogue_is_compiled():
    assert FRENCH_CATALOGUE.exists(), f"{FRENCH_CATALOGUE} is missing: French pages show English words"


@needs_french
@pytest.mark.parametrize(
    ("due_on", "status", "must_contain"),
    [
        (date(2026, 11, 26), "sent", ["3 jours"]),
        (date(2026, 11, 24), "sent", ["demain"]),
        (date(2026, 11, 23), "sent", ["aujourd'hui"]),
        (date(2026, 11, 22), "sent", ["1 jour", "retard"]),
        (date(2026, 11, 18), "sent", ["5 jours", "retard"]),
        (None, "sent", ["échéance"]),
        (date(2026, 10, 1), "paid", ["pay"]),
        (date(2026, 10, 1), "void", ["annul"]),
    ],
)
def test_due_state_in_french(in_locale, due_on, status, must_contain):
    english = in_locale("en", invoice(due_on, status))
    french = in_locale("fr", invoice(due_on, status))
    assert french != english, "the French catalogue does not translate this due state"
    for piece in must_contain:
        assert piece in _fr(french)
    assert "jours" not in _fr(in_locale("fr", invoice(date(2026, 11, 22))))


@pytest.mark.parametrize(
    ("due_on", "status", "tone"),
    [
        (date(2026, 12, 23), "sent", "ok"),
        (date(2026, 11, 30), "sent", "soon"),
        (date(2026, 11, 23), "sent", "today"),
        (date(2026, 11, 22), "sent", "late"),
        (None, "sent", "ok"),
        (date(2026, 11, 1), "paid", "done"),
        (date(2026, 11, 1), "void", "void"),
    ],
)
def test_due_tone_colours_the_badge(due_on, status, tone):
    assert due_tone(invoice(due_on, status), TODAY) == tone


@pytest.mark.parametrize(
    ("locale", "money", "day"),
    [
        ("fr", "1\u202f234,56\u00a0€", "23 nov. 2026"),
        ("en", "€1,234.56", "Nov 23, 2026"),
    ],
)
def test_template_filters_follow_the_locale(plain_app, locale, money, day):
    with plain_app.test_request_context(), force_locale(locale):
        shown = render_template_string("{{ 123456|money('EUR') }}|{{ day|date }}", day=TODAY)
    assert shown == f"{money}|{day}"


@pytest.mark.parametrize(
    ("fmt", "first", "eleventh"),
    [
        ("medium", "1er déc. 2026", "11 déc. 2026"),
        ("long", "1er décembre 2026", "11 décembre 2026"),
        ("full", "mardi 1er décembre 2026", "vendredi 11 décembre 2026"),
        ("d MMM", "1er déc.", "11 déc."),
        ("short", "01/12/2026", "11/12/2026"),
    ],
)
def test_french_writes_the_first_of_the_month_as_an_ordinal(plain_app, fmt, first, eleventh):
    from datetime import datetime

    with plain_app.test_request_context(), force_locale("fr"):
        shown = render_template_string(
            "{{ a|date(fmt) }}|{{ b|date(fmt) }}|{{ c|date(fmt) }}",
            a=date(2026, 12, 1),
            b=date(2026, 12, 11),
            c=datetime(2026, 12, 1, 10, tzinfo=UTC),
            fmt=fmt,
        )
        again = render_template_string("{{ a|date(fmt) }}", a=date(2026, 12, 1), fmt=fmt)  # from the cache
    assert shown == f"{first}|{eleventh}|{first}"
    assert again == first
    with plain_app.test_request_context(), force_locale("en"):
        assert render_template_string("{{ a|date('long') }}", a=date(2026, 12, 1)) == "December 1, 2026"


# --- What an owner sees on the pages, in their language --------------------------------


def _register(client, language):
    """Register with the browser's language, then follow the emailed link (logs in)."""
    from app.views.auth import signin_token

    response = client.form(
        "/register",
        {
            "email": f"{language}@example.com",
            "password": "correct horse battery",
            "business_name": "Studio",
            "timezone": "Europe/Paris",
        },
        headers={"Accept-Language": language},
    )
    with client.application.app_context():
        account = db.session.scalar(select(Account).where(Account.email == f"{language}@example.com"))
        token = signin_token(account, "confirm")
    client.form(f"/register/confirm/{token}")
    return response


@pytest.mark.parametrize(
    ("language", "amount", "overdue_words"),
    [
        ("en", "€1,234.56", "5 days overdue"),
        pytest.param("fr", "1\u202f234,56\u00a0€", "5 jours", marks=needs_french),
    ],
)
def test_invoice_list_shows_money_and_due_state_in_the_owner_language(
    app, client, fixed_now, language, amount, overdue_words
):
    fixed_now("2026-11-23T09:00:00+01:00")
    assert _register(client, language).status_code == 200
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == f"{language}@example.com"))
        assert account.language == language
        make_invoice(
            account,
            make_client(account, name="Atelier Moreau"),
            total_cents=123456,
            issued_on=date(2026, 10, 19),
            due_on=date(2026, 11, 18),
        )
    page = client.get("/invoices/").get_data(as_text=True)
    assert "Atelier Moreau" in page
    assert amount in page
    assert overdue_words in page
    assert f'<html lang="{language}"' in page


def test_the_french_ordinal_never_touches_an_hour():
    """Only a lone 1 before a month's name becomes « 1er » (fr_BE writes hours « 1 h 05 »)."""
    from app.filters import _premier

    assert _premier("mercredi 2 décembre 2026, 1 h 05 min", "fr_BE") == "mercredi 2 décembre 2026, 1 h 05 min"
    assert _premier("mardi 1 décembre 2026, 1 h 05 min", "fr_BE") == "mardi 1er décembre 2026, 1 h 05 min"
    assert _premier("1 mai 2026", "fr") == "1er mai 2026"
