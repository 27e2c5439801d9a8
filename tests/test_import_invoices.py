"""Invoice/client CSV import: encodings, separators, amounts and dates written the
French or English way, mapping guessed and corrected, dry run, idempotent re-import,
bad rows, the worker path with its progress, the CLI, isolation and bad input."""

import re
import threading
from datetime import date
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from app.extensions import db
from app.imports import ImportRefused
from app.imports import invoices as invoice_import
from app.imports.csvread import decode, parse_date, parse_signed_amount, reader
from app.models import Client, ImportFile, Invoice, Payment, Reminder
from app.reminders.dispatch import QUEUE, tick

from .conftest import PASSWORD
from .factories import register_owner

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now, language="en")


def upload(client, content, name="invoices.csv", kind="invoices"):
    return client.post(
        f"/imports/upload?kind={kind}",
        data={"csrf_token": client.csrf_token(), "file": (__import__("io").BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def raw_upload(client, content, name="big.csv"):
    """A large upload with the multipart body built here: the test client would spool
    it to a temporary file that it never closes (a ResourceWarning)."""
    token = client.csrf_token()
    body = (
        b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token.encode() + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\n\r\n'
        + content
        + b"\r\n--B--\r\n"
    )
    return client.post(
        "/imports/upload?kind=invoices", data=body, content_type="multipart/form-data; boundary=B"
    )


def import_id_of(response):
    match = re.search(r"/imports/(\d+)/", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def invoices_of(app, account_id):
    with app.app_context():
        rows = db.session.scalars(
            select(Invoice).where(Invoice.account_id == account_id).order_by(Invoice.number)
        ).all()
        return {
            i.number: (i.client.name, i.total_cents, i.paid_cents, i.status, i.sent_via, i.due_on)
            for i in rows
        }


def web_import(client, content, already_emailed=True, valid_only=False, mapping=None):
    response = upload(client, content)
    assert response.status_code == 302, response.get_data(as_text=True)
    import_id = import_id_of(response)
    page = client.get(f"/imports/{import_id}/mapping")
    assert page.status_code == 200
    data = {"csrf_token": client.csrf_token()}
    html = page.get_data(as_text=True)
    for name in invoice_import.FIELDS:
        selected = re.search(rf'<select id="col_{name}" name="col_{name}">(.*?)</select>', html, re.S).group(
            1
        )
        value = re.search(r'<option value="([^"]+)"\s+selected', selected).group(1)
        data[f"col_{name}"] = value
    data.update(mapping or {})
    if already_emailed:
        data["already_emailed"] = "y"
    response = client.post(f"/imports/{import_id}/mapping", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    preview = client.get(f"/imports/{import_id}/preview")
    run_data = {"csrf_token": client.csrf_token()}
    if valid_only:
        run_data["valid_only"] = "y"
    result = client.post(f"/imports/{import_id}/run", data=run_data)
    return import_id, preview, result


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text,cents",
    [
        ("1 250,00", 125000),
        ("1\u00a0250,00", 125000),
        ("1.250,00", 125000),
        ("1,250.00", 125000),
        ("1250", 125000),
        ("75,5", 7550),
        ("-45,00", -4500),
        ("45,00-", -4500),
        ("(12.50)", -1250),
        ("+99,90", 9990),
    ],
)
def test_amounts_with_thousands_separators(text, cents):
    assert parse_signed_amount(text) == cents


@pytest.mark.parametrize(
    "text,day",
    [("2026-11-23", date(2026, 11, 23)), ("23/11/2026", date(2026, 11, 23)), ("3.1.2026", date(2026, 1, 3))],
)
def test_dates(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize("text", ["31/02/2026", "11/23", "2026-13-01", "yesterday", "01/01/1999"])
def test_bad_dates_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_encodings_and_separators():
    cp1252 = (FIXTURES / "invoices_fr_semicolon_cp1252.csv").read_bytes()
    header, rows = reader(decode(cp1252))
    assert header[0] == "Numéro" and header[4] == "Échéance"
    assert next(rows)[1] == "Boulangerie Lefèvre"
    bom = (FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes()
    header, rows = reader(decode(bom))
    assert header[0] == "Invoice number"  # no BOM glued to the first name
    assert next(rows)[5] == "1,250.00"


def test_wrong_encoding_and_empty_refused():
    with pytest.raises(ImportRefused, match="encoding"):
        decode("Numéro;Client\n".encode("utf-16"))
    with pytest.raises(ImportRefused, match="empty"):
        decode(b"  \n")
    with pytest.raises(ImportRefused, match="encoding"):
        decode(b"number;client\n\x81\x8d\x8f;x\n")  # bytes undefined in Windows-1252


def test_mapping_guessed_in_french_and_english():
    fr = invoice_import.guess_mapping(
        [
            "Numéro",
            "Client",
            "E-mail",
            "Date d'émission",
            "Échéance",
            "Montant TTC",
            "Déjà payé",
            "Devise",
            "Statut",
        ]
    )
    assert fr == dict(zip(invoice_import.FIELDS, range(9), strict=True))
    en = invoice_import.guess_mapping(
        ["Status", "Customer", "Invoice number", "Total", "Due date", "Invoice date", "Customer email"]
    )
    assert en["number"] == 2 and en["client"] == 1 and en["amount"] == 3 and en["due_on"] == 4
    assert en["issued_on"] == 5 and en["client_email"] == 6 and en["status"] == 0
    assert en["paid_amount"] is None and en["currency"] is None


# ------------------------------------------------------------------ web flow


@pytest.mark.parametrize("fixture", ["invoices_fr_semicolon_cp1252.csv", "invoices_en_comma_utf8_bom.csv"])
def test_import_each_variant_then_reimport_changes_nothing(app, client, owner, fixture):
    content = (FIXTURES / fixture).read_bytes()
    import_id, preview, result = web_import(client, content)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "to create" in html and "wrong row" in html
    assert result.status_code == 302
    first = invoices_of(app, owner)
    if fixture.startswith("invoices_fr"):
        assert first["F-2026-101"] == (
            "Boulangerie Lefèvre",
            125000,
            0,
            "sent",
            "email_other",
            date(2026, 12, 2),
        )
        assert first["F-2026-102"][1:3] == (125000, 25000)
        assert first["F-2026-103"][3] == "paid"
        assert first["F-2026-104"][1] == 9990
    else:
        assert first["INV-0001"] == ("Northwind Ltd", 125000, 0, "sent", "email_other", date(2026, 12, 2))
        assert first["INV-0002"][1:3] == (240050, 40050)
        assert first["INV-0003"][3] == "paid"
    with app.app_context():
        clients = db.session.scalar(select(func.count(Client.id)).where(Client.account_id == owner))
        payments = db.session.scalar(select(func.count(Payment.id)).where(Payment.account_id == owner))
        stored = db.session.get(ImportFile, import_id)
        assert stored.content == content and stored.state == "done"  # the file is in the database
    assert clients == (3 if fixture.startswith("invoices_fr") else 2)

    # The same file again: the dry run says unchanged, the import changes nothing.
    _second, preview, result = web_import(client, content)
    html = preview.get_data(as_text=True)
    assert re.search(r"<strong>0</strong> invoice\(s\) to create", html)
    assert re.search(rf"<strong>{len(first)}</strong> unchanged", html)
    assert invoices_of(app, owner) == first
    with app.app_context():
        assert db.session.scalar(select(func.count(Client.id)).where(Client.account_id == owner)) == clients
        assert (
            db.session.scalar(select(func.count(Payment.id)).where(Payment.account_id == owner)) == payments
        )


def test_imported_and_emailed_invoices_get_reminders(app, client, owner, fixed_now, sink):
    web_import(client, (FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes())
    fixed_now("2026-11-23T10:00:00+01:00")
    with app.app_context():
        tick(inline=True)
        # INV-0002 was due on 20 Nov: the latest due step (+3) is sent, only that one.
        reminders = db.session.scalars(select(Reminder).where(Reminder.account_id == owner)).all()
        sent = [r for r in reminders if r.state == "sent"]
        assert [r.invoice.number for r in sent] == ["INV-0002"]
    assert len(sink.to("billing@contoso.example")) == 1


def test_not_emailed_invoices_are_drafts(app, client, owner):
    web_import(client, (FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes(), already_emailed=False)
    rows = invoices_of(app, owner)
    assert rows["INV-0001"][3:5] == ("draft", None)
    assert rows["INV-0003"][3] == "paid"


def test_reimport_updates_what_changed(app, client, owner):
    content = (FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes()
    web_import(client, content)
    changed = content.replace(b"2026-12-02", b"2026-12-15").replace(b",400.50,EUR", b",2400.50,EUR")
    _id, preview, _result = web_import(client, changed)
    html = preview.get_data(as_text=True)
    assert re.search(r"<strong>2</strong> invoice\(s\) to update", html)
    assert "Due date" in html and "Amount paid" in html
    rows = invoices_of(app, owner)
    assert rows["INV-0001"][5] == date(2026, 12, 15)
    assert rows["INV-0002"][2:4] == (240050, "paid")


def test_bad_rows_import_nothing_unless_asked(app, client, owner):
    content = (FIXTURES / "invoices_bad_rows.csv").read_bytes()
    _id, preview, result = web_import(client, content)
    html = preview.get_data(as_text=True)
    assert "The client is missing." in html
    assert "This date does not exist." in html
    assert "Amount: This is not a valid amount." in html
    assert "already on an earlier line" in html
    assert result.status_code == 422
    assert "import the valid rows only" in result.get_data(as_text=True)
    assert invoices_of(app, owner) == {}

    _id, _preview, result = web_import(client, content, valid_only=True)
    assert result.status_code == 302
    rows = invoices_of(app, owner)
    assert sorted(rows) == ["B-1", "B-5"]
    assert rows["B-5"][1] == 7550 and rows["B-5"][5] is None


def test_mapping_corrected_by_the_owner(app, client, owner):
    content = b"Ref;Who;When;Sum;Memo\nX-1;Alpha;2026-11-01;10,00;note\n"
    response = upload(client, content)
    import_id = import_id_of(response)
    html = client.get(f"/imports/{import_id}/mapping").get_data(as_text=True)
    assert "Check the columns" in html
    # "Who" and "When" and "Sum" are not guessed: the mapping is refused until chosen.
    data = {"csrf_token": client.csrf_token(), "col_number": "0"}
    response = client.post(f"/imports/{import_id}/mapping", data=data)
    assert response.status_code == 422
    assert "Choose a column for" in response.get_data(as_text=True)
    data.update({"col_client": "1", "col_issued_on": "2", "col_amount": "2"})
    response = client.post(f"/imports/{import_id}/mapping", data=data)
    assert response.status_code == 422
    assert "each column can be used once" in response.get_data(as_text=True)
    data.update({"col_amount": "3"})
    assert client.post(f"/imports/{import_id}/mapping", data=data).status_code == 302
    client.post(f"/imports/{import_id}/run", data={"csrf_token": client.csrf_token()})
    assert invoices_of(app, owner)["X-1"][:2] == ("Alpha", 1000)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "The file is empty."),
        (b"\n\n", "The file is empty."),
        ("Numéro;Client\n".encode("utf-16"), "encoding"),
    ],
)
def test_bad_files_refused_with_a_message(app, client, owner, content, message):
    response = upload(client, content)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(ImportFile.id))) == 0


def test_missing_columns_refused(app, client, owner):
    response = upload(client, b"foo;bar\n1;2\n")
    import_id = import_id_of(response)
    data = {"csrf_token": client.csrf_token(), **{f"col_{f}": "none" for f in invoice_import.FIELDS}}
    response = client.post(f"/imports/{import_id}/mapping", data=data)
    assert response.status_code == 422
    assert "Invoice number" in response.get_data(as_text=True)


def test_oversized_upload_refused(app, client, owner):
    from app import imports

    big = b"number;client;date;amount\n" + b"X;Y;2026-11-01;1,00\n" * (imports.MAX_UPLOAD_BYTES // 19 + 10)
    response = raw_upload(client, big)
    assert response.status_code == 413
    assert "larger than" in response.get_data(as_text=True)


def test_upload_above_the_apps_form_limit_is_accepted(app, client, owner):
    """Imports may be larger than ordinary forms (5 MB): a 6 MB export goes through."""
    assert app.config["MAX_CONTENT_LENGTH"] < 6 * 1024 * 1024
    rows = b"X;Y;2026-11-01;1,00\n" * (6 * 1024 * 1024 // 19)
    response = raw_upload(client, b"number;client;date;amount\n" + rows)
    assert response.status_code == 302
    assert "/mapping" in response.headers["Location"]


def test_another_accounts_import_is_404(app, client, auth, owner):
    response = upload(client, (FIXTURES / "invoices_bad_rows.csv").read_bytes())
    import_id = import_id_of(response)
    auth.logout()
    auth.register(email="other@example.com")
    assert client.get(f"/imports/{import_id}/mapping").status_code == 404
    assert client.get(f"/imports/{import_id}/preview").status_code == 404
    assert client.get(f"/imports/{import_id}").status_code == 404
    assert (
        client.post(f"/imports/{import_id}/run", data={"csrf_token": client.csrf_token()}).status_code == 404
    )
    assert client.get("/imports/99999999999").status_code == 404


# ------------------------------------------------------------------ worker


def big_file(rows):
    lines = ["Numéro;Client;Email;Date;Échéance;Montant"]
    for n in range(rows):
        lines.append(
            f"W-{n:05d};Client {n % 50};c{n % 50}@example.com;01/11/2026;01/12/2026;1 234,{n % 100:02d}"
        )
    return ("\n".join(lines) + "\n").encode("cp1252")


def test_large_file_imports_on_the_worker_with_progress(app, client, owner):
    content = big_file(2500)
    response = upload(client, content)
    import_id = import_id_of(response)
    data = {"csrf_token": client.csrf_token(), "already_emailed": "y"}
    html = client.get(f"/imports/{import_id}/mapping").get_data(as_text=True)
    for name in invoice_import.FIELDS:
        block = re.search(rf'<select id="col_{name}" name="col_{name}">(.*?)</select>', html, re.S).group(1)
        data[f"col_{name}"] = re.search(r'<option value="([^"]+)"\s+selected', block).group(1)
    client.post(f"/imports/{import_id}/mapping", data=data)
    preview = client.get(f"/imports/{import_id}/preview").get_data(as_text=True)
    assert "in the background" in preview
    response = client.post(f"/imports/{import_id}/run", data={"csrf_token": client.csrf_token()})
    assert response.status_code == 302
    # Queued: the page polls itself (htmx) and shows the progress bar.
    fragment = client.get(f"/imports/{import_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment
    with app.app_context():
        assert db.session.scalar(select(func.count(Invoice.id))) == 0
        connection = Redis.from_url(app.config["REDIS_URL"])
        SimpleWorker([Queue(QUEUE, connection=connection)], connection=connection).work(burst=True)
        connection.close()
        stored = db.session.get(ImportFile, import_id)
        assert (stored.state, stored.rows_done, stored.created_count) == ("done", 2500, 2500)
        assert db.session.scalar(select(func.count(Invoice.id))) == 2500
        assert db.session.scalar(select(func.count(Client.id))) == 50
    fragment = client.get(f"/imports/{import_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every 1s" not in fragment and "2500 invoice(s) created" in fragment


# ------------------------------------------------------------------ CLI


def test_cli_dry_run_then_import(app, owner, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes((FIXTURES / "invoices_fr_semicolon_cp1252.csv").read_bytes())
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "import",
            "invoices",
            str(path),
            "--account",
            "OWNER@example.com",
            "--dry-run",
            "--already-emailed",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "dry run: would create 4, update 0, unchanged 0, wrong rows 0" in result.output
    assert invoices_of(app, owner) == {}
    result = runner.invoke(
        args=["import", "invoices", str(path), "--account", "owner@example.com", "--already-emailed"]
    )
    assert result.exit_code == 0, result.output
    assert "create 4, update 0" in result.output
    assert invoices_of(app, owner)["F-2026-101"][4] == "email_other"
    result = runner.invoke(
        args=["import", "invoices", str(path), "--account", "owner@example.com", "--already-emailed"]
    )
    assert "create 0, update 0, unchanged 4" in result.output


def test_cli_refuses_bad_rows(app, owner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes((FIXTURES / "invoices_bad_rows.csv").read_bytes())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "invoices", str(path), "--account", "owner@example.com"])
    assert result.exit_code != 0
    assert "import the valid rows only" in result.output
    assert "line 3: The client is missing." in result.output
    assert invoices_of(app, owner) == {}
    result = runner.invoke(args=["import", "invoices", str(path), "--account", "nobody@example.com"])
    assert result.exit_code != 0 and "no account" in result.output


def test_a_double_click_on_import_runs_it_once(app, client, owner):
    """Two "Import" requests at the same time: one run; the other just shows the result."""
    content = (FIXTURES / "invoices_fr_semicolon_cp1252.csv").read_bytes()
    response = upload(client, content)
    import_id = import_id_of(response)
    html = client.get(f"/imports/{import_id}/mapping").get_data(as_text=True)
    data = {"csrf_token": client.csrf_token(), "already_emailed": "y"}
    for name in invoice_import.FIELDS:
        block = re.search(rf'<select id="col_{name}" name="col_{name}">(.*?)</select>', html, re.S).group(1)
        data[f"col_{name}"] = re.search(r'<option value="([^"]+)"\s+selected', block).group(1)
    assert client.post(f"/imports/{import_id}/mapping", data=data).status_code == 302
    other = app.test_client()
    assert other.form("/login", {"email": "owner@example.com", "password": PASSWORD}).status_code == 302
    tokens = client.csrf_token(), other.csrf_token()
    barrier = threading.Barrier(2)
    codes = [None, None]

    def run(index, who):
        barrier.wait()
        data = {"csrf_token": tokens[index], "valid_only": "y"}
        codes[index] = who.post(f"/imports/{import_id}/run", data=data).status_code

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate((client, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [302, 302]
    with app.app_context():
        found = db.session.get(ImportFile, import_id)
        assert found.state == "done" and found.created_count > 0
        payments = db.session.scalar(select(func.count(Payment.id)))
    once = invoices_of(app, owner)
    # The same file imported once more (a new upload) changes nothing: no doubled payment.
    assert len(once) == found.created_count
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == payments


@pytest.mark.parametrize("column", ["²", "٣", "-1", "99", "1.0"])
def test_a_malformed_column_choice_is_400_not_500(app, client, owner, column):
    content = (FIXTURES / "invoices_fr_semicolon_cp1252.csv").read_bytes()
    import_id = import_id_of(upload(client, content))
    data = {"csrf_token": client.csrf_token(), "col_number": column}
    response = client.post(f"/imports/{import_id}/mapping", data=data)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(ImportFile, import_id).state == "uploaded"


def test_an_address_mail_servers_refuse_is_a_row_error(app, client, owner):
    """The shape check let "name@exämple..com" in (an empty label: the IDNA codec refuses
    it, so no reminder could ever be written to it); it is now a row error like any
    other bad address."""
    content = (
        "number;client;email;date;due date;amount\n"
        "E-1;Good Client;good@example.com;01/11/2026;01/12/2026;100,00\n"
        "E-2;Bad Client;paul@ex\u00e4mple..com;01/11/2026;01/12/2026;100,00\n"
    ).encode()
    _id, preview, result = web_import(client, content)
    assert "The client email is not a valid address." in preview.get_data(as_text=True)
    assert result.status_code == 422
    assert invoices_of(app, owner) == {}
