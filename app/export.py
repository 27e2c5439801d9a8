"""'Export my data': a ZIP of CSV files of everything the account owns, and
'Delete my account', which removes the same rows.

Which rows belong to an account is said once, in ``OWNED``: every table of the
schema is there or in ``NOT_EXPORTED`` with its reason, and every column is
exported unless ``HIDDEN_COLUMNS`` says why not (tests/test_security_export.py
checks both against ``db.metadata``, so a new table or column cannot be
forgotten). Cells are written through :func:`app.csvsafe.cell`, so a client
name like ``=HYPERLINK(…)`` stays text in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import delete, inspect, select

from . import clock
from .csvsafe import cell
from .extensions import db
from .models import (
    Account,
    Client,
    ClientAnswer,
    Event,
    FeeCost,
    ImportFile,
    Invoice,
    InvoiceLine,
    MessageTemplate,
    Payment,
    PdfCache,
    RateOverride,
    Reminder,
    ReminderBatch,
    ReminderItem,
    StatementLine,
)


def _amount(cents: int | None):
    return "" if cents is None else Decimal(cents).scaleb(-2)


def _ratio(value: int | None, scale: int):
    if value is None:
        return ""
    number = Decimal(value) / scale
    return number.quantize(1) if number == number.to_integral() else number.normalize()


def _plain(value):
    """A column's value as a CSV cell, by its type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Owned:
    """One table of the export: its file, how to find the account's rows, and the
    columns written in a friendlier form (header, source column, formatter)."""

    file: str
    model: type
    where: Callable  # account id -> SQL condition
    friendly: tuple = ()
    order: tuple = ("id",)


def _of_account(model):
    return lambda account_id: model.account_id == account_id


def _of_invoices(model):
    return lambda account_id: model.invoice_id.in_(select(Invoice.id).where(Invoice.account_id == account_id))


# Children before parents: delete_account walks this list in order.
OWNED: tuple[Owned, ...] = (
    Owned(
        "reminder_items.csv",
        ReminderItem,
        lambda account_id: ReminderItem.reminder_id.in_(
            select(Reminder.id).where(Reminder.account_id == account_id)
        ),
        friendly=(("balance", "balance_cents", lambda r: _amount(r.balance_cents)),),
    ),
    Owned("reminders.csv", Reminder, _of_account(Reminder)),
    Owned("reminder_batches.csv", ReminderBatch, _of_account(ReminderBatch)),
    Owned(
        "statement_lines.csv",
        StatementLine,
        _of_account(StatementLine),
        friendly=(("amount", "amount_cents", lambda s: _amount(s.amount_cents)),),
    ),
    Owned(
        "imports.csv",
        ImportFile,
        _of_account(ImportFile),
        friendly=(("file", "content", lambda upload: import_member(upload)),),
    ),
    Owned("client_answers.csv", ClientAnswer, _of_account(ClientAnswer)),
    Owned("events.csv", Event, _of_account(Event)),
    Owned(
        "payments.csv",
        Payment,
        _of_account(Payment),
        friendly=(("amount", "amount_cents", lambda p: _amount(p.amount_cents)),),
    ),
    Owned(
        "invoice_lines.csv",
        InvoiceLine,
        _of_invoices(InvoiceLine),
        friendly=(
            ("quantity", "quantity_milli", lambda li: _ratio(li.quantity_milli, 1000)),
            ("unit_price", "unit_price_cents", lambda li: _amount(li.unit_price_cents)),
            ("vat_rate", "vat_rate_bp", lambda li: _ratio(li.vat_rate_bp, 100)),
        ),
        order=("invoice_id", "position", "id"),
    ),
    Owned(
        "invoices.csv",
        Invoice,
        _of_account(Invoice),
        friendly=(
            ("total", "total_cents", lambda i: _amount(i.total_cents)),
            ("paid", "paid_cents", lambda i: _amount(i.paid_cents)),
            ("balance", None, lambda i: _amount(i.balance_cents)),
        ),
    ),
    Owned("clients.csv", Client, _of_account(Client)),
    Owned("message_templates.csv", MessageTemplate, _of_account(MessageTemplate)),
    Owned(
        "fee_costs.csv",
        FeeCost,
        _of_account(FeeCost),
        friendly=(
            ("fixed", "fixed_cents", lambda f: _amount(f.fixed_cents)),
            ("percent", "percent_bp", lambda f: _ratio(f.percent_bp, 100)),
        ),
    ),
    Owned(
        "rate_overrides.csv",
        RateOverride,
        _of_account(RateOverride),
        friendly=(("rate", "rate_bp", lambda r: _ratio(r.rate_bp, 100)),),
    ),
    Owned("account.csv", Account, lambda account_id: Account.id == account_id),
)

# Tables holding nothing of the owner's that is not already in the export.
NOT_EXPORTED = {
    "pdf_cache": "a cache of the invoice PDFs, drawn again from the invoices",
    "alembic_version": "the schema's version, not account data",
}

# Columns left out of the export, and why.
HIDDEN_COLUMNS = {
    ("account", "password_hash"): "a secret, useless outside Relance",
    ("account", "session_token"): "a secret in every session cookie, useless outside Relance",
}

_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,5})$")


def import_member(upload: ImportFile) -> str:
    """The ZIP path of an uploaded file: never the owner's file name (no ``../``)."""
    match = _EXTENSION.search(upload.filename or "")
    extension = match.group(1).lower() if match else "bin"
    return f"imports/{upload.id}.{extension}"


def _columns(owned: Owned):
    """(header, getter) for every exported column of the table, in schema order."""
    mapper = inspect(owned.model)
    table = owned.model.__table__.name
    friendly = {source: (header, fn) for header, source, fn in owned.friendly if source}
    out = []
    for attr in mapper.column_attrs:
        [column] = attr.columns
        if (table, column.name) in HIDDEN_COLUMNS:
            continue
        if column.name in friendly:
            out.append(friendly[column.name])
        else:
            out.append((column.name, lambda row, key=attr.key: _plain(getattr(row, key))))
    out.extend((header, fn) for header, source, fn in owned.friendly if source is None)
    return out


def write_csv(header, rows) -> str:
    """The one CSV writer of the app: every cell goes through :func:`app.csvsafe.cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def owned_rows(owned: Owned, account_id: int):
    model = owned.model
    query = select(model).where(owned.where(account_id)).order_by(*(getattr(model, o) for o in owned.order))
    return db.session.scalars(query)


def export_zip(account: Account) -> bytes:
    files: dict[str, bytes] = {}
    for owned in sorted(OWNED, key=lambda o: o.file):
        columns = _columns(owned)
        rows = []
        for row in owned_rows(owned, account.id):
            rows.append([fn(row) for _, fn in columns])
            if isinstance(row, ImportFile):
                files[import_member(row)] = row.content
        files[owned.file] = write_csv([h for h, _ in columns], rows).encode("utf-8-sig")
    out = io.BytesIO()
    stamp = clock.now().timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: ("/" in n, n)):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return out.getvalue()


def delete_account(account: Account) -> None:
    """Remove the account and everything it owns, children first."""
    account_id = account.id
    db.session.execute(delete(PdfCache).where(_of_invoices(PdfCache)(account_id)))
    for owned in OWNED:
        db.session.execute(
            delete(owned.model).where(owned.where(account_id)).execution_options(synchronize_session=False)
        )
    db.session.commit()
