"""Import page file pickers on a phone: our own « Choisir un fichier » label instead of
Chromium's control (which shortens « Aucun fichier choisi » to « Aucun…r choisi » at
390 px). The real <input type="file"> stays, transparent over the label: keyboard and
screen readers reach it, a tap opens the picker, and the upload works with or without
JavaScript. Read in Debian's chromium, with axe-core in light and dark mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.base import AXE_SCRIPT

from .factories import make_account
from .livebrowser import NARROW, PHONE, LiveServer, app_config, french_page, needs_chromium
from .test_a11y import violations

pytestmark = [pytest.mark.browser, needs_chromium]

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
CSV = FIXTURES / "invoices_fr_semicolon_cp1252.csv"

# Each picker's label and name: not clipped, inside the card, tall enough for a thumb.
LAYOUT = """() => [...document.querySelectorAll('.file-pick')].map((pick) => {
    const card = pick.closest('.card').getBoundingClientRect();
    const label = pick.querySelector('.file-button'), name = pick.querySelector('.file-name');
    const input = pick.querySelector('input[type=file]');
    const box = label.getBoundingClientRect(), inputBox = input.getBoundingClientRect();
    const inside = (r) => r.left >= card.left - 0.5 && r.right <= card.right + 0.5;
    return {label: label.textContent.trim(), name: name.hidden ? null : name.textContent.trim(),
            labelHeight: box.height, labelLines: label.getClientRects().length,
            clipped: label.scrollWidth > label.clientWidth + 1 || name.scrollWidth > name.clientWidth + 1,
            inside: inside(box) && (name.hidden || inside(name.getBoundingClientRect())),
            inputCoversLabel: Math.abs(inputBox.width - box.width) < 1
                && Math.abs(inputBox.height - box.height) < 1,
            labelFor: label.htmlFor === input.id};
})"""


@pytest.fixture(scope="module")
def live(redis_server, mail_sink, tmp_path_factory):
    server = LiveServer(app_config(tmp_path_factory.mktemp("polish4"), redis_server.url, mail_sink.port))
    with server.app.app_context():
        email = make_account(email="polish4@example.com", language="fr").email
    yield server.app, email
    server.close()


def _page(browser, live, viewport, *, scheme="light", javascript=True, axe=False):
    app, email = live
    context, page, errors = french_page(
        browser,
        app.config["LIVE_URL"],
        email,
        viewport,
        scheme=scheme,
        javascript=javascript,
        init_script=AXE_SCRIPT if axe else None,
    )
    page.goto("/imports/")
    return context, page, errors


@pytest.mark.parametrize("viewport", [NARROW, PHONE], ids=["360", "390"])
def test_choose_a_file_label_is_whole_and_shows_the_chosen_name(browser, live, viewport):
    context, page, errors = _page(browser, live, viewport)
    # Playwright turns chromium's file-chooser interception on without waiting for an
    # answer when the first listener is added: a listener added here, long before the
    # key press, keeps a busy machine from opening the (headless, invisible) dialog first.
    page.on("filechooser", lambda chooser: None)
    pickers = page.evaluate(LAYOUT)
    assert len(pickers) == 2
    for picker in pickers:
        assert picker["label"] == "Choisir un fichier" and picker["labelLines"] == 1
        assert picker["name"] == "Aucun fichier choisi"
        assert picker["labelHeight"] >= 44 and not picker["clipped"] and picker["inside"]
        assert picker["inputCoversLabel"] and picker["labelFor"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    # The real input is in the tab order and its focus ring shows on the label.
    statement = page.locator("#file-statement")
    statement.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file-statement"
    ring = page.evaluate(
        "() => [document.activeElement.matches(':focus-visible'),"
        " getComputedStyle(document.querySelector('.file-button[for=file-statement]')).outlineStyle]"
    )
    assert ring == [True, "solid"]
    # Space on it opens the file chooser (the browser's own behaviour, kept).
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    assert chooser.value.element.get_attribute("id") == "file-statement"
    # Its accessible name says what it is; its description, which file is chosen.
    assert page.locator("#file-statement").get_attribute("aria-describedby") == "file-statement-name"

    # Choosing a file shows its name next to the label (the other picker is untouched).
    page.locator("#file-invoices").set_input_files(CSV)
    name = page.locator("#file-invoices-name")
    assert name.inner_text() == CSV.name and "is-chosen" in name.get_attribute("class")
    assert page.locator("#file-statement-name").inner_text() == "Aucun fichier choisi"
    (picker,) = [p for p in page.evaluate(LAYOUT) if p["name"] == CSV.name]
    assert not picker["clipped"] and picker["inside"]
    # Chosen then cleared: back to « Aucun fichier choisi ».
    page.locator("#file-invoices").set_input_files([])
    assert name.inner_text() == "Aucun fichier choisi"

    # The upload still posts the file: the column mapping of the new import opens.
    page.locator("#file-invoices").set_input_files(CSV)
    page.locator("#upload-invoices button[type=submit]").click()
    page.wait_for_url(re.compile(r"/imports/\d+/mapping$"))
    assert CSV.name in page.content()
    context.close()
    assert not errors


def test_without_javascript_the_label_opens_the_picker_and_the_upload_posts(browser, live):
    context, page, _errors = _page(browser, live, PHONE, javascript=False)
    (picker, _) = page.evaluate(LAYOUT)
    # No name line without JS (it could not follow the choice); the label is all there.
    assert picker["label"] == "Choisir un fichier" and picker["name"] is None
    assert not picker["clipped"] and picker["inside"] and picker["labelHeight"] >= 44
    # A tap on the label (where a thumb lands) reaches the real input, which lies over it...
    box = page.locator(".file-button[for=file-invoices]").bounding_box()
    middle = [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", middle) == "file-invoices"
    # ...and opens the file chooser (a click through Playwright's actionability checks:
    # a raw mouse click at fixed coordinates was lost now and then on a loaded machine).
    with page.expect_file_chooser(timeout=30_000) as chooser:
        page.locator("#file-invoices").click()
    chooser.value.set_files(CSV)
    page.locator("#upload-invoices button[type=submit]").click()
    page.wait_for_url(re.compile(r"/imports/\d+/mapping$"))
    context.close()


def test_upload_without_a_file_says_so_next_to_the_picker(browser, live):
    context, page, errors = _page(browser, live, PHONE)
    page.locator("#upload-statement button[type=submit]").click()
    error = page.locator("#file-statement-error")
    error.wait_for()
    assert error.inner_text() == "Choisissez un fichier."
    described = page.locator("#file-statement").get_attribute("aria-describedby").split()
    assert described == ["file-statement-name", "file-statement-error"]
    assert page.locator("#file-statement").get_attribute("aria-invalid") == "true"
    assert page.locator("#file-statement-name").is_visible()
    context.close()
    assert not errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_the_pickers(browser, live, scheme):
    context, page, errors = _page(browser, live, PHONE, scheme=scheme, axe=True)
    problems = violations(page, f"/imports/ ({scheme})")
    page.locator("#file-invoices").set_input_files(CSV)
    page.locator("#file-invoices").focus()
    problems += violations(page, f"/imports/ file chosen ({scheme})")
    context.close()
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)
    assert not errors
