"""Settings → Templates: edit, preview (htmx and without JS), refuse, reset, add a language."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from app import clock
from app.documents.messages import render_message
from app.extensions import db
from app.models import Account, Client, Invoice, MessageTemplate

from .factories import make_client, make_invoice

URL = "/settings/templates/level1/email/en"


def _setup(app, auth, language="en"):
    clock.set_now(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # the app fixture releases it
    auth.register()
    with app.app_context():
        account = db.session.scalar(select(Account))
        account.language = language
        account.iban = "FR7630006000011234567890189"
        client = make_client(account, name="Acme & Sons", language="en")
        make_invoice(account, client, number="F-2026-042", issued_on=date(2026, 9, 1))
        db.session.commit()
        return account.id


def _count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(MessageTemplate.id)))


def test_the_list_shows_every_kind_channel_and_language(app, client, auth):
    _setup(app, auth)
    page = client.get("/settings/templates").get_data(as_text=True)
    for words in ("Before the due date", "Formal notice (level 4)", "Grouped reminder", "FR", "EN", "Letter"):
        assert words in page
    assert "/settings/templates/level4/letter/fr" in page
    assert "Templates and documents" in client.get("/settings/").get_data(as_text=True)


def test_the_editor_shows_the_default_placeholders_and_a_real_preview(app, client, auth):
    _setup(app, auth)
    response = client.get(URL)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Reminder: invoice {{ invoice_number }} is {{ days_overdue }} day" in page
    assert "{{ payment_details }}" in page and "postal address" in page
    assert "Write plain text" in page and "HTML is shown as you type it." in page
    # the preview is rendered for the account's real invoice, escaped, in both channels
    assert "Reminder: invoice F-2026-042 is 53 days overdue" in page
    assert "Acme &amp; Sons" in page and "Acme & Sons" not in page
    assert "FR7630006000011234567890189" in page
    assert page.count("F-2026-042") >= 4


def test_a_sandbox_escape_is_refused_inline_and_nothing_is_saved(app, client, auth):
    _setup(app, auth)
    response = client.form(URL, {"subject": "Hi", "body": "{{ ''.__class__.__mro__ }}", "action": "save"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Not allowed in a template" in page and "__class__" in page
    assert _count(app) == 0
    response = client.form(URL, {"subject": "Hi", "body": "{% for i in range(10**6) %}x{% endfor %}"})
    assert response.status_code == 422 and "too long" in response.get_data(as_text=True)
    response = client.form(URL, {"subject": "Hi {{ client_nme }}", "body": "Hello"})
    assert response.status_code == 422
    assert "Unknown placeholder: {{ client_nme }}" in response.get_data(as_text=True)
    response = client.form(URL, {"subject": "", "body": ""})
    assert response.status_code == 422
    assert _count(app) == 0


def test_saving_is_used_by_the_real_rendering_and_reset_goes_back(app, client, auth):
    account_id = _setup(app, auth)
    body = "Dear {{ client_name }}, {{ invoice_number }} is {{ days_overdue }} days late. {{ balance }}"
    response = client.form(URL, {"subject": "Late: {{ invoice_number }}", "body": body, "action": "save"})
    assert response.status_code == 302
    assert _count(app) == 1
    with app.app_context():
        account = db.session.get(Account, account_id)
        invoice = db.session.scalar(select(Invoice))
        message = render_message(account, invoice.client, [invoice], "level1", today=date(2026, 11, 23))
        assert message.subject == "Late: F-2026-042"
        assert message.text.startswith("Dear Acme & Sons, F-2026-042 is 53 days late.")
        assert "Acme &amp; Sons" in message.html
    page = client.get(URL).get_data(as_text=True)
    assert "Reset to default" in page
    assert client.form(URL + "/reset").status_code == 302
    assert _count(app) == 0
    assert "days overdue" in client.get(URL).get_data(as_text=True)


def test_live_preview_is_a_partial_and_saves_nothing(app, client, auth):
    _setup(app, auth)
    response = client.form(
        URL + "/preview", {"subject": "S {{ invoice_number }}", "body": "B {{ client_name }}"}, htmx=True
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.startswith('<section id="template-preview"') and "S F-2026-042" in page
    assert "B Acme &amp; Sons" in page
    response = client.form(URL + "/preview", {"subject": "S", "body": "{{ nope }}"}, htmx=True)
    assert response.status_code == 422 and "nope" in response.get_data(as_text=True)
    # without JS the Preview button shows the whole editor with the preview
    response = client.form(URL, {"subject": "S", "body": "B {{ client_name }}", "action": "preview"})
    assert response.status_code == 200 and "B Acme &amp; Sons" in response.get_data(as_text=True)
    assert _count(app) == 0


def test_an_added_language_gets_its_texts_and_others_fall_back(app, client, auth):
    account_id = _setup(app, auth, language="fr")
    response = client.form("/settings/templates", {"form": "language", "code": "nl"})
    assert response.status_code == 302
    assert client.form("/settings/templates", {"form": "language", "code": "nl"}).status_code == 422
    assert client.form("/settings/templates", {"form": "language", "code": "1x"}).status_code == 422
    nl_url = "/settings/templates/level1/email/nl"
    assert client.get(nl_url).status_code == 200
    client.form(nl_url, {"subject": "Herinnering {{ invoice_number }}", "body": "Beste {{ client_name }}"})
    with app.app_context():
        account = db.session.get(Account, account_id)
        invoice = db.session.scalar(select(Invoice))
        dutch = Client(account_id=account.id, name="Van Dijk", language="nl")
        german = Client(account_id=account.id, name="Müller", language="de")
        db.session.add_all([dutch, german])
        db.session.flush()
        assert render_message(account, dutch, [invoice], "level1").subject == "Herinnering F-2026-042"
        french = render_message(account, german, [invoice], "level1")
        assert french.language == "fr" and french.subject.startswith("Rappel")
        db.session.rollback()


def test_unknown_slots_and_settings(app, client, auth):
    account_id = _setup(app, auth)
    assert client.get("/settings/templates/level9/email/en").status_code == 404
    assert client.get("/settings/templates/level1/fax/en").status_code == 404
    assert client.get("/settings/templates/level1/email/xx").status_code == 404
    response = client.form(
        "/settings/templates", {"form": "settings", "notice_days": "0", "letter_window": "left"}
    )
    assert response.status_code == 422
    response = client.form(
        "/settings/templates", {"form": "settings", "notice_days": "15", "letter_window": "left"}
    )
    assert response.status_code == 302
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert (account.notice_days, account.letter_window) == (15, "left")


def test_a_client_can_take_an_added_language(app, client, auth):
    _setup(app, auth)
    assert 'value="nl"' not in client.get("/clients/new").get_data(as_text=True)
    client.form("/settings/templates", {"form": "language", "code": "nl"})
    assert 'value="nl"' in client.get("/clients/new").get_data(as_text=True)
    response = client.form(
        "/clients/new",
        {
            "name": "Van Dijk BV",
            "email": "info@vandijk.test",
            "language": "nl",
            "country": "FR",
            "kind": "business",
            "address": "",
            "notes": "",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Client.language).where(Client.name == "Van Dijk BV")) == "nl"
