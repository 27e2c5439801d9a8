"""Invoices and clients from a CSV: guess the columns, check every row, show what
would change (dry run), then create or update — matched by invoice number, so the
same file imported twice changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from .. import clock, invoicing, payinfo, payment
from ..extensions import db
from ..forms import is_email_address
from ..models import Account, Client, Event, ImportFile, Invoice, Payment
from ..money import CURRENCIES, MAX_CENTS, N_, AmountError, parse_amount
from ..reminders import planning
from . import CHUNK, FieldProblem, ImportRefused
from .csvread import decode, normalise_header, parse_date, reader, stored_mapping

FIELDS = (
    "number",
    "client",
    "client_email",
    "issued_on",
    "due_on",
    "amount",
    "paid_amount",
    "currency",
    "status",
)
REQUIRED = ("number", "client", "issued_on", "amount")
FIELD_LABELS = {
    "number": N_("Invoice number"),
    "client": N_("Client"),
    "client_email": N_("Client email"),
    "issued_on": N_("Issue date"),
    "due_on": N_("Due date"),
    "amount": N_("Amount (total)"),
    "paid_amount": N_("Amount paid"),
    "currency": N_("Currency"),
    "status": N_("Status"),
}

# Header names seen in French and English exports, normalised (lower case, no accents).
ALIASES = {
    "number": {
        "number",
        "invoice number",
        "invoice",
        "invoice no",
        "invoice n",
        "invoice id",
        "no",
        "n",
        "num",
        "numero",
        "numero de facture",
        "numero facture",
        "n facture",
        "n de facture",
        "facture",
        "ref",
        "reference",
        "ref facture",
    },
    "client": {
        "client",
        "customer",
        "client name",
        "customer name",
        "nom du client",
        "nom client",
        "nom",
        "name",
        "company",
        "societe",
        "raison sociale",
        "destinataire",
    },
    "client_email": {
        "email",
        "e mail",
        "client email",
        "customer email",
        "mail",
        "courriel",
        "adresse email",
        "adresse e mail",
        "email client",
        "email du client",
        "e mail client",
    },
    "issued_on": {
        "date",
        "issue date",
        "issued",
        "issued on",
        "invoice date",
        "date d emission",
        "date emission",
        "date de facture",
        "date facture",
        "date de facturation",
        "emise le",
        "emission",
    },
    "due_on": {
        "due date",
        "due",
        "due on",
        "payment due",
        "echeance",
        "date d echeance",
        "date echeance",
        "date limite",
        "date limite de paiement",
        "a payer avant le",
        "payable le",
    },
    "amount": {
        "amount",
        "total",
        "total ttc",
        "montant",
        "montant ttc",
        "amount due",
        "total amount",
        "invoice total",
        "total incl tax",
        "total incl vat",
        "gross",
        "ttc",
    },
    "paid_amount": {
        "paid",
        "paid amount",
        "amount paid",
        "montant paye",
        "paye",
        "regle",
        "montant regle",
        "deja paye",
        "deja regle",
        "encaisse",
        "payments",
    },
    "currency": {"currency", "devise", "monnaie", "ccy"},
    "status": {"status", "statut", "etat", "state"},
}
# When no header matches exactly: a word that gives the column away.
KEYWORDS = (
    ("client_email", ("mail", "courriel")),
    ("due_on", ("echeance", "due")),
    ("paid_amount", ("paye", "paid", "regle")),
    ("issued_on", ("date",)),
    ("number", ("numero", "number", "facture", "invoice")),
    ("client", ("client", "customer", "nom")),
    ("amount", ("montant", "amount", "total")),
    ("currency", ("devise", "currency")),
    ("status", ("statut", "status")),
)

STATUS_WORDS = {
    "draft": "draft",
    "brouillon": "draft",
    "sent": "sent",
    "envoyee": "sent",
    "envoye": "sent",
    "emise": "sent",
    "unpaid": "sent",
    "impayee": "sent",
    "open": "sent",
    "ouverte": "sent",
    "overdue": "sent",
    "en retard": "sent",
    "en attente": "sent",
    "a payer": "sent",
    "due": "sent",
    "late": "sent",
    "pending": "sent",
    "partially paid": "sent",
    "partiellement payee": "sent",
    "paid": "paid",
    "payee": "paid",
    "paye": "paid",
    "reglee": "paid",
    "soldee": "paid",
    "void": "void",
    "cancelled": "void",
    "canceled": "void",
    "annulee": "void",
    "annule": "void",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PLAIN_AMOUNT = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")


def quick_amount(text: str) -> int:
    """parse_amount, with a fast path for the common shapes (``1234,5``, ``1 234.56``)."""
    match = _PLAIN_AMOUNT.match(text.replace(" ", "").replace("\u00a0", "").replace("\u202f", ""))
    if match:
        whole, frac = match.groups()
        cents = int(whole) * 100 + (int((frac + "0")[:2]) if frac else 0)
        if cents <= MAX_CENTS:
            return cents
    return parse_amount(text)


def guess_mapping(header: list[str]) -> dict[str, int | None]:
    """Field → column index (or None) from the header names."""
    names = [normalise_header(h) for h in header]
    mapping: dict[str, int | None] = dict.fromkeys(FIELDS)
    taken: set[int] = set()
    for name_field in FIELDS:
        for index, name in enumerate(names):
            if index not in taken and name in ALIASES[name_field]:
                mapping[name_field] = index
                taken.add(index)
                break
    for name_field, words in KEYWORDS:
        if mapping[name_field] is not None:
            continue
        for index, name in enumerate(names):
            if index not in taken and any(w in name.split() or w in name for w in words):
                mapping[name_field] = index
                taken.add(index)
                break
    return mapping


def missing_fields(mapping) -> list[str]:
    return [f for f in REQUIRED if mapping.get(f) is None]


def load_mapping(import_file: ImportFile) -> dict[str, int | None]:
    return stored_mapping(import_file.mapping, FIELDS)


@dataclass(frozen=True)
class AccountFacts:
    id: int
    currency: str
    timezone: str
    language: str


def facts_of(account: Account) -> AccountFacts:
    return AccountFacts(account.id, account.currency, account.timezone, account.language)


@dataclass
class Row:
    line: int
    number: str
    client: str
    email: str | None
    issued_on: date
    due_on: date | None
    total: int
    paid: int
    currency: str
    status: str | None


@dataclass
class RowError:
    line: int
    number: str
    messages: list[str]


def parse_row(cells, mapping, line, default_currency):
    """A Row, or the list of what is wrong with it (messages to translate)."""
    errors: list[str] = []
    size = len(cells)
    (
        number,
        client,
        email,
        issued_text,
        due_text,
        amount_text,
        paid_text,
        currency_text,
        status_text,
    ) = (
        cells[index].strip() if index is not None and index < size else ""
        for index in (mapping.get(name) for name in FIELDS)
    )

    if not number:
        errors.append(N_("The invoice number is missing."))
    elif len(number) > 40:
        errors.append(N_("The invoice number is longer than 40 characters."))
    if not client:
        errors.append(N_("The client is missing."))
    elif len(client) > 200:
        errors.append(N_("The client name is longer than 200 characters."))
    email = email.lower() or None
    if email and (len(email) > 254 or not _EMAIL.match(email) or not is_email_address(email)):
        errors.append(N_("The client email is not a valid address."))
    issued_on = due_on = None
    try:
        issued_on = parse_date(issued_text)
    except ValueError as error:
        errors.append(FieldProblem(N_("Issue date: %(reason)s"), str(error)))
    if due_text:
        try:
            due_on = parse_date(due_text)
        except ValueError as error:
            errors.append(FieldProblem(N_("Due date: %(reason)s"), str(error)))
    if issued_on and due_on and due_on < issued_on:
        errors.append(N_("The due date is before the issue date."))
    total = paid = 0
    try:
        total = quick_amount(amount_text)
    except AmountError as error:
        errors.append(FieldProblem(N_("Amount: %(reason)s"), str(error)))
    status_text = normalise_header(status_text)
    status = STATUS_WORDS.get(status_text) if status_text else None
    if status_text and status is None:
        errors.append(N_("Unknown status (use draft, sent, paid or void)."))
    if paid_text:
        try:
            paid = quick_amount(paid_text)
        except AmountError as error:
            errors.append(FieldProblem(N_("Amount paid: %(reason)s"), str(error)))
    elif status == "paid":
        paid = total
    if paid > total:
        errors.append(N_("The amount paid is more than the total."))
    currency = (currency_text or default_currency).upper()
    currency = {"€": "EUR", "$": "USD", "£": "GBP"}.get(currency, currency)
    if currency not in CURRENCIES:
        errors.append(N_("Unknown currency (use EUR, USD, GBP, CHF or CAD)."))
    if total > MAX_CENTS:
        errors.append(N_("This amount is too large."))
    if errors:
        return None, errors
    return Row(line, number, client, email, issued_on, due_on, total, paid, currency, status), []


@dataclass
class Report:
    """What an import did (or would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    rows: int = 0
    samples: list = field(default_factory=list)  # (action, Row, changes) for the first rows
    errors: list = field(default_factory=list)  # RowError, the first MAX_ERRORS
    new_clients: int = 0

    MAX_SAMPLES = 100
    MAX_ERRORS = 500

    def sample(self, action, row, changes=()):
        if len(self.samples) < self.MAX_SAMPLES:
            self.samples.append((action, row, list(changes)))

    def error(self, line, number, messages):
        self.invalid += 1
        if len(self.errors) < self.MAX_ERRORS:
            self.errors.append(RowError(line, number, messages))


def open_rows(content: bytes, mapping, account):
    """Yield (line, Row | None, errors) for every data row; refuse a file that cannot be read."""
    text = decode(content)
    header, rows = reader(text)
    if missing_fields(mapping):
        raise ImportRefused(N_("Choose the columns for the number, client, issue date and amount."))
    if any(i is not None and i >= len(header) for i in mapping.values()):
        raise ImportRefused(N_("A chosen column is not in the file."))
    seen: set[str] = set()

    def generate():
        for line, cells in enumerate(rows, start=2):
            row, errors = parse_row(cells, mapping, line, account.currency)
            if row is not None:
                key = row.number.lower()
                if key in seen:
                    row, errors = None, [N_("This invoice number is already on an earlier line.")]
                else:
                    seen.add(key)
            yield (
                line,
                row,
                errors,
                (cells[mapping["number"]].strip() if mapping["number"] < len(cells) else ""),
            )

    return header, generate()


def _changes(invoice: Invoice, row: Row, client_names: dict[int, str], already_emailed: bool):
    changes = []
    if client_names.get(invoice.client_id, "").lower() != row.client.lower():
        changes.append("client")
    if invoice.issued_on != row.issued_on:
        changes.append("issued_on")
    if invoice.due_on != row.due_on:
        changes.append("due_on")
    if invoice.total_cents != row.total:
        changes.append("amount")
    if invoice.currency != row.currency:
        changes.append("currency")
    if row.paid > invoice.paid_cents:
        changes.append("paid_amount")
    if row.status == "void" and invoice.status != "void":
        changes.append("status")
    if already_emailed and invoice.status == "draft" and row.status != "draft":
        changes.append("status")
    return changes


class _Clients:
    """The account's clients by lower-cased name; new ones are inserted when needed."""

    def __init__(self, account: Account):
        self.account = account
        self.by_name: dict[str, list] = {}
        self.names: dict[int, str] = {}
        for client_id, name, email in db.session.execute(
            select(Client.id, Client.name, Client.email).where(Client.account_id == account.id)
        ):
            self.by_name.setdefault(name.lower(), [client_id, email])
            self.names[client_id] = name
        self.created = 0

    def known(self, name):
        return name.lower() in self.by_name

    def id_for(self, row: Row) -> int:
        entry = self.by_name.get(row.client.lower())
        if entry is None:
            self.ensure([row])
            entry = self.by_name[row.client.lower()]
        if row.email and not entry[1]:
            db.session.execute(Client.__table__.update().where(Client.id == entry[0]).values(email=row.email))
            entry[1] = row.email
        return entry[0]

    def ensure(self, rows) -> None:
        """Create, in one INSERT, the clients of these rows that do not exist yet."""
        new = {}
        for row in rows:
            key = row.client.lower()
            if key not in self.by_name and key not in new:
                new[key] = row
        if not new:
            return
        values = [
            {
                "account_id": self.account.id,
                "name": row.client,
                "email": row.email,
                "language": self.account.language,
                "country": "FR",
                "kind": "business",
                "address": "",
                "notes": "",
                "reminders_paused": False,
                "created_at": clock.now(),
            }
            for row in new.values()
        ]
        ids = db.session.scalars(
            insert(Client.__table__).returning(Client.id, sort_by_parameter_order=True), values
        ).all()
        for client_id, (key, row) in zip(ids, new.items(), strict=True):
            self.by_name[key] = [client_id, row.email]
            self.names[client_id] = row.client
        self.created += len(ids)


def _existing_numbers(account_id: int) -> dict[str, int]:
    return {
        number.lower(): invoice_id
        for invoice_id, number in db.session.execute(
            select(Invoice.id, Invoice.number).where(Invoice.account_id == account_id)
        )
    }


def _chunks(iterator, size):
    chunk = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def dry_run(content: bytes, mapping, account: Account, already_emailed: bool = False) -> Report:
    """What the import would do; writes nothing."""
    report = Report()
    _header, rows = open_rows(content, mapping, account)
    clients = _Clients(account)
    existing = _existing_numbers(account.id)
    new_clients: set[str] = set()
    for chunk in _chunks(rows, CHUNK):
        ids = [existing[r.number.lower()] for _l, r, _e, _n in chunk if r and r.number.lower() in existing]
        loaded = {i.id: i for i in db.session.scalars(select(Invoice).where(Invoice.id.in_(ids)))}
        for line, row, errors, number in chunk:
            report.rows += 1
            if row is None:
                report.error(line, number, errors)
                continue
            invoice_id = existing.get(row.number.lower())
            if not clients.known(row.client):
                new_clients.add(row.client.lower())
            if invoice_id is None:
                report.created += 1
                report.sample("create", row)
                continue
            changes = _changes(loaded[invoice_id], row, clients.names, already_emailed)
            if changes:
                report.updated += 1
                report.sample("update", row, changes)
            else:
                report.unchanged += 1
                report.sample("unchanged", row)
        db.session.expunge_all()
    report.new_clients = len(new_clients)
    db.session.rollback()
    return report


def _morning(day: date, timezone: str) -> datetime:
    moment = datetime.combine(day, time(9, 0), tzinfo=ZoneInfo(timezone))
    return min(moment, clock.now())


def run(import_file: ImportFile, progress: bool = False) -> Report:
    """Import the file. Refused (nothing written) when a row is wrong, unless the owner
    chose "import the valid rows only". With ``progress`` (the worker), each chunk of
    rows is committed and the progress written; otherwise one transaction."""
    account = facts_of(db.session.get(Account, import_file.account_id))  # survives expunge_all
    mapping = load_mapping(import_file)
    content = import_file.content
    # First pass: every row must be readable (nothing is written).
    _header, rows = open_rows(content, mapping, account)
    invalid = 0
    total_rows = 0
    for _line, row, _errors, _number in rows:
        total_rows += 1
        invalid += row is None
    if total_rows == 0:
        raise ImportRefused(N_("The file has no rows under its header."))
    if invalid and not import_file.valid_only:
        raise ImportRefused(N_("Some rows are wrong: fix them, or choose to import the valid rows only."))
    if progress:
        import_file.rows_total = total_rows
        import_file.rows_done = 0
        db.session.commit()

    report = Report()
    _header, rows = open_rows(content, mapping, account)
    clients = _Clients(account)
    existing = _existing_numbers(account.id)
    now = clock.now()
    emailed = import_file.already_emailed
    import_id = import_file.id
    for chunk in _chunks(rows, CHUNK):
        new_rows = []
        updates = []
        for line, row, errors, number in chunk:
            report.rows += 1
            if row is None:
                report.error(line, number, errors)
                continue
            invoice_id = existing.get(row.number.lower())
            if invoice_id is None:
                new_rows.append(row)
            else:
                updates.append((invoice_id, row))
        if new_rows:
            _create(account, new_rows, clients, emailed, now, existing)
            report.created += len(new_rows)
        if updates:
            loaded = {
                i.id: i
                for i in db.session.scalars(select(Invoice).where(Invoice.id.in_([i for i, _r in updates])))
            }
            for invoice_id, row in updates:
                invoice = loaded[invoice_id]
                changes = _changes(invoice, row, clients.names, emailed)
                if not changes:
                    report.unchanged += 1
                    continue
                _update(invoice, row, changes, clients, emailed, account)
                report.updated += 1
        if progress:
            import_file = db.session.get(ImportFile, import_id)
            import_file.rows_done = report.rows
            import_file.created_count = report.created
            import_file.updated_count = report.updated
            db.session.commit()
            db.session.expunge_all()
    report.new_clients = clients.created
    if report.created or report.updated:
        db.session.add(
            Event(
                account_id=account.id,
                kind="invoices_imported",
                detail=f"{report.created}:{report.updated}",
            )
        )
    return report


def _status_of(row: Row, emailed: bool) -> str:
    if row.status == "void" and row.paid == 0:
        return "void"
    if row.status == "draft" or not emailed:
        return "draft"
    return "sent"


def _bulk_insert(table, rows: list[dict]) -> None:
    """executemany straight to the driver: SQLAlchemy's per-value type processing was
    most of the import's time. Values are given as the dialect stores them (SQLite:
    ISO text dates, naive UTC date-times, 0/1); columns left out take their server
    default (every column added to these tables has one, see migrations)."""
    if not rows:
        return
    connection = db.session.connection()
    sqlite = connection.dialect.name == "sqlite"
    columns = list(rows[0])
    mark = "?" if sqlite else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(mark for _c in columns)})"
    if sqlite:
        params = [tuple(_sqlite_value(row[c]) for c in columns) for row in rows]
    else:
        params = [tuple(row[c] for c in columns) for row in rows]
    connection.exec_driver_sql(sql, params)


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _create(account, rows, clients, emailed, now, existing):
    clients.ensure(rows)
    values = []
    mornings: dict[date, datetime] = {}
    for row in rows:
        status = _status_of(row, emailed)
        sent = status == "sent"
        if status != "void" and row.total > 0 and row.paid >= row.total:
            status = "paid"
        sent_at = None
        if sent:
            sent_at = mornings.get(row.issued_on)
            if sent_at is None:
                sent_at = mornings[row.issued_on] = _morning(row.issued_on, account.timezone)
        values.append(
            {
                "account_id": account.id,
                "client_id": clients.id_for(row),
                "number": row.number,
                "issued_on": row.issued_on,
                "due_on": row.due_on,
                "terms_days": (row.due_on - row.issued_on).days if row.due_on else None,
                "currency": row.currency,
                "total_cents": row.total,
                "paid_cents": row.paid,
                "status": status,
                "sent_via": "email_other" if sent else None,
                "sent_at": sent_at,
                "voided_at": now if status == "void" else None,
                "next_reminder_at": now if status == "sent" and row.due_on else None,
                "reminders_enabled": True,
                "payment_method": "transfer",
                "instalment_plan": False,
                "notes": "",
                "structured_ref": payment.new_ogm(),
                "public_token": payinfo.new_token(),
                "created_at": now,
                "updated_at": now,
            }
        )
    # A plain executemany (no RETURNING: SQLite would then insert row by row), then
    # the new ids by number, through the (account, number) unique index.
    _bulk_insert(Invoice.__table__, values)
    ids = dict(
        db.session.execute(
            select(Invoice.number, Invoice.id).where(
                Invoice.account_id == account.id, Invoice.number.in_([row.number for row in rows])
            )
        ).all()
    )
    payments = []
    today = clock.today(account.timezone)
    for row in rows:
        invoice_id = ids[row.number]
        existing[row.number.lower()] = invoice_id
        if row.paid:
            payments.append(
                {
                    "account_id": account.id,
                    "invoice_id": invoice_id,
                    "amount_cents": row.paid,
                    "paid_on": min(today, row.due_on or row.issued_on),
                    "method": "other",
                    "reference": "import",
                    "created_at": now,
                }
            )
    _bulk_insert(Payment.__table__, payments)


def _update(invoice, row, changes, clients, emailed, account):
    if "client" in changes:
        invoice.client_id = clients.id_for(row)
        invoice.client = db.session.get(Client, invoice.client_id)
    invoice.issued_on = row.issued_on
    invoice.due_on = row.due_on
    invoice.terms_days = (row.due_on - row.issued_on).days if row.due_on else None
    invoice.currency = row.currency
    if row.total >= invoice.paid_cents:
        invoice.total_cents = row.total
    if row.paid > invoice.paid_cents and invoice.status != "void":
        day = min(clock.today(account.timezone), row.due_on or row.issued_on)
        amount = min(row.paid - invoice.paid_cents, invoice.balance_cents)
        if amount > 0:
            invoicing.record_payment(invoice, amount, day, "other", "import")
    if "status" in changes:
        if row.status == "void" and invoice.paid_cents == 0:
            invoicing.void(invoice)
        elif emailed and invoice.status == "draft":
            invoicing.mark_sent(invoice, "email_other", _morning(row.issued_on, account.timezone))
    invoicing.refresh_status(invoice)
    planning.replan(invoice)
    invoicing.log(invoice, "invoice_edited", "import")


def store(account: Account, filename: str, content: bytes, kind: str = "invoices") -> ImportFile:
    import_file = ImportFile(
        account_id=account.id,
        kind=kind,
        filename=(filename or "")[:200],
        content=content,
        size=len(content),
    )
    db.session.add(import_file)
    return import_file
