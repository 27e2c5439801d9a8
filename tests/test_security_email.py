"""Email that mail clients read right (issue 14 point 6, docs/security.md).

Every message is read back from the raw bytes a real SMTP sink (aiosmtpd)
received: the From display name decodes (RFC 2047, email.header) to exactly the
business name, no header line is longer than the policy folds to, automatic
reminders say Auto-Submitted: auto-generated (RFC 3834) and clicked ones do not,
the QR code sits in multipart/related beside the HTML, the PDF stays an
attachment, and a CR or LF in user text never starts a header.
Real tick, real worker, real sink; SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import re
from datetime import date
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr

import pytest

from app.extensions import db
from app.mailsink import MailSink, SinkHandler
from app.models import Account, Invoice

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, D, at, engine_case, run_worker, tick_and_work

OWNER = "owner@example.com"

# Real-looking French, Belgian and Québec business names, 15 to 90 characters.
NAMES = [
    "Plomberie & Hydraulique Lefèvre-Gauthier Fils SARL",
    "Logiciels Éditions Québécoises du Saguenay–Lac-Saint-Jean inc.",
    "Boulangerie-Pâtisserie « Au Pain Doré » de Saint-Étienne-du-Rouvray",
    "L'Atelier d'Ébénisterie Côté & Bérubé ltée",
    "Menuiserie Générale Dubois, Père et Fils (Liège)",
    "Brasserie artisanale du Val-d'Oise — Bières Houblonnées SAS",
    "Cabinet d'Expertise Comptable Hénault-Lemaître & Associés, Société d'Avocats",
    "Électricité Bâtiment Gérard Müller",
    "Société Coopérative de Production Agricole des Côtes-d'Armor (SCOP)",
    "Les Entreprises Forestières Côté-Nord et Fils inc., Baie-Comeau, Québec",
    "Chocolaterie Pierre Marcolini-Vandenbroucke SPRL, Bruxelles",
    "Garage Réparation Automobile Ève & Noël",
    "Fromagerie L'Ancêtre — Bécancour (Centre-du-Québec)",
    "Traiteur « Les Délices de Maëlle » SARL",
    "Rénovation Écoénergétique Trois-Rivières S.E.N.C.",
    "Ébénisterie d'Art François-Xavier Lévêque, maître-artisan d'art, Saint-Jean-Port-Joli",
    "Agence Immobilière Öztürk & Caçal",
    "Imprimerie Façonnage Reliure du Hainaut — Mons, Charleroi & La Louvière SRL",
    "Clinique Vétérinaire Saint-Hyacinthe",
    "Les Productions Théâtrales « L'Œil du Cyclone » OBNL, Montréal (Plateau-Mont-Royal)",
]


def test_the_names_are_what_the_issue_asks_for():
    assert len(NAMES) == 20 and len(set(NAMES)) == 20
    assert all(15 <= len(name) <= 90 for name in NAMES), [n for n in NAMES if not 15 <= len(n) <= 90]
    assert max(len(name) for name in NAMES) >= 80


class RawHandler(SinkHandler):
    """The sink, keeping the bytes exactly as they came over SMTP."""

    def __init__(self):
        super().__init__()
        self.raw: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.raw.append((list(envelope.rcpt_tos), envelope.content))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def raw_sink(app):
    sink = MailSink()
    sink.handler = RawHandler()
    sink.controller.handler = sink.handler
    sink.start()
    app.config["MAIL_PORT"] = sink.port
    yield sink
    sink.stop()


def received(sink, address):
    """The raw bytes of each message sent to ``address``, parsed with the compat32
    parser (what email.header.decode_header is made for)."""
    return [(data, email.message_from_bytes(data)) for to, data in sink.handler.raw if address in to]


def display_name(message) -> str:
    """The From display name as a mail client reads it: the header unfolded and
    parsed as an address (RFC 5322), then its words decoded (RFC 2047 section 6.1:
    encoded words are decoded after parsing, so a comma inside one is text)."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", message["From"])
    [(name, address)] = getaddresses([unfolded])
    assert address.endswith("@relance.test"), message["From"]
    return str(make_header(decode_header(name)))


def decoded(message, header) -> str:
    return str(make_header(decode_header(message[header])))


def header_block(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_well_folded(data: bytes):
    """No line of the message over 998 octets (RFC 5322), no header line over the
    78 the policy folds to, and every continuation line starts with white space."""
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    for line in header_block(data):
        assert len(line) <= 78, line
    assert all(not line or line[:1] in (b" ", b"\t") or b":" in line for line in header_block(data))


def header_names(data: bytes) -> list[str]:
    return [line.split(b":", 1)[0].decode() for line in header_block(data) if line[:1] not in (b" ", b"\t")]


def send_to_twenty(app, fixed_now):
    """Twenty accounts, each with one of NAMES and a client with a due invoice."""
    fixed_now(at(2026, 11, 4, 10))
    addresses = {}
    with app.app_context():
        for n, name in enumerate(NAMES):
            account = make_account(email=f"owner{n}@example.com", business_name=name)
            customer = make_client(account, name=f"Client {n}", email=f"client{n}@example.com", language="fr")
            make_invoice(account, customer, issued_on=date(2026, 11, 4), due_on=D, number=f"F-2026-{n:03}")
            addresses[f"client{n}@example.com"] = (name, f"F-2026-{n:03}")
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    return addresses


def test_twenty_business_names_arrive_as_written(app, fixed_now, raw_sink):
    addresses = send_to_twenty(app, fixed_now)
    for address, (name, number) in addresses.items():
        [(data, message)] = received(raw_sink, address)
        assert display_name(message) == f"{name} via Relance", data[:600]
        assert_well_folded(data)
        # The modern parser sees one sender with that name; it keeps the fold
        # between two encoded words, which RFC 2047 drops (FIELD-NOTES.md): at
        # most a double space.
        modern = email.message_from_bytes(data, policy=policy.default)
        assert [" ".join(a.display_name.split()) for a in modern["From"].addresses] == [f"{name} via Relance"]
        # The subject is French, accents and all.
        expected = f"Rappel : la facture {number} arrive à échéance dans 3 jours"
        assert decoded(message, "Subject") == expected


def test_automatic_reminders_are_auto_generated(app, fixed_now, raw_sink):
    engine_case(app, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    [(data, message)] = received(raw_sink, CLIENT)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith("<reminder-")
    assert message["Date"] and message["MIME-Version"] == "1.0"
    assert parseaddr(message["Reply-To"])[1] == OWNER


def _key(page):
    return re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)


def test_a_reminder_the_owner_clicks_is_not_auto_generated(app, fixed_now, raw_sink, client, auth):
    case = engine_case(app, fixed_now)
    fixed_now(at(2026, 12, 8, 10))
    auth.login(email=OWNER)
    page = client.get(f"/collect/compose?invoice={case['invoice']}").get_data(as_text=True)
    data = {"key": _key(page), "invoice": [str(case["invoice"])], "level": "0", "action": "send"}
    assert client.form("/collect/compose", data).status_code == 302
    with app.app_context():
        run_worker(app)
    [(data, message)] = received(raw_sink, CLIENT)
    assert message["Auto-Submitted"] is None
    assert message["Message-ID"].startswith("<reminder-")


def send_invoice(app, fixed_now, client, auth, case, subject, **account_fields):
    fixed_now(at(2026, 11, 23, 10))
    with app.app_context():
        account = db.session.get(Account, case["account"])
        for name, value in account_fields.items():
            setattr(account, name, value)
        db.session.commit()
    auth.login(email=OWNER)
    form = {"key": "b" * 32, "to": CLIENT, "subject": subject, "message": "Bonjour,\nvoici la facture."}
    response = client.form(f"/invoices/{case['invoice']}/email", form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        run_worker(app)
    [(data, message)] = received(app.extensions["raw_sink"], CLIENT)
    return data, message


@pytest.fixture
def invoice_case(app, fixed_now, raw_sink):
    app.extensions["raw_sink"] = raw_sink
    return engine_case(app, fixed_now)


def test_the_invoice_email_keeps_a_long_accented_subject_and_is_not_auto_generated(
    app, fixed_now, client, auth, invoice_case
):
    subject = (
        "Facture F-2026-014 — travaux d'électricité réalisés à Trois-Rivières « chantier Bélanger », "
        "échéance le 4 décembre, merci de votre confiance renouvelée année après année"
    )
    data, message = send_invoice(app, fixed_now, client, auth, invoice_case, subject, business_name=NAMES[5])
    assert decoded(message, "Subject") == subject
    assert display_name(message) == f"{NAMES[5]} via Relance"
    assert_well_folded(data)
    assert message["Auto-Submitted"] is None
    # The PDF stays a real attachment.
    modern = email.message_from_bytes(data, policy=policy.default)
    [pdf] = [part for part in modern.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_content_disposition() == "attachment" and pdf.get_filename().endswith(".pdf")
    assert pdf.get_content().startswith(b"%PDF")


ATTACKS = [
    "\r\nX-Injected: yes",
    "\nBcc: victim@example.com",
    "\rX-Injected: yes",
    "\r\n\r\n<html>body</html>",
    "\u2028X-Injected: yes",
    "\x85X-Injected: yes",
    "\r\n X-Injected: yes",
]


def assert_no_injected_header(data: bytes, message):
    names = header_names(data)
    assert "X-Injected" not in names and "Bcc" not in names, names
    assert [names.count(name) for name in ("From", "To", "Subject", "Reply-To")] == [1, 1, 1, 1], names
    assert message["X-Injected"] is None and message["Bcc"] is None
    for name in ("From", "Subject"):
        assert not set("\r\n\x85\u2028") & set(decoded(message, name)), decoded(message, name)


@pytest.mark.parametrize("attack", ATTACKS)
def test_crlf_in_a_business_name_or_an_invoice_number_adds_no_header(app, fixed_now, raw_sink, attack):
    """Values that reach headers from the database (an import, an old row): the
    business name (From) and the invoice number (Subject) of an automatic reminder."""
    case = engine_case(app, fixed_now)
    with app.app_context():
        account = db.session.get(Account, case["account"])
        account.business_name = "Atelier Bélanger" + attack
        invoice = db.session.get(Invoice, case["invoice"])
        invoice.number = "F-2026-014" + attack
        db.session.commit()
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    [(data, message)] = received(raw_sink, CLIENT)
    assert_no_injected_header(data, message)
    assert display_name(message).startswith("Atelier Bélanger ")
    assert [to for to, _data in raw_sink.handler.raw] == [[CLIENT]]


@pytest.mark.parametrize("attack", ATTACKS[:2])
def test_crlf_in_the_subject_the_owner_types_adds_no_header(
    app, fixed_now, client, auth, invoice_case, attack
):
    fixed_now(at(2026, 11, 23, 10))
    auth.login(email=OWNER)
    form = {"key": "c" * 32, "to": CLIENT, "subject": "Facture F-2026-014" + attack, "message": "Bonjour"}
    response = client.form(f"/invoices/{invoice_case['invoice']}/email", form)
    if response.status_code == 422:
        return  # refused with a message: fine
    with app.app_context():
        run_worker(app)
    [(data, message)] = received(app.extensions["raw_sink"], CLIENT)
    assert_no_injected_header(data, message)


def test_the_qr_code_is_inline_in_multipart_related_beside_the_html(app, fixed_now, raw_sink):
    engine_case(app, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))  # +3 step: QR code and the stamped PDF
    [(data, _message)] = received(raw_sink, CLIENT)
    message = email.message_from_bytes(data, policy=policy.default)
    assert_well_folded(data)
    assert message.get_content_type() == "multipart/mixed"
    alternative, *files = message.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert image.get_content().startswith(b"\x89PNG")
    # The QR code is not an attachment; the invoice PDF is.
    assert [part.get_content_type() for part in message.iter_attachments()] == ["application/pdf"]
    assert [part.get_content_disposition() for part in files] == ["attachment"]
    assert message.get_body(("html",)) is html
    assert message.get_body(("plain",)) is plain


def test_the_password_reset_reads_right(app, fixed_now, raw_sink, client):
    with app.app_context():
        make_account(email=OWNER, business_name=NAMES[1], language="fr")
    fixed_now(at(2026, 11, 23, 10))
    client.form("/password/forgot", {"email": OWNER})
    [(data, message)] = received(raw_sink, OWNER)
    assert_well_folded(data)
    assert decoded(message, "Subject") == "Réinitialisez votre mot de passe Relance"
    assert display_name(message) == "Relance"
    assert message["Auto-Submitted"] is None  # asked for by the person who reads it
    assert message["Message-ID"] and message["Date"]


@pytest.mark.parametrize(
    "value, ok",
    [
        ("compta@atelier-moreau.fr", True),
        ("compta@bücher.example", True),  # the domain goes out in IDNA
        ("élise@atelier-moreau.fr", False),  # would need SMTPUTF8
        ("compta@" + "é" * 70 + ".fr", False),  # IDNA refuses it (a label over 63)
        ("compta@example.fr\r\nBcc: x@evil.test", False),
        ("compta example.fr", False),
        ("", False),
    ],
)
def test_one_rule_says_which_addresses_our_mail_can_carry(value, ok):
    from app import forms, mailer

    assert mailer.sendable(value) is ok
    if not ok:  # the forms and imports read addresses with this rule
        assert not forms.is_email_address(value)
        with pytest.raises(mailer.BadAddress):
            mailer.address(value)
