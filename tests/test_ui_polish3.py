"""Small phone-first UI defects, read on the real pages: the account-wide reminders switch
says what its current state does (and still does after an htmx toggle), draft rows show
their Draft badge whole, the invoice tabs show where more of them hide, the import hint
keeps "UTF-8" on one line. Page checks on SQLite and PostgreSQL; layout checks in
Debian's chromium."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest

from app.extensions import db
from app.models import Account

from .factories import make_account, make_client, make_invoice, register_owner
from .livebrowser import DESKTOP, NARROW, PHONE, LiveServer, app_config, french_page, needs_chromium

NBSP = "\u00a0"
OFF = "Off: Relance sends nothing by itself; you can still remind by hand."
ON_AUTO = "On: Relance sends the reminders below by itself."
ON_ASK = "On: Relance prepares the reminders below and sends them once you approve."
SCHEDULE = {"preset": "standard", "offsets": "-3,0,3,7", "send_time": "09:00"}


def _switch_hint(html: str) -> str:
    match = re.search(r'<p class="hint" id="reminders-enabled-hint">(.*?)</p>', html, re.S)
    assert match, "no hint under the reminders switch"
    return unescape(match.group(1)).strip()


def _switch_checked(html: str) -> bool:
    (tag,) = re.findall(r'<input[^>]*name="enabled"[^>]*>', html)
    assert 'role="switch"' in tag and 'aria-describedby="reminders-enabled-hint"' in tag
    return " checked" in tag


# -- 1. The hint under the account-wide switch follows the switch ---------------------------


def test_switch_hint_describes_the_state_the_switch_shows(app, client, auth, fixed_now):
    account_id = register_owner(app, auth, fixed_now, language="en")
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert _switch_checked(page) and _switch_hint(page) == ON_AUTO

    # The switch saves in place (htmx): the re-rendered form says "Off" next to an off switch.
    response = client.form("/settings/reminders", {**SCHEDULE, "mode": "auto"}, htmx=True)
    assert response.status_code == 200
    partial = response.get_data(as_text=True)
    assert "<html" not in partial
    assert not _switch_checked(partial) and _switch_hint(partial) == OFF
    with app.app_context():
        assert db.session.get(Account, account_id).reminders_enabled is False
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert not _switch_checked(page) and _switch_hint(page) == OFF

    # Back on, in ask-me-first mode: the hint says nothing goes out without approval.
    partial = client.form(
        "/settings/reminders", {**SCHEDULE, "enabled": "y", "mode": "ask"}, htmx=True
    ).get_data(as_text=True)
    assert _switch_checked(partial) and _switch_hint(partial) == ON_ASK
    # Without JS (full form post, redirect), the same.
    response = client.form("/settings/reminders", {**SCHEDULE, "enabled": "y", "mode": "auto"})
    assert response.status_code == 302
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert _switch_checked(page) and _switch_hint(page) == ON_AUTO

    # A form error (422) keeps the hint of the submitted state.
    response = client.form(
        "/settings/reminders", {**SCHEDULE, "send_time": "25:00", "mode": "auto"}, htmx=True
    )
    assert response.status_code == 422
    partial = response.get_data(as_text=True)
    assert not _switch_checked(partial) and _switch_hint(partial) == OFF


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_switch_hint_in_french(app, client, auth, fixed_now):
    register_owner(app, auth, fixed_now, language="fr")
    page = client.get("/settings/reminders").get_data(as_text=True)
    assert _switch_hint(page).startswith(f"Activé{NBSP}: ")
    partial = client.form("/settings/reminders", {**SCHEDULE, "mode": "auto"}, htmx=True).get_data(
        as_text=True
    )
    assert _switch_hint(partial).startswith(f"Désactivé{NBSP}: ")
    partial = client.form(
        "/settings/reminders", {**SCHEDULE, "enabled": "y", "mode": "ask"}, htmx=True
    ).get_data(as_text=True)
    hint = _switch_hint(partial)
    assert hint.startswith(f"Activé{NBSP}: ") and "valid" in hint


# -- 2. Draft rows: a Draft badge of its own -------------------------------------------------


def test_draft_rows_show_a_draft_badge(app, client, auth, fixed_now):
    account_id = register_owner(app, auth, fixed_now, language="en")
    with app.app_context():
        account = db.session.get(Account, account_id)
        make_invoice(account, make_client(account, name="Atelier Brouillon"), number="D-1", sent=False)
        make_invoice(account, make_client(account, name="Studio Envoi"), number="S-1")
    html = client.get("/invoices/?tab=all").get_data(as_text=True)
    rows = re.findall(r"<li>\s*<a class=\"row row-2\".*?</a>\s*</li>", html, re.S)
    (draft,) = [r for r in rows if "D-1" in r]
    (sent,) = [r for r in rows if "S-1" in r]
    assert '<span class="badge badge-draft">Draft</span>' in draft
    assert "badge-draft" not in sent
    # The word is a badge, not the tail of the number's (truncated) line.
    assert re.search(r'<span class="row-sub">D-1<span class="wide-only">', draft)


# -- 3. Import hint: encoding names in one piece ----------------------------------------------


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Comma or semicolon, {} or {}."), ("fr", "Virgule ou point-virgule, {} ou {}.")],
)
def test_import_hint_keeps_encoding_names_whole(app, client, auth, fixed_now, language, words):
    register_owner(app, auth, fixed_now, language=language)
    html = client.get("/imports/").get_data(as_text=True)
    nowrap = words.format('<span class="nowrap">UTF-8</span>', '<span class="nowrap">Windows-1252</span>')
    assert html.count(nowrap) == 2  # both upload forms, tags not escaped
    if language == "fr":
        assert re.search(rf"\d+{NBSP}Mo maximum", html)


# -- In chromium: what a phone shows ---------------------------------------------------------


@pytest.fixture(scope="module")
def live(redis_server, mail_sink, tmp_path_factory):
    server = LiveServer(app_config(tmp_path_factory.mktemp("polish3"), redis_server.url, mail_sink.port))
    yield server.app
    server.close()


@pytest.fixture(scope="module")
def french_owner(live):
    """A French account with drafts and sent invoices: the tab bar is wider than a phone."""
    with live.app_context():
        account = make_account(email="polish3@example.com", language="fr")
        for n in range(2):
            make_invoice(
                account,
                make_client(account, name=f"Boulangerie {n}"),
                sent=False,
                issued_on=date(2026, 11, 20),
            )
        make_invoice(account, make_client(account, name="Atelier Moreau"), issued_on=date(2026, 9, 1))
        return account.email


def _page(browser, live, email, viewport):
    return french_page(browser, live.config["LIVE_URL"], email, viewport)


@needs_chromium
@pytest.mark.browser
def test_switch_and_hint_stay_in_step_through_htmx_toggles(browser, live, french_owner):
    context, page, errors = _page(browser, live, french_owner, PHONE)
    page.goto("/settings/reminders")
    switch = page.locator("input[name=enabled]")
    hint = page.locator("#reminders-enabled-hint")
    assert switch.is_checked() and hint.inner_text().startswith("Activé")
    for expected_on in (False, True, False):
        page.locator("label.switch").click()
        # htmx re-renders the form in place: wait for the hint of the new state.
        word = "Activé" if expected_on else "Désactivé"
        page.wait_for_function(
            "w => document.querySelector('#reminders-enabled-hint').textContent.trim().startsWith(w)",
            arg=word,
        )
        assert page.locator("input[name=enabled]").is_checked() is expected_on
        assert page.locator(".saved-note").is_visible()
    assert page.url.endswith("/settings/reminders")  # saved in place, no navigation
    page.reload()
    assert not page.locator("input[name=enabled]").is_checked()
    assert page.locator("#reminders-enabled-hint").inner_text().startswith("Désactivé")
    page.locator("label.switch").click()  # leave it on for the other tests
    page.wait_for_function("() => document.querySelector('input[name=enabled]').checked")
    page.wait_for_selector(".saved-note")
    context.close()
    assert not errors


CLIPPED = """() => [...document.querySelectorAll('#invoice-list .rows .badge, #invoice-list .rows .row-sub')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1 ||
        el.getBoundingClientRect().right > el.closest('.row').getBoundingClientRect().right + 0.5)
    .map((el) => el.textContent.trim())"""

TABS = """() => { const nav = document.querySelector('.tabs'); const box = nav.getBoundingClientRect();
    const active = nav.querySelector('.is-active').getBoundingClientRect();
    return {overflows: nav.scrollWidth > nav.clientWidth, start: nav.classList.contains('fade-start'),
            end: nav.classList.contains('fade-end'), mask: getComputedStyle(nav).maskImage,
            activeInView: active.left >= box.left - 0.5 && active.right <= box.right + 0.5}; }"""


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("viewport", [NARROW, PHONE, DESKTOP], ids=["360", "390", "1280"])
def test_invoice_list_hides_no_text_and_tabs_show_they_scroll(browser, live, french_owner, viewport):
    context, page, errors = _page(browser, live, french_owner, viewport)
    page.goto("/invoices/?tab=all")
    drafts = page.locator(".badge-draft")
    assert drafts.count() == 2
    for i in range(2):
        assert drafts.nth(i).is_visible() and drafts.nth(i).inner_text() == "Brouillon"
    assert page.evaluate(CLIPPED) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    tabs = page.evaluate(TABS)
    assert tabs["activeInView"]
    if viewport["width"] >= 1024:
        assert not tabs["overflows"] and not tabs["start"] and not tabs["end"] and tabs["mask"] == "none"
    else:
        # Scrolled to the start: the right edge fades where « En retard », « Payées » hide.
        assert tabs["overflows"] and tabs["end"] and not tabs["start"] and tabs["mask"] != "none"
        # The last tab, opened directly: scrolled into view, the left edge fades now.
        page.goto("/invoices/?tab=paid")
        tabs = page.evaluate(TABS)
        assert tabs["activeInView"] and tabs["start"] and not tabs["end"]
        # Through htmx too (the list and its tabs are swapped in place).
        page.locator(".tabs a", has_text="Toutes").click()
        page.wait_for_url(re.compile(r"tab=all"))
        page.wait_for_function(
            "() => document.querySelector('.tabs .is-active').textContent.trim() === 'Toutes'"
        )
        page.wait_for_function("() => document.querySelector('.tabs').classList.contains('fade-end')")
        assert page.evaluate(TABS)["activeInView"]
        assert page.evaluate(CLIPPED) == []
    context.close()
    assert not errors


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("viewport", [NARROW, PHONE], ids=["360", "390"])
def test_import_hint_never_splits_an_encoding_name(browser, live, french_owner, viewport):
    context, page, errors = _page(browser, live, french_owner, viewport)
    page.goto("/imports/")
    names = page.locator(".hint .nowrap")
    assert names.count() == 4
    lines = page.evaluate(
        "() => [...document.querySelectorAll('.hint .nowrap')]"
        ".map((el) => [el.textContent, el.getClientRects().length])"
    )
    assert lines == [["UTF-8", 1], ["Windows-1252", 1]] * 2
    context.close()
    assert not errors
