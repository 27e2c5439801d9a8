"""Phone-grade gates in a real browser (Debian's chromium through Playwright):

* Chromium finds the app installable (CDP ``Page.getInstallabilityErrors`` is empty);
* static assets have fingerprinted URLs, a year of immutable cache, gzip;
* the first page load (login + everything it loads) is at most 60 KB on the wire;
* htmx swaps do not shift the layout (Cumulative Layout Shift stays 0).
"""

from __future__ import annotations

import gzip
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from app import clock
from app.assets import LONG_CACHE, file_hash
from app.extensions import db
from app.models import Reminder

from .conftest import PASSWORD
from .factories import make_account, make_client, make_invoice
from .livebrowser import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, app_config, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

FIRST_LOAD_BUDGET = 60 * 1024


@pytest.fixture(scope="module")
def live(redis_server, mail_sink, tmp_path_factory):
    server = LiveServer(
        app_config(tmp_path_factory.mktemp("pwa"), redis_server.url, mail_sink.port, RATELIMIT_ENABLED=False)
    )
    yield server
    server.close()


def test_chromium_finds_the_app_installable(live, tmp_path, browser):
    # Installability is never granted in an off-the-record profile (Playwright's
    # new_context): the check needs a real profile on disk.
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        base_url=live.url,
        viewport=PHONE,
    )
    try:
        page = context.new_page()
        page.goto("/login")
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == live.url + "/"
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        parsed = json.loads(manifest["data"])
    finally:
        context.close()

    # The probe does report errors: the same page in an off-the-record context is refused.
    context = browser.new_context(base_url=live.url)
    try:
        page = context.new_page()
        page.goto("/login")
        errors = context.new_cdp_session(page).send("Page.getInstallabilityErrors")
        assert [e["errorId"] for e in errors["installabilityErrors"]] == ["in-incognito"]

        # What the store listing and the install dialog need.
        assert parsed["id"] == "/" and parsed["scope"] == "/" and parsed["display"] == "standalone"
        assert parsed["start_url"] == "/today"
        maskable = {i["sizes"] for i in parsed["icons"] if i.get("purpose") == "maskable"}
        assert {"192x192", "512x512"} <= maskable
        assert {s["form_factor"] for s in parsed["screenshots"]} == {"narrow", "wide"}
        for image in parsed["icons"] + parsed["screenshots"]:
            if image["type"] == "image/svg+xml":
                continue
            size = page.evaluate(
                """(src) => new Promise((ok, ko) => {
                     const i = new Image();
                     i.onload = () => ok(i.naturalWidth + 'x' + i.naturalHeight);
                     i.onerror = ko;
                     i.src = src;
                   })""",
                image["src"],
            )
            assert size == image["sizes"], image
    finally:
        context.close()


def test_static_urls_are_fingerprinted_cached_for_a_year_and_compressed(live):
    client = live.app.test_client()
    page = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    html = gzip.decompress(page.data).decode()
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert {"css/app.css", "js/app.js"} <= {urlsplit(u).path.removeprefix("/static/") for u in urls}
    for url in urls:
        parts = urlsplit(url.replace("&amp;", "&"))
        filename = parts.path.removeprefix("/static/")
        with live.app.app_context():
            assert parse_qs(parts.query)["v"] == [file_hash(filename)], url
        response = client.get(url.replace("&amp;", "&"), headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == LONG_CACHE, url
        if filename.endswith((".css", ".js")):
            assert response.headers["Content-Encoding"] == "gzip", url
        response.close()

    # Without the fingerprint, or with an old one: revalidate every time.
    for url in ("/static/css/app.css", "/static/css/app.css?v=0123456789"):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "no-cache", url
        response.close()

    # The service worker precaches exactly those URLs, in a cache named after the hashes.
    worker = client.get("/sw.js").get_data(as_text=True)
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", worker).group(1))
    css = next(u for u in urls if "/css/app.css" in u).replace("&amp;", "&")
    assert css in precache
    with live.app.app_context():
        from app.views.pwa import cache_version

        assert f'relance-static-{cache_version(precache)}"' in worker


def first_load(browser, url):
    """Bytes on the wire (CDP encodedDataLength) for each response of a first visit."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        urls, sizes, encodings = {}, {}, {}

        def sent(event):
            urls[event["requestId"]] = event["response"]["url"]
            headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
            encodings[event["requestId"]] = headers.get("content-encoding", "")

        cdp.on("Network.responseReceived", sent)
        cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
        page.goto(url, wait_until="load")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_load_state("networkidle")
        return {urls[i]: (sizes[i], encodings.get(i, "")) for i in sizes if i in urls}
    finally:
        context.close()


def test_first_page_load_is_at_most_60_kb(live, browser):
    loaded = first_load(browser, live.url + "/login")
    paths = {urlsplit(u).path: size for u, size in loaded.items()}
    assert {"/login", "/static/css/app.css", "/static/js/app.js"} <= set(paths), list(paths)
    for path, (_size, encoding) in paths.items():
        if path == "/login" or path.endswith((".css", ".js")):
            assert encoding == "gzip", (path, encoding)
    total = sum(size for size, _ in paths.values())
    report = ", ".join(f"{p} {s / 1024:.1f} KB" for p, (s, _) in sorted(paths.items()))
    print(f"first load of /login: {total / 1024:.1f} KB ({report})")
    assert total <= FIRST_LOAD_BUDGET, f"{total / 1024:.1f} KB > 60 KB: {report}"
    assert paths["/login"][0] <= 6 * 1024, "the login page's HTML alone is over 6 KB"


LAYOUT_SHIFTS = """() => {
  window.__shifts = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__shifts.push([entry.value, entry.hadRecentInput]);
  }).observe({type: 'layout-shift', buffered: true});
}"""


def test_htmx_swaps_do_not_shift_the_layout(live, browser):
    app = live.app
    with app.app_context():
        account = make_account(email="cls@pwa.test", timezone="Europe/Paris")
        client = make_client(account, name="Maple Leaf Design", email="ap@mapleleaf.test")
        invoice = make_invoice(account, client)
        email = Reminder(
            key=f"cls-{invoice.id}",
            account_id=account.id,
            client_id=client.id,
            invoice_id=invoice.id,
            kind="invoice",
            state="sending",
            recipient=client.email,
        )
        db.session.add(email)
        db.session.commit()
        invoice_id, email_id = invoice.id, email.id

    context = browser.new_context(base_url=live.url, viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/login")
        page.locator("input[name=email]").fill("cls@pwa.test")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form [type=submit]").first.click()
        page.wait_for_url("**/today")
        page.goto(f"/invoices/{invoice_id}")
        expect(page.locator("#email-status .spinner")).to_have_count(1)
        page.evaluate(LAYOUT_SHIFTS)
        page.wait_for_timeout(300)
        # The worker's outcome arrives: the polled status line swaps in place, with no input.
        with app.app_context():
            db.session.execute(
                update(Reminder).where(Reminder.id == email_id).values(state="sent", sent_at=clock.now())
            )
            db.session.commit()
        expect(page.locator("#email-status .status-line.ok")).to_be_visible()
        # Switches swap after a tap: the content may grow, the rest must not jump.
        page.get_by_role("switch").first.uncheck()
        page.locator("#invoice-reminders .why").wait_for()
        page.get_by_role("switch").first.check()
        expect(page.locator("#invoice-reminders .why")).to_have_count(0)
        page.wait_for_timeout(500)
        shifts = page.evaluate("window.__shifts")
    finally:
        context.close()
    unexpected = [value for value, after_input in shifts if not after_input]
    assert sum(unexpected) == 0, f"layout shifts without input: {shifts}"


CACHED_URLS = """() => caches.keys().then((names) => Promise.all(names.map((name) =>
    caches.open(name).then((cache) => cache.keys()).then((requests) => requests.map((r) => r.url))
))).then((lists) => lists.flat())"""


def test_service_worker_caches_static_files_and_the_offline_page_only(live, browser):
    with live.app.app_context():
        account = make_account(email="sw@pwa.test")
        make_invoice(account, make_client(account, name="Maple Leaf Design"))
    context = browser.new_context(base_url=live.url, viewport=PHONE)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/login")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.locator("input[name=email]").fill("sw@pwa.test")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form [type=submit]").first.click()
        page.wait_for_url("**/today")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        # Logged-in pages, and htmx answers (search as you type, a setting saved in place).
        for path in ("/today", "/invoices/", "/clients/", "/settings/reminders"):
            page.goto(path)
        page.get_by_role("radio", name=re.compile("^Gentle")).check()
        expect(page.locator(".saved-note")).to_be_visible()
        page.goto("/invoices/")
        with page.expect_response(lambda r: "q=Maple" in r.url and r.request.headers.get("hx-request")):
            page.locator("input[name=q]").fill("Maple")
        cached = page.evaluate(CACHED_URLS)
        offline = page.evaluate("caches.match('/offline').then((r) => r.text())")
    finally:
        context.close()
    paths = {urlsplit(url).path for url in cached}
    assert "/offline" in paths and "/static/css/app.css" in paths, paths
    assert all(p == "/offline" or p.startswith("/static/") for p in paths), paths
    assert "sw@pwa.test" not in offline
