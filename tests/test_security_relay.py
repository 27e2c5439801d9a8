"""Relance is no open relay (issue 14 point 7): nothing goes to a third party before
the owner has confirmed their address, sends to clients are limited per account and
day, and "Send by email" to an address that is not the client's is confirmed.

Real Redis, real SMTP sink, the real tick and burst worker (as tests/test_engine.py).
"""

import re
from collections import Counter
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Account, Client, Reminder
from app.reminders import gate, limits

from .factories import make_account, make_client, make_invoice
from .test_engine import CLIENT, at, run_worker, tick_and_work

D = date(2026, 12, 4)
OWNER = "owner@example.com"
WEEK = timedelta(days=7)
TODAY = date(2026, 12, 1)


# --- The rule (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("  ", None), ("0", 0), ("3", 3), (" 250 ", 250), (0, 0), (1000, 1000)],
)
def test_the_setting_reads_unset_off_or_a_number(raw, expected):
    assert limits.parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5", "١٢", -3, True, "1e3"])
def test_a_setting_that_is_not_a_number_is_refused_rather_than_read_as_off(raw):
    with pytest.raises(ValueError):
        limits.parse_limit(raw)


@pytest.mark.parametrize(
    ("configured", "age", "limit"),
    [
        (None, timedelta(0), 100),
        (None, WEEK - timedelta(seconds=1), 100),
        (None, WEEK, 1000),
        (None, timedelta(days=400), 1000),
        (None, timedelta(days=-1), 100),  # created "after" now (a clock moved back): young
        (0, timedelta(0), None),
        (0, timedelta(days=400), None),
        (3, timedelta(0), 3),
        (3, timedelta(days=400), 3),
        (5000, timedelta(0), 5000),
    ],
)
def test_daily_limit_by_setting_and_account_age(configured, age, limit):
    assert limits.daily_limit(configured, age) == limit


@pytest.mark.parametrize(
    ("verified", "age", "sent", "configured", "reason", "hold_until"),
    [
        (False, timedelta(0), 0, None, limits.UNVERIFIED, None),
        (False, timedelta(days=30), 0, 0, limits.UNVERIFIED, None),  # off does not mean unverified may send
        (True, timedelta(0), 0, None, limits.ALLOWED, None),
        (True, timedelta(0), 99, None, limits.ALLOWED, None),
        (True, timedelta(0), 100, None, limits.DAILY_LIMIT, TODAY + timedelta(days=1)),
        (True, timedelta(days=8), 100, None, limits.ALLOWED, None),
        (True, timedelta(days=8), 999, None, limits.ALLOWED, None),
        (True, timedelta(days=8), 1000, None, limits.DAILY_LIMIT, TODAY + timedelta(days=1)),
        (True, timedelta(0), 2, 3, limits.ALLOWED, None),
        (True, timedelta(0), 3, 3, limits.DAILY_LIMIT, TODAY + timedelta(days=1)),
        (True, timedelta(0), 10**6, 0, limits.ALLOWED, None),
    ],
)
def test_who_may_send_one_more_email_to_a_client(verified, age, sent, configured, reason, hold_until):
    verdict = limits.decide(
        verified=verified, account_age=age, sent_today=sent, configured=configured, today=TODAY
    )
    assert (verdict.reason, verdict.hold_until) == (reason, hold_until)
    assert verdict.allowed == (reason == limits.ALLOWED)


@pytest.mark.parametrize(
    ("limit", "sent", "queued", "waiting"),
    [
        (None, 500, 10, 0),
        (3, 0, 3, 0),
        (3, 0, 4, 1),
        (3, 2, 5, 4),
        (3, 3, 2, 2),
        (3, 7, 2, 2),
        (100, 0, 0, 0),
    ],
)
def test_how_many_of_a_click_wait_for_tomorrow(limit, sent, queued, waiting):
    assert limits.over_limit(limit, sent, queued) == waiting


# --- Helpers ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def english(request):
    """Owners registered here read English (registration takes the browser's language)."""
    if "client" in request.fixturenames:
        request.getfixturevalue("client").environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def _account(email=OWNER):
    return db.session.scalar(select(Account).where(Account.email == email))


def _link(sink, address=OWNER):
    """The path of the latest confirmation link mailed to ``address``."""
    links = [
        re.search(r"https?://\S+/verify/\S+", m.get_body(("plain",)).get_content()) for m in sink.to(address)
    ]
    links = [link.group(0) for link in links if link]
    assert links, f"no confirmation email to {address}"
    return urlsplit(links[-1]).path


def _follow(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "Confirm my address" in page.get_data(as_text=True)
    return client.form(path)


def _work(app):
    """A burst worker inside the test's app (as tick_and_work runs it)."""
    with app.app_context():
        run_worker(app)


def _states(app, invoice_id):
    with app.app_context():
        return [
            (r.state, r.reason)
            for r in db.session.scalars(select(Reminder).where(Reminder.invoice_id == invoice_id))
        ]


def _owner_unverified(app, auth, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    with app.app_context():
        account = _account()
        account.language = "en"
        client = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice = make_invoice(account, client, issued_on=date(2026, 11, 4), due_on=D, number="F-2026-014")
        return account.id, invoice.id


def _sent_earlier_today(account, count, hours=1):
    """``count`` emails to clients this account sent an hour ago (rows, as the worker
    leaves them)."""
    client = make_client(account, name="Earlier", email="earlier@example.com")
    moment = clock.now() - timedelta(hours=hours)
    db.session.add_all(
        Reminder(
            key=f"earlier:{account.id}:{i}",
            account_id=account.id,
            client_id=client.id,
            kind="manual",
            channel="email",
            state="sent",
            recipient=client.email,
            sent_at=moment,
            created_at=moment,
            updated_at=moment,
        )
        for i in range(count)
    )
    db.session.commit()


# --- Unverified owner ------------------------------------------------------------


def test_unverified_account_sends_nothing_to_its_client(app, client, auth, sink, fixed_now):
    _account_id, invoice_id = _owner_unverified(app, auth, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert sink.to(CLIENT) == []
    with app.app_context():
        reminder = db.session.scalar(select(Reminder).where(Reminder.invoice_id == invoice_id))
        assert (reminder.state, reminder.reason) == ("scheduled", "unverified")


def test_what_waited_for_the_confirmation_goes_out_once_after_it(app, client, auth, sink, fixed_now):
    _account_id, invoice_id = _owner_unverified(app, auth, fixed_now)
    # Registration mailed the link to the owner, and only there.
    assert [m["X-Rcpt-To"] for m in sink.messages] == [OWNER]
    first_link = _link(sink)

    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 10))
    assert sink.to(CLIENT) == []
    assert _states(app, invoice_id) == [("scheduled", "unverified")]
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "Not sent yet: waiting for you to confirm your email address." in page
    assert "Until then, nothing is sent to your clients." in page  # the banner, on every page
    assert "Resend the link" in client.get("/clients/").get_data(as_text=True)

    # Three days later the first link has expired: the banner sends a new one.
    assert client.get(first_link).status_code == 410
    sink.clear()
    response = client.form("/verify/resend", follow_redirects=True)
    assert f"A new link is on its way to {OWNER}." in response.get_data(as_text=True)
    response = _follow(client, _link(sink))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 email to your clients that was waiting is on its way." in page
    assert "Resend the link" not in page

    tick_and_work(app, fixed_now, at(2026, 12, 1, 10, 1))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 10, 2))
    assert [m["subject"] for m in sink.to(CLIENT)] == ["Reminder: invoice F-2026-014 is due in 3 days"]
    assert _states(app, invoice_id) == [("sent", "")]


def test_send_by_email_of_an_unverified_owner_waits_and_says_so(app, client, auth, sink, fixed_now):
    _account_id, invoice_id = _owner_unverified(app, auth, fixed_now)
    sink.clear()
    form = client.get(f"/invoices/{invoice_id}/email").get_data(as_text=True)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', form).group(1)
    response = client.form(
        f"/invoices/{invoice_id}/email",
        {"key": key, "to": CLIENT, "subject": "Invoice F-2026-014", "message": "Hello"},
        follow_redirects=True,
    )
    assert "Confirm your email address first (see the banner above): this email waits" in response.get_data(
        as_text=True
    )
    _work(app)
    assert sink.to(CLIENT) == []
    status = client.get(f"/invoices/{invoice_id}/email/status").get_data(as_text=True)
    assert (
        "Waiting for you to confirm your email address: it goes to client@example.com once you do." in status
    )
    with app.app_context():
        invoice_email = db.session.scalar(select(Reminder).where(Reminder.kind == "invoice"))
        assert (invoice_email.state, invoice_email.attempts) == ("scheduled", 0)


def test_previews_to_the_owners_own_address_work_unverified_and_are_capped(
    app, client, auth, sink, fixed_now
):
    _owner_unverified(app, auth, fixed_now)
    sink.clear()
    for _ in range(5):
        assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 429
    assert len(sink.to(OWNER)) == 15  # three a preview
    assert {m["X-Rcpt-To"] for m in sink.messages} == {OWNER}
    # The link, too, cannot be used to flood the owner's address.
    statuses = [client.form("/verify/resend").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]


# --- The links -------------------------------------------------------------------


def test_a_link_works_once(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    path = _link(sink)
    assert _follow(client, path).status_code == 302
    with app.app_context():
        assert _account().email_verified_at == at(2026, 11, 4, 10)
    again = client.get(path)
    assert again.status_code == 409
    assert "This link was used already" in again.get_data(as_text=True)
    assert client.form(path).status_code == 409


def test_an_expired_link_is_refused(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    path = _link(sink)
    fixed_now(at(2026, 11, 7, 10) + timedelta(seconds=1))
    for response in (client.get(path), client.form(path)):
        assert response.status_code == 410
        assert "This link has expired" in response.get_data(as_text=True)
    with app.app_context():
        assert _account().email_verified_at is None


def test_a_tampered_link_is_refused(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    path = _link(sink)
    token = path.rsplit("/", 1)[1]
    changed = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    forged = URLSafeTimedSerializer("not-the-secret", salt="email-verify").dumps({"id": 1, "a": "x"})
    for bad in (changed, token[:20], "nonsense", forged):
        response = client.get(f"/verify/{bad}")
        assert response.status_code == 400
        assert "It is incomplete or was changed." in response.get_data(as_text=True)
    with app.app_context():
        assert _account().email_verified_at is None


def test_one_accounts_link_confirms_that_account_only(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed(email="alice@example.com")
    alice_path = _link(sink, "alice@example.com")
    auth.logout()
    auth.register_unconfirmed(email="bob@example.com")  # Bob is logged in now
    with app.app_context():
        alice, bob = _account("alice@example.com"), _account("bob@example.com")
        # Alice's token with Bob's id (signed with the app's own secret: the worst case)
        # still names Alice's address, which is not Bob's.
        from app.verification import _address_digest, _serializer

        with app.test_request_context():
            crossed = _serializer().dumps({"id": bob.id, "a": _address_digest(alice.email)})
    assert client.get(f"/verify/{crossed}").status_code == 400
    assert _follow(client, alice_path).status_code == 302
    with app.app_context():
        assert _account("alice@example.com").email_verified_at is not None
        assert _account("bob@example.com").email_verified_at is None


def test_a_link_mailed_to_a_former_address_is_refused(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    path = _link(sink)
    with app.app_context():
        _account().email = "someone-else@example.com"
        db.session.commit()
    assert client.get(path).status_code == 400


# --- The daily limit ---------------------------------------------------------------


def _four_clients(app, fixed_now, **account_fields):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER, **account_fields)
        ids = []
        for n in range(1, 5):
            client = make_client(account, name=f"Client {n}", email=f"client{n}@example.com", language="en")
            invoice = make_invoice(
                account, client, issued_on=date(2026, 11, 4), due_on=D, number=f"F-2026-0{n:02d}"
            )
            ids.append(invoice.id)
        return account.id, ids


def _received(sink):
    return {n: len(sink.to(f"client{n}@example.com")) for n in range(1, 5)}


def test_over_the_limit_the_email_waits_for_the_next_day_and_goes_once(app, client, auth, sink, fixed_now):
    app.config["RELANCE_DAILY_SEND_LIMIT"] = 3
    _account_id, invoice_ids = _four_clients(app, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 15))
    assert sorted(_received(sink).values()) == [0, 1, 1, 1]
    waiting = [i for i in invoice_ids if _states(app, i) == [("scheduled", "daily_limit")]]
    assert len(waiting) == 1
    with app.app_context():
        held = db.session.scalar(select(Reminder).where(Reminder.invoice_id == waiting[0]))
        assert held.next_attempt_at == at(2026, 12, 2, 9)  # the next day, at the send time
        assert held.attempts == 0
    auth.login()
    page = client.get(f"/invoices/{waiting[0]}").get_data(as_text=True)
    assert "Not sent yet: today's limit of emails to clients is reached: it goes out the next day." in page
    assert "Sent today: 3 of 3" in client.get("/settings/").get_data(as_text=True)

    tick_and_work(app, fixed_now, at(2026, 12, 1, 23, 59))  # still the account's day
    assert sorted(_received(sink).values()) == [0, 1, 1, 1]
    tick_and_work(app, fixed_now, at(2026, 12, 2, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 2, 9, 5))
    assert _received(sink) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert _states(app, waiting[0]) == [("sent", "")]
    assert "Sent today: 1 of 3" in client.get("/settings/").get_data(as_text=True)


def test_a_manual_send_over_the_limit_says_it_waits(app, client, auth, sink, fixed_now):
    app.config["RELANCE_DAILY_SEND_LIMIT"] = 3
    _account_id, invoice_ids = _four_clients(app, fixed_now)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    sink.clear()
    auth.login()
    form = client.get(f"/invoices/{invoice_ids[0]}/email").get_data(as_text=True)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', form).group(1)
    response = client.form(
        f"/invoices/{invoice_ids[0]}/email",
        {"key": key, "to": "client1@example.com", "subject": "Invoice", "message": "Hello"},
        follow_redirects=True,
    )
    assert "Daily limit of 3 emails to clients reached: 1 email waits until tomorrow." in response.get_data(
        as_text=True
    )
    _work(app)
    assert sink.messages == []
    status = client.get(f"/invoices/{invoice_ids[0]}/email/status").get_data(as_text=True)
    assert "limit of emails to clients is reached: it goes to client1@example.com on" in status
    tick_and_work(app, fixed_now, at(2026, 12, 2, 9))
    tick_and_work(app, fixed_now, at(2026, 12, 2, 9, 5))
    invoice_emails = [m for m in sink.to("client1@example.com") if m["subject"] == "Invoice"]
    assert len(invoice_emails) == 1


def test_limit_zero_is_off(app, client, auth, sink, fixed_now):
    app.config["RELANCE_DAILY_SEND_LIMIT"] = 0
    fixed_now(at(2026, 11, 28, 9))
    with app.app_context():
        account = make_account(email=OWNER)  # young on 1 December: 100 a day if the limit were on
        client_ = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice_id = make_invoice(account, client_, issued_on=date(2026, 11, 4), due_on=D).id
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        _sent_earlier_today(_account(), 150)
        assert gate.check(_account()).allowed
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert len(sink.to(CLIENT)) == 1
    assert _states(app, invoice_id) == [("sent", "")]
    auth.login()
    assert "Sent today: 151 (no limit)" in client.get("/settings/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("age_days", "sent_before", "goes"), [(3, 99, True), (3, 100, False), (8, 100, True)]
)
def test_default_limits_young_and_older_accounts(
    app, client, auth, sink, fixed_now, age_days, sent_before, goes
):
    fixed_now(at(2026, 12, 1, 9) - timedelta(days=age_days))
    with app.app_context():
        account = make_account(email=OWNER)
        client_ = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice_id = make_invoice(account, client_, issued_on=date(2026, 11, 4), due_on=D).id
    fixed_now(at(2026, 12, 1, 9))
    with app.app_context():
        _sent_earlier_today(_account(), sent_before)
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert len(sink.to(CLIENT)) == (1 if goes else 0)
    assert _states(app, invoice_id) == [("sent", "") if goes else ("scheduled", "daily_limit")]
    auth.login()
    settings = client.get("/settings/").get_data(as_text=True)
    limit = "1,000" if age_days >= 7 else "100"
    assert f"Sent today: {sent_before + goes} of {limit}" in settings
    assert ("during its first week, then 1,000" in settings) == (age_days < 7)


def test_the_day_is_the_accounts_own(app, client, auth, sink, fixed_now):
    """Sent at 23:30 in Montréal is "today" there until 00:00 Montréal (06:00 Paris)."""
    app.config["RELANCE_DAILY_SEND_LIMIT"] = 1
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER, timezone="America/Montreal")
    fixed_now(at(2026, 12, 2, 5, 30))  # 23:30 on 1 December in Montréal
    with app.app_context():
        account = _account()
        _sent_earlier_today(account, 1, hours=0)
        assert gate.check(account).reason == limits.DAILY_LIMIT
    fixed_now(
        at(
            2026,
            12,
            2,
            6,
            0,
        )
        + timedelta(seconds=1)
    )  # 00:00:01 on 2 December there
    with app.app_context():
        assert gate.check(_account()).allowed


# --- "Send by email" to another address ------------------------------------------------


def _email_form(client, invoice_id):
    form = client.get(f"/invoices/{invoice_id}/email").get_data(as_text=True)
    return re.search(r'name="key" type="hidden" value="([^"]+)"', form).group(1)


def test_send_by_email_to_an_address_that_is_not_the_clients_asks_first(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        client_ = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice = make_invoice(account, client_, issued_on=date(2026, 11, 4), due_on=D, sent=False)
        invoice_id, client_id = invoice.id, client_.id
    auth.login()
    data = {
        "key": _email_form(client, invoice_id),
        "to": "Stranger@Elsewhere.example",
        "subject": "Inv",
        "message": "Hi",
    }
    asked = client.form(f"/invoices/{invoice_id}/email", data)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "This address is not Atelier Moreau's: send to stranger@elsewhere.example anyway?" in text
    assert "Send to stranger@elsewhere.example anyway" in text
    with app.app_context():
        assert db.session.scalar(select(Reminder).where(Reminder.kind == "invoice")) is None
    # Confirming a different address than the one shown does not count.
    assert "anyway?" in client.form(
        f"/invoices/{invoice_id}/email", {**data, "confirm_to": "other@elsewhere.example"}
    ).get_data(as_text=True)

    sent = client.form(f"/invoices/{invoice_id}/email", {**data, "confirm_to": "stranger@elsewhere.example"})
    assert sent.status_code == 302
    _work(app)
    assert [m["subject"] for m in sink.to("stranger@elsewhere.example")] == ["Inv"]
    assert sink.to(CLIENT) == []
    with app.app_context():
        assert db.session.get(Client, client_id).email == CLIENT  # the client's address stays


def test_send_by_email_to_the_clients_own_address_goes_at_once(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    with app.app_context():
        account = make_account(email=OWNER)
        client_ = make_client(account, name="Atelier Moreau", email=CLIENT, language="en")
        invoice_id = make_invoice(account, client_, issued_on=date(2026, 11, 4), due_on=D, sent=False).id
    auth.login()
    data = {
        "key": _email_form(client, invoice_id),
        "to": " Client@Example.com ",
        "subject": "Inv",
        "message": "Hi",
    }
    assert client.form(f"/invoices/{invoice_id}/email", data).status_code == 302
    _work(app)
    assert [m["subject"] for m in sink.to(CLIENT)] == ["Inv"]


def test_racing_workers_never_send_past_the_limit(app, sink):
    """Two ticks sending inline and two worker processes race for 60 due reminders
    of one account with a limit of 25: exactly 25 go, the others wait, none twice.
    (On the real clock, as tests/test_engine_faults.py: the workers read it too.)"""
    from .test_engine_faults import due_now_invoices, race_ticks_and_workers

    app.config["REMINDER_PDF"] = False
    app.config["RELANCE_DAILY_SEND_LIMIT"] = 25
    due_now_invoices(app, 60)
    race_ticks_and_workers(app, sink)
    recipients = [m["X-Rcpt-To"] for m in sink.messages]
    assert len(recipients) == len(set(recipients)) == 25
    with app.app_context():
        states = Counter(
            (r.state, r.reason) for r in db.session.scalars(select(Reminder).where(Reminder.kind == "step"))
        )
    assert states == {("sent", ""): 25, ("scheduled", "daily_limit"): 35}


# --- Every way of confirming releases what waited (sec-fix) ---------------------------------------


def _held_then_goes_once(app, fixed_now, sink, invoice_id, confirm, address=OWNER):
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9))
    assert _states(app, invoice_id) == [("scheduled", "unverified")]
    confirm()
    with app.app_context():
        assert _account(address).email_verified_at is not None
    assert _states(app, invoice_id) == [("scheduled", "")], "confirming released what waited"
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 1))
    tick_and_work(app, fixed_now, at(2026, 12, 1, 9, 2))
    assert [m["subject"] for m in sink.to(CLIENT)] == ["Reminder: invoice F-2026-014 is due in 3 days"]
    assert _states(app, invoice_id) == [("sent", "")]


def test_a_password_reset_confirms_and_releases(app, client, auth, sink, fixed_now):
    _account_id, invoice_id = _owner_unverified(app, auth, fixed_now)
    auth.logout()

    def confirm():
        sink.clear()
        client.form("/password/forgot", {"email": OWNER})
        texts = [m.get_body(("plain",)).get_content() for m in sink.to(OWNER)]
        path = urlsplit(re.search(r"https?://\S+/password/reset/\S+", texts[-1]).group(0)).path
        new = {"password": "new password 1", "confirm": "new password 1"}
        assert client.form(path, new).status_code == 302

    _held_then_goes_once(app, fixed_now, sink, invoice_id, confirm)


def test_a_change_email_that_keeps_the_address_keeps_it_confirmed(app, client, auth, sink):
    auth.register()
    from .conftest import PASSWORD

    sink.clear()
    client.form("/settings/account/email", {"email": "OWNER@example.com", "current": PASSWORD})
    with app.app_context():
        assert _account().email_verified_at is not None
    assert sink.messages == []


def test_the_caps_on_the_owners_own_address_survive_a_new_login(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register()
    for _ in range(5):
        assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    auth.logout()
    assert auth.login().status_code == 302
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 429


def test_the_resend_cap_survives_a_new_login(app, client, auth, sink, fixed_now):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed()
    for _ in range(3):
        assert client.form("/verify/resend").status_code == 302
    auth.logout()
    # A new login (the session token changes), the address still unconfirmed.
    with app.app_context():
        _account().email_verified_at = clock.now()
        db.session.commit()
    assert auth.login().status_code == 302
    with app.app_context():
        _account().email_verified_at = None
        db.session.commit()
    assert client.form("/verify/resend").status_code == 429


def test_one_accounts_link_followed_while_another_is_signed_in_signs_that_one_out(
    app, client, auth, sink, fixed_now
):
    fixed_now(at(2026, 11, 4, 10))
    auth.register_unconfirmed(email="alice@example.com")
    alice_path = _link(sink, "alice@example.com")
    auth.logout()
    auth.register_unconfirmed(email="bob@example.com")
    response = _follow(client, alice_path)
    assert response.headers["Location"] == "/login"
    assert client.get("/today").status_code == 302, "Bob is signed out"
    page = client.get("/login").get_data(as_text=True)
    assert "Your address is confirmed" in page
    with app.app_context():
        assert _account("alice@example.com").email_verified_at is not None
        assert _account("bob@example.com").email_verified_at is None
