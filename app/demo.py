"""Demo account: a dozen clients and invoices in every state, dated around today."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from . import clock, invoicing
from .extensions import db
from .invoicing import LineInput
from .models import Account, Client, Invoice

CLIENTS = [
    # name, email, language, country, kind
    ("Atelier Moreau", "compta@atelier-moreau.test", "fr", "FR", "business"),
    ("Boulangerie Lefèvre", "contact@boulangerie-lefevre.test", "fr", "FR", "business"),
    ("Studio Vermeulen", "factures@studio-vermeulen.test", "fr", "BE", "business"),
    ("Maple Leaf Design", "ap@mapleleaf.test", "en", "CA", "business"),
    ("Claire Dubois", "claire.dubois@example.test", "fr", "FR", "consumer"),
    ("Northwind Traders", "billing@northwind.test", "en", "GB", "business"),
    ("Cabinet Roussel", None, "fr", "FR", "business"),
    ("Café des Arts", "bonjour@cafedesarts.test", "fr", "BE", "business"),
    ("Lucas Martin", "lucas.martin@example.test", "fr", "FR", "consumer"),
    ("Garage Petit", "garage.petit@example.test", "fr", "FR", "business"),
    ("Les Jardins de Québec", "admin@jardins-quebec.test", "fr", "CA", "business"),
    ("Blue Harbour Ltd", "accounts@blueharbour.test", "en", "GB", "business"),
]

# A postal address per country, without the client's name: letters print the name
# above the address (templates/documents/_letter.html).
DEMO_ADDRESSES = {
    "FR": "1 place de la Mairie\n75001 Paris",
    "BE": "1 Grand-Place\n1000 Bruxelles\nBelgique",
    "CA": "1 rue Saint-Louis\nQuébec (Québec) G1R 3Z2\nCanada",
    "GB": "1 King Street\nLondon EC2V 8AU\nUnited Kingdom",
}

# number suffix, client index, issued (days from today), terms, total cents, state
INVOICES = [
    (1, 0, -2, 30, 0, "draft"),
    (2, 1, -1, 30, 48000, "draft"),
    (3, 2, -27, 30, 125000, "sent"),  # due in 3 days
    (4, 3, -20, 30, 90000, "sent"),  # due in 10 days
    (5, 4, -30, 30, 35000, "sent"),  # due today
    (6, 5, -33, 30, 210000, "sent"),  # 3 days overdue
    (7, 7, -40, 30, 64000, "sent"),  # 10 days overdue
    (8, 8, -70, 30, 18000, "sent"),  # 40 days overdue
    (9, 9, -45, 30, 150000, "partial"),  # 15 days overdue, half paid
    (10, 10, -50, 30, 78000, "paid"),
    (11, 11, -12, None, 43000, "sent"),  # no due date
    (12, 6, -35, 30, 56000, "sent"),  # client without email, 5 days overdue
    (13, 0, -25, 30, 360000, "instalments"),  # direct debit with instalments
    (14, 3, -15, 15, 99000, "sent"),  # due today, other currency
]


def create_demo(email: str, password: str) -> bool:
    """Create the demo account unless it exists. Returns True when it was created."""
    email = Account.normalise_email(email)
    if db.session.scalar(select(Account).where(Account.email == email)):
        return False
    account = Account(
        email=email,
        business_name="Studio Lumière — Camille Laurent",
        address="12 rue des Lilas\n75011 Paris\nFrance",
        company_number="SIRET 812 345 678 00017",
        vat_number="FR12812345678",
        language="fr",
        timezone="Europe/Paris",
        currency="EUR",
        iban="FR7630006000011234567890189",
        bic="AGRIFRPP",
        # Made by the operator on their own machine, not through the public form.
        email_verified_at=clock.now(),
    )
    account.set_password(password)
    db.session.add(account)
    clients = []
    for name, client_email, language, country, kind in CLIENTS:
        client = Client(
            account=account,
            name=name,
            email=client_email,
            language=language,
            country=country,
            kind=kind,
            address=DEMO_ADDRESSES[country],
        )
        db.session.add(client)
        clients.append(client)
    db.session.flush()

    tz = ZoneInfo(account.timezone)
    today = clock.today(account.timezone)
    year = today.year
    for suffix, client_index, issued_delta, terms, total, state in INVOICES:
        client = clients[client_index]
        issued_on = today + timedelta(days=issued_delta)
        invoice = Invoice(
            account_id=account.id,
            client=client,
            number=f"F-{year}-{suffix:03d}",
            issued_on=issued_on,
            due_on=issued_on + timedelta(days=terms) if terms is not None else None,
            terms_days=terms,
            currency="CAD" if client.country == "CA" else "EUR",
            status="draft",
        )
        db.session.add(invoice)
        if total:
            invoice.total_cents = total
        else:
            invoicing.set_lines(
                invoice,
                [
                    LineInput("Design de logo", 1000, 60000, 2000),
                    LineInput("Déclinaisons (jours)", 1500, 40000, 2000),
                ],
            )
        if state == "instalments":
            invoice.payment_method = "direct_debit"
            invoice.instalment_plan = True
        invoicing.log(invoice, "invoice_created")
        if state != "draft":
            sent_at = datetime.combine(issued_on, time(10, 0), tzinfo=tz)
            invoicing.mark_sent(invoice, "email_other", sent_at)
        if state == "partial":
            invoicing.record_payment(
                invoice,
                invoice.total_cents // 2,
                today - timedelta(days=5),
                "transfer",
                "VIR partiel",
            )
        if state == "paid":
            invoicing.record_payment(
                invoice, invoice.total_cents, today - timedelta(days=12), "transfer", "VIR"
            )
    db.session.commit()
    return True
