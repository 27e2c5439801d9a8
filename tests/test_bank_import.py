"""Bank statements: CAMT.053 and CSV read, defused XML, another currency refused,
each line stored once, matching by each rule (structured reference, invoice number,
amount + name, amount only), payments recorded through the usual code, the hold on
reminders while a possible payment waits for review, confirm/dismiss, the CLI and
the Today screen."""

import io
import re
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.imports import ImportRefused, matching
from app.imports.statements import camt_entries
from app.models import Account, Event, ImportFile, Invoice, Payment, Reminder, StatementLine
from app.reminders.dispatch import tick

from .conftest import PASSWORD
from .factories import make_client, make_invoice, register_owner

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(app, auth, fixed_now):
    return register_owner(app, auth, fixed_now, "2026-11-23T08:00:00+01:00", language="en")


@pytest.fixture
def books(app, owner):
    """Open invoices sent by email, the ones the fixtures pay."""
    with app.app_context():
        account = db.session.get(Account, owner)
        lefevre = make_client(account, name="Boulangerie Lefèvre", email="contact@lefevre.example")
        muller = make_client(account, name="Atelier Müller SARL", email="compta@muller.example")
        creme = make_client(account, name="Café Crème", email="hello@creme.example")
        other = make_client(account, name="Studio Nord", email="studio@nord.example")
        ids = {}
        for number, client, total in (
            ("F-2026-101", lefevre, 1250_00),
            ("F-2026-102", muller, 1250_00),
            ("F-2026-104", creme, 99_90),
            ("F-2026-105", other, 1000_00),
        ):
            invoice = make_invoice(
                account,
                client,
                total_cents=total,
                number=number,
                issued_on=date(2026, 10, 20),
                due_on=date(2026, 11, 19),
            )
            ids[number] = invoice.id
        # The structured communication the client copied from the invoice (camt053.xml).
        db.session.get(Invoice, ids["F-2026-102"]).structured_ref = "000202610263"
        db.session.commit()
        return ids


def upload(client, content, name):
    return client.post(
        "/imports/upload?kind=statement",
        data={"csrf_token": client.csrf_token(), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def import_csv_statement(client, content=None):
    content = content or (FIXTURES / "statement_fr.csv").read_bytes()
    response = upload(client, content, "releve.csv")
    assert response.status_code == 302, response.get_data(as_text=True)
    import_id = int(re.search(r"/imports/(\d+)/mapping", response.headers["Location"]).group(1))
    html = client.get(f"/imports/{import_id}/mapping").get_data(as_text=True)
    data = {"csrf_token": client.csrf_token()}
    for name in re.findall(r'<select id="col_(\w+)"', html):
        block = re.search(rf'<select id="col_{name}" name="col_{name}">(.*?)</select>', html, re.S).group(1)
        data[f"col_{name}"] = re.search(r'<option value="([^"]+)"\s+selected', block).group(1)
    return import_id, client.post(f"/imports/{import_id}/mapping", data=data)


def lines(app, owner):
    with app.app_context():
        return {
            line.bank_id: (line.state, line.match_reason, line.invoice.number if line.invoice else None)
            for line in db.session.scalars(select(StatementLine).where(StatementLine.account_id == owner))
        }


def invoice(app, invoice_id):
    with app.app_context():
        found = db.session.get(Invoice, invoice_id)
        db.session.expunge(found)
        return found


def counts(app):
    with app.app_context():
        return (
            db.session.scalar(select(func.count(StatementLine.id))),
            db.session.scalar(select(func.count(Payment.id))),
            db.session.scalar(select(func.count(ImportFile.id))),
        )


# ------------------------------------------------------------------ reading


def test_camt053_entries():
    entries = camt_entries((FIXTURES / "camt053.xml").read_bytes())
    assert [(e.booked_on, e.amount_cents, e.currency) for e in entries] == [
        (date(2026, 11, 21), 500_00, "EUR"),
        (date(2026, 11, 21), 320_00, "EUR"),
        (date(2026, 11, 21), -64_20, "EUR"),
    ]  # the pending entry (Sts PDNG) is not money on the account yet
    first, second, debit = entries
    assert first.counterparty == "ATELIER MULLER SARL"
    assert first.reference == "+++000/2026/10263+++"
    assert first.bank_id == "2026112100001"
    assert second.text.startswith("Paiement facture G-77")
    assert debit.counterparty == "OVH SAS"


@pytest.mark.parametrize("fixture", ["camt053_bomb.xml", "camt053_xxe.xml"])
def test_defused_xml_refused(fixture):
    with pytest.raises(ImportRefused, match="DTD or entities"):
        camt_entries((FIXTURES / fixture).read_bytes())


def test_not_a_statement_refused():
    with pytest.raises(ImportRefused, match="not a valid XML"):
        camt_entries(b"<Document><unclosed></Document>")
    with pytest.raises(ImportRefused, match="not a CAMT.053"):
        camt_entries(b"<?xml version='1.0'?><rss><channel/></rss>")


def test_structured_references_found_in_the_text():
    line = StatementLine(reference="", text="VIR +++000/2026/10263+++ merci", amount_cents=1)
    assert matching._references_in(line) == {"000202610263"}
    line = StatementLine(reference="000 2026 10263", text="")
    assert matching._references_in(line) == {"000202610263"}
    line = StatementLine(reference="+++000/2026/10264+++", text="")  # wrong check digits
    assert matching._references_in(line) == set()


# ------------------------------------------------------------------ web: CAMT


@pytest.mark.parametrize("fixture", ["camt053_bomb.xml", "camt053_xxe.xml"])
def test_xml_bomb_and_external_entity_refused_on_upload(app, client, books, fixture):
    response = upload(client, (FIXTURES / fixture).read_bytes(), fixture)
    assert response.status_code == 422
    assert "refused for safety" in response.get_data(as_text=True)
    assert counts(app) == (0, 0, 0)


def test_statement_in_another_currency_refused_whole(app, client, books):
    response = upload(client, (FIXTURES / "camt053_usd.xml").read_bytes(), "usd.xml")
    assert response.status_code == 422
    assert "This statement is in USD, your account is in EUR: nothing was imported." in response.get_data(
        as_text=True
    )
    assert counts(app) == (0, 0, 0)


def test_structured_reference_records_a_partial_payment_once(app, client, books):
    response = upload(client, (FIXTURES / "camt053.xml").read_bytes(), "camt.xml")
    assert response.status_code == 302
    found = lines(app, 1)
    assert found["2026112100001"] == ("applied", "structured_reference", "F-2026-102")
    assert found["2026112100002"][0] == "unmatched"  # no open invoice has 320.00 or G-77
    assert found["2026112100003"][0] == "debit"
    paid = invoice(app, books["F-2026-102"])
    assert (paid.paid_cents, paid.status) == (500_00, "sent")  # partial payment
    with app.app_context():
        payment = db.session.scalar(select(Payment).where(Payment.invoice_id == books["F-2026-102"]))
        assert (payment.amount_cents, payment.paid_on, payment.method) == (
            500_00,
            date(2026, 11, 21),
            "transfer",
        )
    before = counts(app)
    # The same statement again: every line is known, nothing is applied twice.
    response = upload(client, (FIXTURES / "camt053.xml").read_bytes(), "camt.xml")
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 new line(s)" in detail
    assert counts(app)[:2] == before[:2]
    assert invoice(app, books["F-2026-102"]).paid_cents == 500_00


# ------------------------------------------------------------------ web: CSV and the rules


def test_csv_statement_each_rule(app, client, books):
    _id, response = import_csv_statement(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    found = lines(app, 1)
    assert found["TX-1001"] == ("applied", "invoice_number", "F-2026-101")
    assert found["TX-1002"] == ("review", "amount_and_name", "F-2026-104")
    assert found["TX-1003"][0] == "debit"
    assert found["TX-1004"] == ("review", "amount_only", "F-2026-105")
    assert invoice(app, books["F-2026-101"]).status == "paid"
    # Held while the possible payments wait for review, with the day of the payment.
    held = invoice(app, books["F-2026-104"])
    assert (held.hold_reason, held.hold_detail) == ("possible_payment", "possible payment on 21 Nov, review")
    assert invoice(app, books["F-2026-105"]).hold_detail == "possible payment on 22 Nov, review"
    assert invoice(app, books["F-2026-102"]).hold_reason == ""

    page = client.get("/imports/review").get_data(as_text=True)
    assert "same amount and client name" in page and "confidence 70%" in page
    assert "same amount only" in page and "Yes, it pays F-2026-104" in page


def test_a_tick_sends_nothing_while_held_and_dismissing_releases(app, client, books, sink, fixed_now):
    import_csv_statement(client)
    fixed_now("2026-11-23T10:00:00+01:00")
    with app.app_context():
        tick(inline=True)
    # F-2026-102 (nothing in the statement) is reminded; the held ones are not, the paid one neither.
    assert len(sink.to("compta@muller.example")) == 1
    assert sink.to("hello@creme.example") == []
    assert sink.to("studio@nord.example") == []
    assert sink.to("contact@lefevre.example") == []
    with app.app_context():
        line = db.session.scalar(select(StatementLine).where(StatementLine.bank_id == "TX-1004"))
        line_id = line.id
    # One tap: not a payment → the hold ends, the next tick reminds Studio Nord.
    response = client.post(
        f"/imports/lines/{line_id}/dismiss",
        data={"csrf_token": client.csrf_token()},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Dismissed" in response.get_data(as_text=True)
    assert invoice(app, books["F-2026-105"]).hold_reason == ""
    fixed_now("2026-11-23T11:00:00+01:00")
    with app.app_context():
        tick(inline=True)
    assert len(sink.to("studio@nord.example")) == 1
    assert sink.to("hello@creme.example") == []


def test_confirm_records_the_payment_and_stops_reminders(app, client, books, sink, fixed_now):
    import_csv_statement(client)
    with app.app_context():
        line_id = db.session.scalar(select(StatementLine.id).where(StatementLine.bank_id == "TX-1002"))
    response = client.post(f"/imports/lines/{line_id}/confirm", data={"csrf_token": client.csrf_token()})
    assert response.status_code == 302
    paid = invoice(app, books["F-2026-104"])
    assert (paid.status, paid.paid_cents, paid.hold_reason) == ("paid", 99_90, "")
    # Confirming twice records nothing more.
    response = client.post(f"/imports/lines/{line_id}/confirm", data={"csrf_token": client.csrf_token()})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == paid.id)) == 1
    fixed_now("2026-11-23T10:00:00+01:00")
    with app.app_context():
        tick(inline=True)
        reminders = db.session.scalars(select(Reminder).where(Reminder.invoice_id == paid.id)).all()
        assert all(r.state != "sent" for r in reminders)
    assert sink.to("hello@creme.example") == []


def test_applied_payment_cancels_a_planned_reminder(app, client, books, sink, fixed_now):
    fixed_now("2026-11-23T10:00:00+01:00")
    with app.app_context():
        tick(inline=False)  # planned and queued, not sent
        planned = db.session.scalar(
            select(func.count(Reminder.id)).where(
                Reminder.invoice_id == books["F-2026-101"], Reminder.state == "scheduled"
            )
        )
    assert planned == 1
    import_csv_statement(client)
    with app.app_context():
        states = db.session.scalars(
            select(Reminder.state).where(Reminder.invoice_id == books["F-2026-101"])
        ).all()
        tick(inline=True)
    assert states == ["cancelled"]
    assert sink.to("contact@lefevre.example") == []


def test_line_paid_elsewhere_releases_the_hold(app, client, books):
    """The owner records the payment on the invoice page: the next refresh releases our hold."""
    import_csv_statement(client)
    data = {
        "amount": "99.90",
        "paid_on": "2026-11-21",
        "method": "transfer",
        "reference": "",
        "csrf_token": "",
    }
    data["csrf_token"] = client.csrf_token()
    assert client.post(f"/invoices/{books['F-2026-104']}/payments", data=data).status_code == 302
    with app.app_context():
        line_id = db.session.scalar(select(StatementLine.id).where(StatementLine.bank_id == "TX-1002"))
    client.post(f"/imports/lines/{line_id}/dismiss", data={"csrf_token": client.csrf_token()})
    assert invoice(app, books["F-2026-104"]).hold_reason == ""


@pytest.mark.parametrize(
    "content,message",
    [
        (b"Foo;Bar\n1;2\n", "Choose a column for"),
        (
            b"Date;Montant\n21/11/2026;12,50\n31/11/2026;3,00\n",
            "Line 3: This date does not exist. Nothing was imported.",
        ),
        (b"Date;Montant;Devise\n21/11/2026;12,50;USD\n", "This statement is in USD"),
    ],
)
def test_bad_csv_statements_import_nothing(app, client, books, content, message):
    _id, response = import_csv_statement(client, content)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(app)[:2] == (0, 0)


def test_another_accounts_lines_are_404(app, client, auth, books):
    import_csv_statement(client)
    with app.app_context():
        line_id = db.session.scalar(select(StatementLine.id).where(StatementLine.bank_id == "TX-1002"))
    auth.logout()
    auth.register(email="other@example.com")
    token = client.csrf_token()
    assert client.post(f"/imports/lines/{line_id}/confirm", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/imports/lines/{line_id}/dismiss", data={"csrf_token": token}).status_code == 404
    assert "Nothing to review" in client.get("/imports/review").get_data(as_text=True)
    assert lines(app, 1)["TX-1002"][0] == "review"


def test_today_shows_the_last_statement_and_the_review_link(app, client, books, fixed_now):
    html = client.get("/today").get_data(as_text=True)
    assert "No bank statement imported yet" in html
    import_csv_statement(client)
    fixed_now("2026-11-25T08:00:00+01:00")
    html = client.get("/today").get_data(as_text=True)
    assert re.search(r"Last statement imported: 2\s+days ago", html), html[html.find("bank-status") :][:600]
    assert "2 payments to review" in html and "/imports/review" in html


def test_cli_statement(app, owner, books, tmp_path):
    path = tmp_path / "camt.xml"
    path.write_bytes((FIXTURES / "camt053.xml").read_bytes())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "statement", str(path), "--account", "owner@example.com"])
    assert result.exit_code == 0, result.output
    assert "lines 3, new 3, already known 0, payments recorded 1, to review 0, unmatched 1" in result.output
    result = runner.invoke(args=["import", "statement", str(path), "--account", "owner@example.com"])
    assert "new 0, already known 3, payments recorded 0" in result.output
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes((FIXTURES / "camt053_bomb.xml").read_bytes())
    result = runner.invoke(args=["import", "statement", str(bomb), "--account", "owner@example.com"])
    assert result.exit_code != 0 and "refused for safety" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "statement_imported")) == 2


def test_csv_without_transaction_ids_is_idempotent_by_hash(app, client, books):
    """No id column: each line is known by a hash of date, amount and text; two equal
    payments on the same day stay two lines; importing the file again adds nothing."""
    content = (
        "Date;Libellé;Montant\n"
        "21/11/2026;VIR Facture F-2026-101;1 250,00\n"
        "22/11/2026;VIR SEPA CAFE;12,00\n"
        "22/11/2026;VIR SEPA CAFE;12,00\n"
    ).encode()
    _id, response = import_csv_statement(client, content)
    assert response.status_code == 302
    assert counts(app)[:2] == (3, 1)
    _id, response = import_csv_statement(client, content)
    assert response.status_code == 302
    assert "0 new line(s), 3 already known" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert counts(app)[:2] == (3, 1)
    assert invoice(app, books["F-2026-101"]).paid_cents == 1250_00


def _at_once(*calls):
    """Run the calls in threads released together; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_double_click_on_confirm_records_one_payment(app, client, books):
    """Two confirm requests at the same time (two tabs, a double click): one payment."""
    import_csv_statement(client)
    with app.app_context():
        line_id = db.session.scalar(select(StatementLine.id).where(StatementLine.bank_id == "TX-1002"))
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert other.form("/login", {"email": "owner@example.com", "password": PASSWORD}).status_code == 302
    tokens = client.csrf_token(), other.csrf_token()
    url = f"/imports/lines/{line_id}/confirm"
    codes = _at_once(
        lambda: client.post(url, data={"csrf_token": tokens[0]}).status_code,
        lambda: other.post(url, data={"csrf_token": tokens[1]}).status_code,
    )
    assert codes == [302, 302]
    paid = invoice(app, books["F-2026-104"])
    assert (paid.status, paid.paid_cents) == ("paid", 99_90)
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id)).where(Payment.invoice_id == paid.id)) == 1
        assert db.session.get(StatementLine, line_id).state == "applied"
    # A dismiss arriving after the confirm changes nothing.
    response = client.post(
        f"/imports/lines/{line_id}/dismiss", data={"csrf_token": tokens[0]}, headers={"HX-Request": "true"}
    )
    assert "already handled" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(StatementLine, line_id).state == "applied"


def test_confirm_after_the_line_was_handled_elsewhere_records_nothing(app, client, books):
    """The line is dismissed between the page load and the confirm's conditional update."""
    import_csv_statement(client)
    with app.app_context():
        line = db.session.scalar(select(StatementLine).where(StatementLine.bank_id == "TX-1002"))
        line_id = line.id
        matching.dismiss(line)
        db.session.commit()
        stale = db.session.get(StatementLine, line_id)
        set_committed_value(stale, "state", "review")  # as an earlier read saw it
        with pytest.raises(matching.AlreadyHandled):
            matching.confirm(stale)
        db.session.rollback()
        paid = select(func.count(Payment.id)).where(Payment.invoice_id == books["F-2026-104"])
        assert db.session.scalar(paid) == 0


def _statements_during(app, call):
    from sqlalchemy import event

    seen = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def test_the_review_list_and_home_answers_load_invoices_and_clients_in_one_query(app, client, books):
    """No lazy load per line: the invoice and its client come with the lines (and the answers)."""
    from app import payinfo

    import_csv_statement(client)
    with app.app_context():
        for number in ("F-2026-101", "F-2026-105"):
            payinfo.record_answer(
                db.session.get(Invoice, books[number]), "promise", promised_on=date(2026, 12, 20)
            )
    response, seen = _statements_during(app, lambda: client.get("/imports/review"))
    assert response.status_code == 200 and "Maybe" in response.get_data(as_text=True)
    lazy = [s for s in seen if "WHERE client.id =" in s or "WHERE invoice.id =" in s]
    assert lazy == []
    response, seen = _statements_during(app, lambda: client.get("/today"))
    assert response.status_code == 200 and "Clients answered" in response.get_data(as_text=True)
    lazy = [s for s in seen if "WHERE client.id =" in s or "WHERE invoice.id =" in s]
    assert lazy == []
