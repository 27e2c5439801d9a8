"""Language and typography leftovers, read on the real pages, emails and PDFs:
status words that are not verbs, French spacing before « : », first-letter capitals
that keep the rest, the formal-notice deadline and legal paragraph, import row
messages in the reader's language."""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app import filters
from app.documents import defaults, sandbox
from app.extensions import db
from app.models import Account, Invoice, Reminder

from .factories import make_client, make_invoice, register_owner
from .test_engine import run_worker

NBSP = "\u00a0"
NOW = "2026-12-10T10:00:00+01:00"  # invoices of 1 November, due 1 December: 9 days late

# The DB plays no part in these texts: SQLite only.
pytestmark = pytest.mark.parametrize("app", ["sqlite"], indirect=True)


@pytest.fixture
def owner(app, auth, fixed_now):
    """A French-speaking owner (pages in French) with an address and a company number."""
    account_id = register_owner(app, auth, fixed_now, now=NOW, language="fr")
    with app.app_context():
        account = db.session.get(Account, account_id)
        account.address = "12 rue des Lilas\n75011 Paris"
        account.company_number = "812 345 678 00017"
        db.session.commit()
    return account_id


def _account(app, account_id):
    return db.session.get(Account, account_id)


def _invoice(app, account_id, **fields):
    with app.app_context():
        account = _account(app, account_id)
        client_fields = {
            key: fields.pop(key) for key in ("language", "country", "kind", "address") if key in fields
        }
        client_fields.setdefault("language", "fr")
        client_fields.setdefault("address", "1 place Bellecour\n69002 Lyon")
        name = fields.pop("client_name", "Garage Petit")
        client = make_client(
            account, name=name, email=fields.pop("email", "garage@example.com"), **client_fields
        )
        return make_invoice(account, client, **fields).id


def _pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def _key(page: str) -> str:
    return re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)


def _sent_text(app, client, sink, invoice_id: int, level: int, to: str) -> str:
    """Send a reminder of ``level`` for one invoice through the compose page and the
    worker; the plain-text part the client received."""
    compose = client.get(f"/collect/compose?invoice={invoice_id}").get_data(as_text=True)
    data = {"key": _key(compose), "invoice": [str(invoice_id)], "level": str(level), "action": "send"}
    assert client.form("/collect/compose", data).status_code == 302
    with app.app_context():
        run_worker(app)
    (message,) = sink.to(to)
    return message.get_body(("plain",)).get_content()


# ------------------------------------------------- 1. status words, not verbs


def test_a_void_invoice_is_annulee_and_the_button_still_says_annuler(app, client, owner):
    invoice_id = _invoice(app, owner)
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert re.search(r'<button class="button button-danger" type="submit">Annuler</button>', page)
    assert '<span class="badge">Envoyée</span>' in page
    assert client.form(f"/invoices/{invoice_id}/void").status_code == 302
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert '<span class="badge badge-void">Annulée</span>' in page
    assert ">Annuler</span>" not in page and ">annulée</span>" not in page


def test_paid_reads_payee_for_the_invoice_and_deja_regle_for_the_amount(app, client, owner):
    invoice_id = _invoice(app, owner, total_cents=120_00)
    form = {"amount": "120,00", "paid_on": "2026-12-10", "method": "transfer", "reference": ""}
    assert client.form(f"/invoices/{invoice_id}/payments", form).status_code == 302
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert '<span class="badge badge-done">Payée</span>' in page and ">payée</span>" not in page
    assert "<dt>Déjà réglé</dt>" in page
    tabs = client.get("/invoices/").get_data(as_text=True)
    assert ">Envoyées</a>" in tabs and ">Payées</a>" in tabs and ">Brouillons</a>" in tabs
    pdf = client.get(f"/invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200
    assert "Déjà réglé" in _pdf_text(pdf.data)[0]


# ------------------------------------------------- 2. the colon inside the string


def test_invoice_pdf_puts_the_colon_in_the_translated_string(app, client, owner):
    invoice_id = _invoice(app, owner)
    with app.app_context():
        _account(app, owner).vat_number = "FR12812345678"
        db.session.commit()
    french = client.get(f"/invoices/{invoice_id}/pdf").get_data()
    html_free = _pdf_text(french)[0]
    assert re.search(r"Numéro d'entreprise\s:\s812 345 678 00017", html_free)
    assert re.search(r"Numéro de TVA\s:\sFR12812345678", html_free)
    with app.app_context():
        _account(app, owner).language = "en"
        db.session.get(Invoice, invoice_id).client.language = "en"
        db.session.commit()
    english = _pdf_text(client.get(f"/invoices/{invoice_id}/pdf").get_data())[0]
    # English has no space before a colon (the template used to add " : " for every language).
    assert "Company registration number: 812 345 678 00017" in english
    assert "VAT number: FR12812345678" in english


def test_quantities_and_vat_rates_are_written_the_readers_way(app, client, owner):
    from app.models import InvoiceLine

    invoice_id = _invoice(app, owner)
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        invoice.lines = [
            InvoiceLine(
                position=0,
                description="Atelier",
                quantity_milli=1500,
                unit_price_cents=100_00,
                vat_rate_bp=550,
            )
        ]
        db.session.commit()
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert '<td class="num">1,5</td>' in page and f'<td class="num">5,5{NBSP}%</td>' in page
    french = " ".join(_pdf_text(client.get(f"/invoices/{invoice_id}/pdf").data)[0].split())
    assert re.search(r"Atelier 1,5 .* 5,5 %", french)
    with app.app_context():
        _account(app, owner).language = "en"
        db.session.get(Invoice, invoice_id).client.language = "en"
        db.session.commit()
    english = " ".join(_pdf_text(client.get(f"/invoices/{invoice_id}/pdf").data)[0].split())
    assert re.search(r"Atelier 1\.5 .* 5\.5% ", english), english


def test_fee_lines_in_french_have_a_no_break_space_before_the_colon(app, client, owner, sink):
    with app.app_context():
        _account(app, owner).fees_legal = True
        _account(app, owner).iban = "FR7630006000011234567890189"
        db.session.commit()
    invoice_id = _invoice(app, owner, country="FR", kind="business")
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert f"Indemnité forfaitaire pour frais de recouvrement{NBSP}: " in page
    assert "recouvrement: " not in page
    # The same lines in the reminder email (text part), sent through the compose page.
    text = _sent_text(app, client, sink, invoice_id, 1, "garage@example.com")
    assert f"Indemnité forfaitaire pour frais de recouvrement{NBSP}: 40,00" in text


def test_built_in_french_texts_use_no_break_spaces(app):
    for (language, kind), (subject, body) in defaults.EMAIL.items():
        if language != "fr":
            continue
        for text in (subject, body, *defaults.LETTER[(language, kind)]):
            assert not re.search(r" [:;!?]", text), (kind, re.search(r".{20} [:;!?]", text))


def test_a_clients_words_are_in_french_quotes_and_after_a_french_colon(app, client, owner):
    from app.models import ClientAnswer

    invoice_id = _invoice(app, owner)
    with app.app_context():
        db.session.add(
            ClientAnswer(
                account_id=owner, invoice_id=invoice_id, kind="dispute", message="Le montant est faux"
            )
        )
        db.session.commit()
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert f"«{NBSP}Le montant est faux{NBSP}»" in page and "“Le montant" not in page
    today = client.get("/today").get_data(as_text=True)
    assert f"Conteste la facture{NBSP}: Le montant est faux" in today


# ------------------------------------------------- 3. first letter only


def test_upper_first_keeps_the_other_capitals(app, client, owner):
    assert (
        filters.upper_first("rappel de la facture F-12 par Relance")
        == "Rappel de la facture F-12 par Relance"
    )
    assert filters.upper_first("") == "" and filters.upper_first(None) == ""
    with app.test_request_context():
        rendered = app.jinja_env.from_string("{{ 'relances SEPA'|upper_first }}").render()
    assert rendered == "Relances SEPA"
    # On the invoice page: a held invoice's step says why, capitalised, French spacing kept.
    from app.reminders import holds

    invoice_id = _invoice(app, owner, due_on=date(2026, 12, 20))
    with app.app_context():
        holds.hold(db.session.get(Invoice, invoice_id), "client_paid")
        db.session.commit()
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert f"Les relances sont en attente{NBSP}: le client dit avoir payé" in page


# ------------------------------------------------- 4. the account's deadline


def test_final_reminder_and_formal_notice_give_the_accounts_deadline(app, client, owner, sink):
    with app.app_context():
        _account(app, owner).notice_days = 15
        db.session.commit()
    invoice_id = _invoice(app, owner, country="FR", kind="business")
    text = _sent_text(app, client, sink, invoice_id, 3, "garage@example.com")
    assert "sous 15 jours, au plus tard le 25 décembre 2026" in text
    assert "8 jours" not in text
    letter = client.form(f"/invoices/{invoice_id}/letter", {"kind": "level4", "key": "n" * 12})
    assert letter.status_code == 302
    notice = " ".join(_printed_letters(app, client)[0].split())
    assert "dans un délai de 15 jours" in notice and "le 25 décembre 2026" in notice
    assert "8 jours" not in notice


# ------------------------------------------------- 5. the formal notice


def _printed_letters(app, client) -> list[str]:
    with app.app_context():
        ids = [str(r.id) for r in db.session.scalars(select(Reminder).where(Reminder.channel == "letter"))]
    response = client.form("/letters/print", {"reminder": ids})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return _pdf_text(response.data)


def test_the_formal_notice_letter_does_not_repeat_sender_recipient_and_date(app, client, owner):
    invoice_id = _invoice(app, owner, country="FR", kind="business")
    assert (
        client.form(f"/invoices/{invoice_id}/letter", {"kind": "level4", "key": "m" * 12}).status_code == 302
    )
    letter = _printed_letters(app, client)[0]
    assert letter.count("12 rue des Lilas") == 1 and letter.count("1 place Bellecour") == 1
    assert not re.search(r"^(De|À)\s:", letter, re.M)
    assert letter.count("10 décembre 2026") == 1  # the date line of the letter, once
    assert letter.count("MISE EN DEMEURE") == 1
    assert re.search(r"Mise en demeure\s:\sla facture", letter)
    assert "Madame, Monsieur," in letter and "L441-10" in letter


def test_the_formal_notice_email_keeps_its_heading(app, client, owner, sink):
    invoice_id = _invoice(app, owner, country="FR", kind="business")
    text = _sent_text(app, client, sink, invoice_id, 4, "garage@example.com")
    assert f"De{NBSP}: Studio Test" in text and f"À{NBSP}: Garage Petit" in text
    assert "Le 10 décembre 2026" in text
    assert "L441-10" in text


def _notice_context(country: str, business: bool = True, total: str = "1 200,00 €") -> dict:
    return {
        "client_name": "Garage Petit",
        "client_address": "1 place Bellecour, 69002 Lyon",
        "client_is_business": business,
        "client_country": country,
        "invoice_number": "F-1",
        "invoice_numbers": "F-1",
        "invoice_date": "1 novembre 2026",
        "amount": total,
        "balance": total,
        "paid": "",
        "total_balance": total,
        "due_date": "1 décembre 2026",
        "days_left": 0,
        "days_overdue": 9,
        "invoices": [{"number": "F-1", "date": "1 nov.", "due_date": "1 déc.", "balance": total}],
        "payment_details": "",
        "business_name": "Studio Test",
        "business_address": "12 rue des Lilas, 75011 Paris",
        "company_number": "",
        "vat_number": "",
        "business_email": "owner@example.com",
        "deadline_days": 8,
        "deadline_date": "18 décembre 2026",
        "today": "10 décembre 2026",
        "level": 4,
        "level_title": "Mise en demeure",
    }


@pytest.mark.parametrize("channel", ["email", "letter"])
@pytest.mark.parametrize(
    "language,country,business,present,absent",
    [
        ("fr", "FR", True, ["L441-10", "40 €", "procédure judiciaire"], ["2 août 2002", "Québec"]),
        ("fr", "FR", False, ["taux prévu par nos conditions"], ["40 €", "L441-10"]),
        (
            "fr",
            "BE",
            True,
            ["loi du 2 août 2002", "transactions commerciales", "d'au moins 40 €"],
            ["L441-10", "Code de commerce"],
        ),
        ("fr", "BE", False, ["taux d'intérêt légal"], ["40 €", "L441-10", "2 août 2002"]),
        (
            "fr",
            "CA",
            True,
            [
                "au taux convenu ou, à défaut, au taux légal",
                "1617 du Code civil du Québec",
                "procédures judiciaires",
            ],
            ["40 €", "L441-10", "2002"],
        ),
        ("fr", "DE", True, ["procédure de recouvrement"], ["40 €", "L441-10", "2002", "Code", "loi"]),
        ("fr", "", True, ["procédure de recouvrement"], ["40 €", "L441-10", "Code"]),
        ("en", "FR", True, ["L441-10", "EUR 40"], ["2002", "Québec"]),
        ("en", "BE", True, ["law of 2 August 2002", "at least EUR 40"], ["L441-10"]),
        (
            "en",
            "CA",
            True,
            ["agreed rate or, failing that, at the legal rate", "Civil Code of Québec"],
            ["EUR 40"],
        ),
        ("en", "US", True, ["recovery proceedings"], ["EUR 40", "L441-10", "2002", "Code", " law"]),
    ],
)
def test_formal_notice_legal_paragraph_follows_the_clients_country(
    app, channel, language, country, business, present, absent
):
    subject, body = defaults.NOTICE_BY_COUNTRY[(channel, language)]
    with app.test_request_context():
        text = sandbox.render(body, _notice_context(country, business))
    for words in present:
        assert words in text, (words, text)
    for words in absent:
        assert words not in text, (words, text)
    assert "{%" not in text and "client_country" not in text
    heading = "De\u00a0:" if language == "fr" else "From:"
    assert (heading in text) == (channel == "email")


def test_formal_notice_in_canadian_dollars_keeps_the_invoice_currency(app):
    _subject, body = defaults.NOTICE_BY_COUNTRY[("email", "fr")]
    with app.test_request_context():
        text = sandbox.render(body, _notice_context("CA", total="1 200,00 $ CA"))
    assert "Montant total dû\u00a0: 1 200,00 $ CA" in text and "€" not in text


def test_a_belgian_business_client_gets_the_belgian_formal_notice(app, client, owner, sink):
    invoice_id = _invoice(app, owner, country="BE", kind="business")
    text = _sent_text(app, client, sink, invoice_id, 4, "garage@example.com")
    assert "loi du 2 août 2002" in text and "L441-10" not in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_final_reminder_promises_the_fixed_compensation_to_business_clients_only(app, language):
    words = "indemnité forfaitaire" if language == "fr" else "fixed recovery compensation"
    _subject, body = defaults.default("level3", "email", language)
    with app.test_request_context():
        business = sandbox.render(body, _notice_context("FR", business=True))
        consumer = sandbox.render(body, _notice_context("FR", business=False))
    assert words in business and words not in consumer
    assert ("intérêts de retard" if language == "fr" else "late-payment interest") in consumer


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    "country,business,promised",
    [
        ("FR", True, True),
        ("BE", True, True),
        ("CA", True, False),  # Québec: interest only (C.c.Q. art. 1617), no fixed compensation
        ("DE", True, True),  # the EU directive's compensation: the sentence as before
        ("", True, True),  # country not set: the sentence as before
        ("CA", False, False),
        ("FR", False, False),
    ],
)
def test_final_reminder_names_the_fixed_compensation_where_the_law_has_one(
    app, language, country, business, promised
):
    words = "indemnité forfaitaire" if language == "fr" else "fixed recovery compensation"
    interest = "des intérêts de retard" if language == "fr" else "late-payment interest"
    for channel in ("email", "letter"):
        _subject, body = defaults.default("level3", channel, language)
        with app.test_request_context():
            text = sandbox.render(body, _notice_context(country, business=business))
        assert (words in text) == promised, (channel, text)
        assert interest in text and "{%" not in text


def test_a_quebec_business_client_final_reminder_has_no_fixed_compensation(app, client, owner, sink):
    invoice_id = _invoice(app, owner, country="CA", kind="business", email="atelier@example.ca")
    text = " ".join(_sent_text(app, client, sink, invoice_id, 3, "atelier@example.ca").split())
    assert "Ceci est notre dernier rappel" in text
    assert "des intérêts de retard pourront vous être réclamés" in text
    assert "indemnité forfaitaire" not in text


# ------------------------------------------------- 6. import messages translated


def test_invoice_import_row_messages_are_french_on_a_french_page(app, client, owner):
    from .test_import_invoices import FIXTURES, web_import

    _id, preview, _result = web_import(client, (FIXTURES / "invoices_bad_rows.csv").read_bytes())
    html = unescape(preview.get_data(as_text=True))
    assert f"Montant{NBSP}: Ce montant n'est pas valide." in html
    assert f"Date d'émission{NBSP}: Cette date n'existe pas." in html
    assert "Amount:" not in html and "This is not a valid amount." not in html


def test_bank_statement_line_message_is_french_on_a_french_page(app, client, owner):
    from .test_bank_import import import_csv_statement

    _id, response = import_csv_statement(client, b"Date;Montant\n21/11/2026;12,50\n31/11/2026;3,00\n")
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert f"Ligne 3{NBSP}: Cette date n'existe pas. Rien n'a été importé." in html


def test_match_confidence_is_written_the_readers_way(app, client, owner):
    from .test_bank_import import import_csv_statement

    _invoice(app, owner, client_name="Café Crème", email="hello@creme.example", total_cents=99_90)
    statement = b"Date;Libell\xc3\xa9;Montant;Contrepartie;Id\n05/12/2026;VIR SEPA;99,90;CAFE CREME;TX-1\n"
    _id, response = import_csv_statement(client, statement)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = unescape(client.get("/imports/review").get_data(as_text=True))
    assert f"confiance 70{NBSP}%" in page and "70 %" not in page
    with app.app_context():
        _account(app, owner).language = "en"
        db.session.commit()
    page = unescape(client.get("/imports/review").get_data(as_text=True))
    assert "confidence 70%" in page and f"70{NBSP}%" not in page


def test_cli_keeps_english_row_messages(app):
    from app.imports import FieldProblem, translate

    problem = FieldProblem("Amount: %(reason)s", "This is not a valid amount.")
    assert str(problem) == "Amount: This is not a valid amount."
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert translate(problem) == f"Montant{NBSP}: Ce montant n'est pas valide."


# ------------------------------------------------- 7. seen on the screenshots


def test_level_two_is_deuxieme_rappel_on_pages_as_in_the_email(app, client, owner):
    """Three reminders come before the formal notice: the second is « deuxième », as the
    level-2 email's subject already says (« second » is for the last of two)."""
    invoice_id = _invoice(app, owner)
    with app.app_context():
        db.session.get(Invoice, invoice_id).reminder_level = 2
        db.session.commit()
        subject, _body = defaults.default("level2", "email", "fr")
    assert subject.startswith("Deuxième rappel")
    for path in (f"/invoices/{invoice_id}", "/invoices/?tab=all", "/invoices/?tab=overdue"):
        page = client.get(path).get_data(as_text=True)
        assert "Deuxième rappel" in page and "Second rappel" not in page, path


def test_invoice_search_placeholder_fits_a_phone_in_french(app, client, owner):
    page = client.get("/invoices/?tab=all").get_data(as_text=True)
    placeholder = re.search(r'<input id="q"[^>]* placeholder="([^"]+)"', page).group(1)
    assert placeholder == "Numéro ou nom du client"


def test_overdue_row_without_reminder_does_not_say_it_twice(app, client, owner):
    _invoice(app, owner)  # 9 days late, never reminded
    (row,) = _reminder_lines(client.get("/invoices/?tab=overdue"))
    assert row == f"Dernière relance{NBSP}: aucune pour l'instant"
    with app.app_context():
        _account(app, owner).language = "en"
        db.session.commit()
    (row,) = _reminder_lines(client.get("/invoices/?tab=overdue"))
    assert row == "Last reminder: not yet sent"


def _reminder_lines(response) -> list[str]:
    html = response.get_data(as_text=True)
    lines = re.findall(r'<span class="row-sub row-reminder">(.*?)</span>\n', html)
    return [unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in lines]


def test_demo_letters_name_the_client_once_above_the_address(app, fixed_now):
    from app.documents.messages import render_message
    from app.models import Client

    fixed_now(NOW)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        garage = db.session.scalar(select(Client).where(Client.name == "Garage Petit"))
        invoices = list(db.session.scalars(select(Invoice).where(Invoice.client_id == garage.id)))
        text = render_message(garage.account, garage, invoices, "level4").text
        assert f"À{NBSP}: Garage Petit, 1 place de la Mairie, 75001 Paris\n" in text
        for other in db.session.scalars(select(Client)):
            assert not other.address.startswith(other.name) and other.address.count("\n") >= 1
