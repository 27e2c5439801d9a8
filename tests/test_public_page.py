"""The invoice's public page (issue 7): right, wrong and revoked tokens; the three
answers hold the reminders (real tick, real worker, real SMTP sink) and the owner
resumes them; bad dates; the rate limit. SQLite and PostgreSQL."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, ClientAnswer, Invoice, Reminder
from app.payment import is_valid_ogm

from . import test_engine
from .conftest import PASSWORD
from .test_engine import CLIENT, at, run_worker, tick_and_work

setup = test_engine.setup  # owner@example.com, invoice F-2026-014 (€1,234.56) due 4 Dec 2026
OWNER = "owner@example.com"


def _token(app, invoice_id):
    from app import payinfo

    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        token = payinfo.ensure_token(invoice)
        db.session.commit()
        return token


def _answer(client, token, kind, **fields):
    data = {"kind": kind, **fields}
    data.setdefault("csrf_token", _page_csrf(client, token))
    return client.post(f"/p/{token}", data=data)


def _page_csrf(client, token):
    html = client.get(f"/p/{token}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(client):
    return client.form("/login", {"email": OWNER, "password": PASSWORD})


def _state(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return invoice.hold_reason, invoice.hold_until


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def test_the_page_shows_what_is_due_the_qr_code_and_bank_details(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 8, 10))
    token = _token(app, setup["invoice"])
    assert len(token) >= 32
    response = client.get(f"/p/{token}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "F-2026-014" in html and "€1,234.56" in html
    assert "<svg" in html and 'class="qr"' in html  # inline QR code
    assert "FR76 3000 6000 0112 3456 7890 189" in html
    assert "I&#39;ve paid" in html or "I've paid" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]


def test_belgian_account_uses_the_structured_communication(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 8, 10))
    with app.app_context():
        account = db.session.get(Account, setup["account"])
        account.iban = "BE71096123456769"
        db.session.commit()
        ref = db.session.get(Invoice, setup["invoice"]).structured_ref
    assert is_valid_ogm(ref)
    html = client.get(f"/p/{_token(app, setup['invoice'])}").get_data(as_text=True)
    assert f"+++{ref[:3]}/{ref[3:7]}/{ref[7:]}+++" in html


@pytest.mark.parametrize("bad", ["nope", "x" * 43, "a" * 65, "%00", "../../etc"])
def test_a_wrong_token_is_404(app, client, setup, bad):
    _token(app, setup["invoice"])
    assert client.get(f"/p/{bad}").status_code == 404
    assert client.form(f"/p/{bad}", {"kind": "paid"}).status_code == 404


def test_revoked_and_renewed_links(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 8, 10))
    old = _token(app, setup["invoice"])
    _login(client)
    page_link = f"/invoices/{setup['invoice']}/page-link"
    assert client.form(page_link, {"action": "renew"}).status_code == 302
    assert client.get(f"/p/{old}").status_code == 404
    with app.app_context():
        new = db.session.get(Invoice, setup["invoice"]).public_token
    assert new and new != old and client.get(f"/p/{new}").status_code == 200
    client.form(page_link, {"action": "revoke"})
    assert client.get(f"/p/{new}").status_code == 404
    with app.app_context():
        assert db.session.get(Invoice, setup["invoice"]).public_token is None


def test_another_account_cannot_touch_the_link(app, client, setup, auth):
    token = _token(app, setup["invoice"])
    auth.register(email="other@example.com")
    assert client.form(f"/invoices/{setup['invoice']}/page-link", {"action": "revoke"}).status_code == 404
    assert client.form(f"/invoices/{setup['invoice']}/resume").status_code == 404
    assert client.get(f"/p/{token}").status_code == 200


def test_void_invoice_page_is_gone(app, client, setup):
    token = _token(app, setup["invoice"])
    with app.app_context():
        db.session.get(Invoice, setup["invoice"]).status = "void"
        db.session.commit()
    assert client.get(f"/p/{token}").status_code == 404


def test_ive_paid_holds_reminders_until_the_owner_resumes(app, client, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 5, 12))  # one day overdue
    token = _token(app, setup["invoice"])
    response = _answer(client, token, "paid")
    assert response.status_code == 302
    assert _state(app, setup["invoice"]) == ("client_paid", None)
    # The owner is told by email, from the worker: the client's request sent nothing.
    assert sink.to(OWNER) == []
    with app.app_context():
        run_worker(app)
    mails = sink.to(OWNER)
    assert len(mails) == 1 and "says invoice F-2026-014 is paid" in mails[0]["subject"]
    # …and the page thanks the client.
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "has been told that you have paid" in html
    # A tick sends nothing: the +3 step (7 Dec) is held.
    tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 30))
    assert sink.to(CLIENT) == []
    with app.app_context():
        states = {r.state for r in db.session.scalars(select(Reminder))}
        assert "sent" not in states
    # Home and the invoice page show the answer.
    _login(client)
    assert "Clients answered" in client.get("/today").get_data(as_text=True)
    detail = client.get(f"/invoices/{setup['invoice']}").get_data(as_text=True)
    assert "The client says it is paid" in detail and "Resume reminders" in detail
    # The owner resumes: the next tick sends the latest due step.
    fixed_now(at(2026, 12, 8, 10))
    assert client.form(f"/invoices/{setup['invoice']}/resume").status_code == 302
    assert _state(app, setup["invoice"]) == ("", None)
    with app.app_context():
        assert db.session.scalar(select(ClientAnswer.resolved_at)) is not None
    tick_and_work(app, fixed_now, at(2026, 12, 8, 10, 5))
    subjects = [m["subject"] for m in sink.to(CLIENT)]
    assert len(subjects) == 1 and "overdue" in subjects[0]
    assert "Clients answered" not in client.get("/today").get_data(as_text=True)


def test_a_promise_holds_until_the_promised_date(app, client, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    assert _answer(client, token, "promise", promised_on="2026-12-09").status_code == 302
    assert _state(app, setup["invoice"]) == ("client_promise", date(2026, 12, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 9, 9, 30))
    assert sink.to(CLIENT) == []
    tick_and_work(app, fixed_now, at(2026, 12, 10, 9, 30))  # the promised day has passed
    assert len(sink.to(CLIENT)) == 1


def test_a_dispute_needs_a_message_and_is_mailed_to_the_owner(app, client, setup, sink, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    response = _answer(client, token, "dispute", message="   ")
    assert response.status_code == 422
    assert "what is wrong" in response.get_data(as_text=True)
    assert _state(app, setup["invoice"]) == ("", None)
    response = _answer(client, token, "dispute", message="Only 3 days were worked, not 4.")
    assert response.status_code == 302
    assert _state(app, setup["invoice"])[0] == "client_dispute"
    with app.app_context():
        run_worker(app)
    body = sink.to(OWNER)[0].get_body(("plain",)).get_content()
    assert "Only 3 days were worked, not 4." in body


@pytest.mark.parametrize(
    ("promised_on", "message"),
    [
        ("2026-12-04", "in the past"),
        ("2027-03-06", "within 90 days"),  # 91 days after 5 Dec
        ("", "Choose the date"),
        ("tomorrow", "Choose the date"),
    ],
)
def test_bad_promise_dates_are_refused(app, client, setup, fixed_now, promised_on, message):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    response = _answer(client, token, "promise", promised_on=promised_on)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _state(app, setup["invoice"]) == ("", None)


def test_the_90th_day_is_accepted(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    assert _answer(client, token, "promise", promised_on="2027-03-05").status_code == 302


def test_an_unknown_answer_or_no_csrf_is_400(app, client, setup, fixed_now):
    token = _token(app, setup["invoice"])
    assert _answer(client, token, "maybe").status_code == 400
    assert client.post(f"/p/{token}", data={"kind": "paid"}).status_code == 400
    assert _state(app, setup["invoice"]) == ("", None)


def test_answers_are_rate_limited_with_a_friendly_page(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    csrf = _page_csrf(client, token)
    codes = [
        client.post(
            f"/p/{token}", data={"kind": "promise", "promised_on": "", "csrf_token": csrf}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [422] * 5 + [429]
    response = client.post(f"/p/{token}", data={"kind": "paid", "csrf_token": csrf})
    assert response.status_code == 429
    assert "Slow down a little" in response.get_data(as_text=True)
    assert client.get(f"/p/{token}").status_code == 200  # reading the page is not limited


def test_the_client_can_open_the_invoice_pdf(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 8, 10))
    token = _token(app, setup["invoice"])
    assert f"/p/{token}/invoice.pdf" in client.get(f"/p/{token}").get_data(as_text=True)
    response = client.get(f"/p/{token}/invoice.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert client.get("/p/not-the-token/invoice.pdf").status_code == 404


def _proxied_app(app, proxies):
    from app import create_app

    keys = ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "RATELIMIT_STORAGE_URI")
    keys += ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT", "SERVER_NAME")
    other = create_app({**{k: app.config[k] for k in keys}, "RELANCE_PROXIES": proxies})
    other.test_client_class = app.test_client_class
    return other


def _burst(client, token, forwarded_for):
    csrf = _page_csrf(client, token)
    headers = {"X-Forwarded-For": forwarded_for}
    data = {"kind": "promise", "promised_on": "", "csrf_token": csrf}
    return [client.post(f"/p/{token}", data=data, headers=headers).status_code for _ in range(6)]


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(app, setup, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    proxied = _proxied_app(app, 1)
    client = proxied.test_client()
    try:
        assert _burst(client, token, "203.0.113.7") == [422] * 5 + [429]
        # Another client behind the same proxy is not locked out by the first one.
        assert _burst(client, token, "198.51.100.9") == [422] * 5 + [429]
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()


def test_without_trusted_proxies_x_forwarded_for_is_ignored(app, client, setup, fixed_now):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    assert _burst(client, token, "203.0.113.7") == [422] * 5 + [429]
    # A made-up X-Forwarded-For does not open a fresh bucket.
    assert _burst(client, token, "198.51.100.9") == [429] * 6


def test_the_answer_is_emailed_inline_when_the_queue_is_unreachable(
    app, client, setup, sink, fixed_now, caplog
):
    fixed_now(at(2026, 12, 5, 12))
    token = _token(app, setup["invoice"])
    csrf = _page_csrf(client, token)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    app.extensions.pop("relance_redis", None)
    try:
        response = client.post(f"/p/{token}", data={"kind": "paid", "csrf_token": csrf})
    finally:
        app.extensions.pop("relance_redis", None)
    assert response.status_code == 302
    assert _state(app, setup["invoice"]) == ("client_paid", None)
    mails = sink.to(OWNER)
    assert len(mails) == 1 and "says invoice F-2026-014 is paid" in mails[0]["subject"]
    assert "emailing the owner inline" in caplog.text
