"""Bank statements: a CSV export (columns mapped as for invoices) or an ISO 20022
CAMT.053 file, read with defusedxml (no DTD, no entities, no bombs). Lines are
stored once per account (bank transaction id, or a hash of date/amount/text)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from sqlalchemy import insert, select

from ..extensions import db
from ..models import Account, ImportFile, StatementLine
from ..money import N_, AmountError
from . import CHUNK, ImportRefused
from .csvread import decode, normalise_header, parse_date, parse_signed_amount, reader, stored_mapping

FIELDS = (
    "booked_on",
    "amount",
    "credit",
    "debit",
    "counterparty",
    "text",
    "reference",
    "bank_id",
    "currency",
)
FIELD_LABELS = {
    "booked_on": N_("Date"),
    "amount": N_("Amount (+ in, − out)"),
    "credit": N_("Credit (money in)"),
    "debit": N_("Debit (money out)"),
    "counterparty": N_("Counterparty"),
    "text": N_("Description"),
    "reference": N_("Reference"),
    "bank_id": N_("Transaction id"),
    "currency": N_("Currency"),
}
ALIASES = {
    "booked_on": {
        "date",
        "booking date",
        "booked",
        "booked on",
        "transaction date",
        "date operation",
        "date de l operation",
        "date d operation",
        "date comptable",
        "date de comptabilisation",
        "execution date",
        "date d execution",
        "value date",
        "date valeur",
    },
    "amount": {"amount", "montant", "montant eur", "amount eur", "somme", "value"},
    "credit": {"credit", "credit eur", "credits", "money in", "paid in", "entree"},
    "debit": {"debit", "debit eur", "debits", "money out", "paid out", "sortie"},
    "counterparty": {
        "counterparty",
        "counterparty name",
        "payer",
        "payee",
        "name",
        "nom",
        "tiers",
        "contrepartie",
        "nom de la contrepartie",
        "nom contrepartie",
        "beneficiaire",
        "donneur d ordre",
        "emetteur",
        "from",
        "debtor",
    },
    "text": {
        "description",
        "libelle",
        "details",
        "detail",
        "communication",
        "text",
        "memo",
        "label",
        "motif",
        "informations complementaires",
        "libelle operation",
        "narrative",
        "remittance info",
    },
    "reference": {
        "reference",
        "ref",
        "communication structuree",
        "structured reference",
        "remittance",
        "payment reference",
        "reference paiement",
    },
    "bank_id": {
        "transaction id",
        "id",
        "bank id",
        "reference banque",
        "numero d operation",
        "id transaction",
        "fitid",
        "transaction reference",
        "numero de transaction",
        "reference de l operation",
    },
    "currency": {"currency", "devise", "monnaie", "ccy"},
}


@dataclass
class Entry:
    booked_on: date
    amount_cents: int
    currency: str
    counterparty: str
    text: str
    reference: str
    bank_id: str


def guess_mapping(header):
    names = [normalise_header(h) for h in header]
    mapping = dict.fromkeys(FIELDS)
    taken = set()
    for name_field in FIELDS:
        for index, name in enumerate(names):
            if index not in taken and name in ALIASES[name_field]:
                mapping[name_field] = index
                taken.add(index)
                break
    return mapping


def missing_fields(mapping):
    missing = []
    if mapping.get("booked_on") is None:
        missing.append("booked_on")
    if mapping.get("amount") is None and mapping.get("credit") is None:
        missing.append("amount")
    return missing


def load_mapping(import_file: ImportFile):
    return stored_mapping(import_file.mapping, FIELDS)


def is_xml(content: bytes) -> bool:
    head = content[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _hash_id(entry: Entry, occurrence: int) -> str:
    key = "|".join(
        str(part)
        for part in (
            entry.booked_on,
            entry.amount_cents,
            entry.currency,
            entry.counterparty,
            entry.text,
            entry.reference,
            occurrence,
        )
    )
    return "h:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _with_ids(entries):
    """Give every entry without a bank id a stable hash (the n-th identical line of the
    file gets n in its hash, so two equal payments the same day are two lines)."""
    seen: dict[tuple, int] = {}
    for entry in entries:
        if not entry.bank_id:
            key = (entry.booked_on, entry.amount_cents, entry.counterparty, entry.text, entry.reference)
            seen[key] = seen.get(key, 0) + 1
            entry.bank_id = _hash_id(entry, seen[key])
        yield entry


# ---------------------------------------------------------------- CSV


@dataclass
class CsvProblem:
    line: int
    messages: list


def csv_entries(content: bytes, mapping, account: Account):
    """(entries, problems) of a CSV statement; refuses a file it cannot read."""
    text = decode(content)
    header, rows = reader(text)
    if missing_fields(mapping):
        raise ImportRefused(N_("Choose the columns for the date and the amount."))
    if any(i is not None and i >= len(header) for i in mapping.values()):
        raise ImportRefused(N_("A chosen column is not in the file."))
    entries, problems = [], []

    def cell(cells, name):
        index = mapping.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip().replace("\x00", "")

    for line, cells in enumerate(rows, start=2):
        errors = []
        booked_on = None
        try:
            booked_on = parse_date(cell(cells, "booked_on"))
        except ValueError as error:
            errors.append(str(error))
        amount = 0
        try:
            if mapping.get("amount") is not None:
                amount = parse_signed_amount(cell(cells, "amount"))
            else:
                credit, debit = cell(cells, "credit"), cell(cells, "debit")
                amount = (abs(parse_signed_amount(credit)) if credit else 0) - (
                    abs(parse_signed_amount(debit)) if debit else 0
                )
        except AmountError as error:
            errors.append(str(error))
        currency = (cell(cells, "currency") or account.currency).upper()
        if errors:
            problems.append(CsvProblem(line, errors))
            continue
        entries.append(
            Entry(
                booked_on=booked_on,
                amount_cents=amount,
                currency=currency,
                counterparty=cell(cells, "counterparty")[:200],
                text=cell(cells, "text")[:500],
                reference=cell(cells, "reference")[:140],
                bank_id=cell(cells, "bank_id")[:130],
            )
        )
    return list(_with_ids(entries)), problems


# ---------------------------------------------------------------- CAMT.053


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _child(element, *path):
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if _local(c.tag) == name), None)
    return element


def _children(element, name):
    return [c for c in element if _local(c.tag) == name] if element is not None else []


def _text(element, *path):
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _tx_amount(tx):
    for path in (("Amt",), ("AmtDtls", "TxAmt", "Amt"), ("AmtDtls", "InstdAmt", "Amt")):
        found = _child(tx, *path)
        if found is not None:
            return found
    return None


def _camt_amount(element) -> tuple[int, str]:
    return _amount_value(_child(element, "Amt"))


def _amount_value(amount) -> tuple[int, str]:
    if amount is None:
        raise ImportRefused(N_("A CAMT.053 entry has no amount."))
    try:
        cents = parse_signed_amount(amount.text or "")
    except AmountError:
        raise ImportRefused(N_("A CAMT.053 entry has an amount that is not a number.")) from None
    return cents, (amount.get("Ccy") or "").upper()


def _party_name(tx, role):
    party = _child(tx, "RltdPties", role)
    if party is None:
        return ""
    return _text(party, "Nm") or _text(party, "Pty", "Nm")


def camt_entries(content: bytes):
    """Entries of a CAMT.053 file. DTDs and entities are refused (XML bombs, external
    entities): a bank never sends them."""
    try:
        root = SafeET.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ImportRefused(
            N_(
                "This XML file declares a DTD or entities, which a bank statement never does: "
                "refused for safety."
            )
        ) from None
    except SafeET.ParseError:
        raise ImportRefused(N_("This is not a valid XML file.")) from None
    statement_root = _child(root, "BkToCstmrStmt")
    if _local(root.tag) != "Document" or statement_root is None:
        raise ImportRefused(N_("This XML file is not a CAMT.053 bank statement."))
    entries = []
    for statement in _children(statement_root, "Stmt"):
        account_currency = _text(statement, "Acct", "Ccy").upper()
        for ntry in _children(statement, "Ntry"):
            status = _text(ntry, "Sts") or _text(ntry, "Sts", "Cd")
            if status and status.upper() not in ("BOOK", "BOOKED"):
                continue  # pending or information only: not money on the account yet
            cents, currency = _camt_amount(ntry)
            sign = -1 if _text(ntry, "CdtDbtInd") == "DBIT" else 1
            day_text = _text(ntry, "BookgDt", "Dt") or _text(ntry, "BookgDt", "DtTm")[:10]
            day_text = day_text or _text(ntry, "ValDt", "Dt")
            try:
                booked_on = parse_date(day_text)
            except ValueError:
                raise ImportRefused(N_("A CAMT.053 entry has no valid booking date.")) from None
            details = [tx for d in _children(ntry, "NtryDtls") for tx in _children(d, "TxDtls")]
            ntry_ref = _text(ntry, "AcctSvcrRef") or _text(ntry, "NtryRef")
            split = len(details) > 1 and all(_tx_amount(t) is not None for t in details)
            parts = details if split else [details[0] if details else None]
            for index, tx in enumerate(parts):
                part_cents, part_ccy = cents, currency
                if split:
                    part_cents, part_ccy = _amount_value(_tx_amount(tx))
                counterparty = ""
                reference = ""
                text_parts = []
                tx_ref = ""
                if tx is not None:
                    counterparty = _party_name(tx, "Dbtr" if sign > 0 else "Cdtr")
                    tx_ref = _text(tx, "Refs", "AcctSvcrRef") or _text(tx, "Refs", "TxId")
                    remittance = _child(tx, "RmtInf")
                    if remittance is not None:
                        text_parts += [(u.text or "").strip() for u in _children(remittance, "Ustrd")]
                        for structured in _children(remittance, "Strd"):
                            reference = reference or _text(structured, "CdtrRefInf", "Ref")
                    end_to_end = _text(tx, "Refs", "EndToEndId")
                    if end_to_end and end_to_end != "NOTPROVIDED":
                        text_parts.append(end_to_end)
                text_parts.append(_text(ntry, "AddtlNtryInf"))
                bank_id = tx_ref if split else (tx_ref or ntry_ref)
                if split and not bank_id and ntry_ref:
                    bank_id = f"{ntry_ref}/{index + 1}"
                entries.append(
                    Entry(
                        booked_on=booked_on,
                        amount_cents=sign * abs(part_cents),
                        currency=part_ccy or currency or account_currency,
                        counterparty=counterparty[:200],
                        text=" ".join(p for p in text_parts if p)[:500],
                        reference=reference[:140],
                        bank_id=bank_id[:130],
                    )
                )
    return list(_with_ids(entries))


# ---------------------------------------------------------------- storing


@dataclass
class StatementReport:
    lines: int = 0
    new: int = 0
    already: int = 0
    credits: int = 0
    applied: int = 0
    review: int = 0
    unmatched: int = 0
    problems: list | None = None


def store_entries(account: Account, entries, import_id: int | None) -> list[int]:
    """Insert the lines this account does not have yet; returns the new ids.
    The whole statement is refused when a line is in another currency."""
    other = sorted({e.currency for e in entries if e.currency != account.currency})
    if other:
        raise ImportRefused(
            N_("This statement is in %(currency)s, your account is in %(mine)s: nothing was imported."),
            currency=", ".join(other),
            mine=account.currency,
        )
    new_ids = []
    for start in range(0, len(entries), CHUNK):
        chunk = entries[start : start + CHUNK]
        known = set(
            db.session.scalars(
                select(StatementLine.bank_id).where(
                    StatementLine.account_id == account.id,
                    StatementLine.bank_id.in_([e.bank_id for e in chunk]),
                )
            )
        )
        values = []
        for entry in chunk:
            if entry.bank_id in known:
                continue
            known.add(entry.bank_id)
            values.append(
                {
                    "account_id": account.id,
                    "import_id": import_id,
                    "bank_id": entry.bank_id,
                    "booked_on": entry.booked_on,
                    "amount_cents": entry.amount_cents,
                    "currency": entry.currency,
                    "counterparty": entry.counterparty,
                    "text": entry.text,
                    "reference": entry.reference,
                    "state": "unmatched" if entry.amount_cents > 0 else "debit",
                }
            )
        if values:
            new_ids += db.session.scalars(
                insert(StatementLine).returning(StatementLine.id, sort_by_parameter_order=True), values
            ).all()
    return new_ids
