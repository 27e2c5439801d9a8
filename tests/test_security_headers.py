"""Headers and policy on every response (issue 14, point 3).

Every GET route of ``url_map`` (logged in on the demo account, with real ids; the
visitors' pages logged out) carries the security headers; every HTML answer has the
Content-Security-Policy, which allows no inline script or style; and no web page or
htmx fragment holds an inline script, ``on*=`` handler, ``hx-on`` attribute,
``style`` attribute or ``<style>`` block that this policy would silently break.
Cookies are Secure whenever the request is HTTPS, directly or through the trusted
proxy. The client's public page is never cached, indexed or sent as a Referer.

Then in Debian's chromium: the main pages raise no CSP violation, and htmx, the
service worker and the manifest still work under the policy.
"""

from __future__ import annotations

import io
import re
from datetime import date
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from app import clock, create_app
from app.demo import create_demo
from app.extensions import db, limiter
from app.headers import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY
from app.models import Account, Client, ImportFile, Invoice, Payment, RateOverride, ReminderBatch

from .conftest import PASSWORD, _make_app
from .livebrowser import NARROW, LiveServer, app_config, needs_chromium

DEMO_EMAIL = "headers@example.com"
FIXTURES = Path(__file__).parent / "fixtures" / "imports"
PUBLIC = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
# Development only (not served in production): the HTML part of a caught email, shown
# in a sandboxed frame of the outbox page with the inline styles mail clients read.
EMAIL_FRAME = "dev.outbox_message_html"


def _rules():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    return sorted(
        (rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "auth.logout"
    )


@pytest.fixture(scope="module")
def world(redis_server, mail_sink, tmp_path_factory):
    """The demo account with an import, a "Remind all" batch, a client's page and a
    caught email; a client logged in as its owner and one logged out."""
    tmp = tmp_path_factory.mktemp("headers")
    app = _make_app(f"sqlite:///{tmp / 'headers.db'}", redis_server, mail_sink, tmp)
    app.instance_path = str(tmp)  # the dev outbox reads <instance>/outbox
    limiter.enabled = False
    with app.app_context():
        db.create_all()
        create_demo(DEMO_EMAIL, PASSWORD)
        account = db.session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
        account.language = "en"
        db.session.add(ReminderBatch(key="headers-batch", account_id=account.id, state="done"))
        # An owner's own rate: the fee settings show its "Use the shipped rate" form.
        db.session.add(
            RateOverride(account_id=account.id, series="fr_ecb", starts_on=date(2026, 7, 1), rate_bp=215)
        )
        db.session.commit()
        account_id = account.id
    owner = app.test_client()
    owner.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert owner.form("/login", {"email": DEMO_EMAIL, "password": PASSWORD}).status_code == 302
    upload = owner.post(
        "/imports/upload?kind=invoices",
        data={
            "csrf_token": owner.csrf_token(),
            "file": (io.BytesIO((FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes()), "i.csv"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302, upload.get_data(as_text=True)

    _caught_email(tmp)

    with app.app_context():
        account = db.session.get(Account, account_id)
        payment = db.session.scalar(
            select(Payment).join(Invoice).where(Invoice.account_id == account.id).limit(1)
        )
        invoice = _public_invoice(account)
        assert payment and invoice, "the demo has payments and a client's page"
        from app.verification import token_for
        from app.views.auth import reset_token, signin_token

        from .factories import make_account

        reset = reset_token(account)
        # The confirmation link of an owner who has not followed it yet (issue 14).
        verify = token_for(make_account(email="unconfirmed@example.com", email_verified_at=None))
        # The emailed links' pages: a sign-in link of the owner, a new account's confirmation.
        signin = signin_token(account, "signin")
        confirm = signin_token(make_account("new@example.com", email_verified_at=None), "confirm")
        args = {
            "client_id": db.session.scalar(select(Client.id).where(Client.account_id == account.id)),
            "invoice_id": payment.invoice_id,
            "payment_id": payment.id,
            "import_id": db.session.scalar(select(ImportFile.id).where(ImportFile.account_id == account.id)),
            "batch_id": db.session.scalar(select(ReminderBatch.id)),
            "message_id": "20261123-1",
            "token": invoice.public_token,
            "reset": reset,
            "verify": verify,
            "signin": signin,
            "confirm": confirm,
            "kind": "level1",
            "channel": "email",
            "language": "en",
            "filename": "css/app.css",
        }
    visitor = app.test_client()
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    yield {"app": app, "owner": owner, "visitor": visitor, "args": args}
    limiter.enabled = True
    clock.set_now(None)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _caught_email(instance):
    """A message in the development outbox, with the inline styles emails have."""
    outbox = Path(instance) / "outbox"
    outbox.mkdir()
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Reminder", "a@example.com", "b@example.com"
    message.set_content("Hello")
    message.add_alternative('<p style="color:#1f4e5f">Hello</p>', subtype="html")
    (outbox / "20261123-1.eml").write_bytes(message.as_bytes())


def _public_invoice(account):
    """An invoice of ``account`` whose client's page is on and still takes answers."""
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.account_id == account.id, Invoice.public_token.is_not(None))
    )
    return next(i for i in invoices if i.status == "sent" and i.balance_cents > 0)


_ARG = re.compile(r"<(?:\w+:)?(\w+)>")


# What some pages need besides their path; "/" only redirects (to /today or /login).
QUERIES = {"collect.compose": "?invoice={invoice_id}"}
REDIRECTS = {"home.root"}


def _url(rule, endpoint, args):
    if endpoint == "auth.reset_password":
        args = dict(args, token=args["reset"])
    if endpoint == "verify.confirm":
        args = dict(args, token=args["verify"])
    if endpoint == "auth.signin_link":
        args = dict(args, token=args["signin"])
    if endpoint == "auth.confirm_email":
        args = dict(args, token=args["confirm"])
    return _ARG.sub(lambda m: str(args[m.group(1)]), rule) + QUERIES.get(endpoint, "").format(**args)


class Inline(HTMLParser):
    """What a policy without 'unsafe-inline' refuses: inline scripts, event handler
    and hx-on attributes, javascript: URLs, style attributes and <style> blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on") or name == "style":
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not dict(attrs).get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")


def inline_code(html: str) -> list[str]:
    parser = Inline()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_policy_headers(response, url):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff", url
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer"), url
    assert headers["Permissions-Policy"] == PERMISSIONS_POLICY, url
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN"), url


@pytest.mark.parametrize(("rule", "endpoint"), _rules(), ids=[r for r, _ in _rules()])
def test_every_page_has_the_headers_and_no_inline_code(world, rule, endpoint):
    browser = world["visitor"] if endpoint.startswith("auth.") else world["owner"]
    url = _url(rule, endpoint, world["args"])
    response = browser.get(url)
    response.close()
    assert response.status_code == (302 if endpoint in REDIRECTS else 200), (url, response.status_code)
    assert_policy_headers(response, url)
    if endpoint == EMAIL_FRAME:
        policy = response.headers["Content-Security-Policy"]
        assert "sandbox" in policy and "frame-ancestors 'self'" in policy and "script-src" not in policy
        assert "default-src 'none'" in policy
        return
    if response.mimetype != "text/html":
        return
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY", url
    assert not inline_code(response.get_data(as_text=True)), url
    if endpoint == "pay.fee_settings":
        assert "Use the shipped rate" in response.get_data(as_text=True)
    # The fragment an htmx request gets is checked too.
    fragment = browser.get(url, headers={"HX-Request": "true"})
    assert fragment.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    assert not inline_code(fragment.get_data(as_text=True)), f"{url} (htmx)"


def test_the_checker_sees_inline_code():
    assert inline_code('<p style="color:red" onclick="x()">a</p><script>b()</script>') == [
        "<p style='color:red'>",
        "<p onclick='x()'>",
        "<script> without src",
    ]
    assert inline_code('<a href=" JavaScript:alert(1)">x</a><style>p{}</style><b hx-on:click="y">') == [
        "<a href=' JavaScript:alert(1)'>",
        "<style>",
        "<b hx-on:click='y'>",
    ]
    assert inline_code('<script src="/static/js/app.js" defer></script><p class="x">') == []


def test_error_pages_and_form_errors_have_the_policy(world):
    owner = world["owner"]
    for response in (
        owner.get("/nowhere"),
        owner.get("/invoices/999999"),
        owner.form("/clients/new", {"name": ""}),
        owner.post("/clients/new", data={}),  # no CSRF token: 400
    ):
        assert response.status_code in (400, 404, 422), response.status_code
        assert_policy_headers(response, response.request.path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert not inline_code(response.get_data(as_text=True))


def test_the_dev_outbox_shows_the_html_in_a_framed_sandbox(world):
    page = world["owner"].get("/dev/outbox/20261123-1").get_data(as_text=True)
    assert 'sandbox="" src="/dev/outbox/20261123-1/html"' in page
    frame = world["owner"].get("/dev/outbox/20261123-1/html")
    assert frame.get_data(as_text=True).startswith('<p style="color:#1f4e5f">Hello</p>')
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert world["owner"].get("/dev/outbox/..%2Fx/html").status_code == 404


# --- The client's public page -------------------------------------------------------------


def test_the_clients_page_is_not_cached_indexed_or_referred(world):
    visitor, token = world["app"].test_client(), world["args"]["token"]
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    responses = {
        "page": visitor.get(f"/p/{token}"),
        "pdf": visitor.get(f"/p/{token}/invoice.pdf"),
        "wrong link": visitor.get("/p/not-a-real-token"),
        "form error": visitor.form(f"/p/{token}", {"kind": "promise", "promised_on": ""}),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 404, 422]
    for what, response in responses.items():
        for name, value in PUBLIC.items():
            assert response.headers[name] == value, (what, name)
        assert_policy_headers(response, what)
        if response.mimetype == "text/html":
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, what
            assert not inline_code(response.get_data(as_text=True)), what
    assert responses["pdf"].mimetype == "application/pdf"


# --- Secure cookies ---------------------------------------------------------------------------


def _cookies(response) -> dict[str, list[str]]:
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        found[name] = [part.strip().lower() for part in header.split(";")[1:]]
    return found


def _login(client, referer=None, headers=(), **kwargs):
    """Log in with "Keep me logged in"; over HTTPS, Flask-WTF also wants a same-site
    Referer (as a browser sends)."""
    headers = dict(headers, **({"Referer": referer} if referer else {}))
    page = client.get("/login", headers=headers, **kwargs).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    return client.post(
        "/login",
        data={"email": "owner@example.com", "password": PASSWORD, "remember": "y", "csrf_token": token},
        headers=headers,
        **kwargs,
    )


def test_cookies_are_secure_over_https(app, client, auth):
    auth.register()
    auth.logout()
    response = _login(client, "https://relance.localhost/login", base_url="https://relance.localhost")
    assert response.status_code == 302
    cookies = _cookies(response)
    assert {"session", "remember_token"} <= set(cookies)
    for name, attributes in cookies.items():
        assert "secure" in attributes, name
        assert "httponly" in attributes, name


def test_cookies_over_plain_http_stay_usable(app, client, auth):
    auth.register()
    auth.logout()
    response = _login(client)
    cookies = _cookies(response)
    assert {"session", "remember_token"} <= set(cookies)
    assert not any("secure" in attributes for attributes in cookies.values())
    assert client.get("/today").status_code == 200  # the dev server over HTTP still logs in


@pytest.mark.parametrize("proxies", [1, 0])
def test_cookies_behind_the_trusted_proxy(redis_server, mail_sink, tmp_path, proxies):
    """X-Forwarded-Proto counts only from the proxy RELANCE_PROXIES trusts."""
    app = create_app(
        {
            **app_config(tmp_path, redis_server.url, mail_sink.port),
            "RELANCE_PROXIES": proxies,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        from .factories import make_account

        make_account("owner@example.com")
    client = app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    response = _login(client, "https://localhost/login", headers=forwarded)
    assert response.status_code == 302
    cookies = _cookies(response)
    assert {"session", "remember_token"} <= set(cookies)
    for name, attributes in cookies.items():
        assert ("secure" in attributes) == bool(proxies), name
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_cookie_already_secure_is_left_alone():
    from app.headers import _secure

    assert _secure("a=1; Path=/; Secure") == "a=1; Path=/; Secure"
    assert _secure("a=secure; Path=/") == "a=secure; Path=/; Secure"


# --- In a real browser -------------------------------------------------------------------------

BROWSER_PAGES = [
    "/today",
    "/invoices/",
    "/invoices/{invoice}",
    "/clients/{client}",
    "/settings/",
    "/settings/fees",
    "/settings/templates",
    "/settings/templates/level1/email/en",
    "/imports/",
    "/imports/{import_id}/mapping",
    "/p/{token}",
    "/offline",
    "/dev/outbox/20261123-1",
]

# Reported by chromium's console when a policy refuses something, or a header is wrong.
_POLICY_WORDS = re.compile(
    r"Content Security Policy|Permissions-Policy|Permissions policy|Unrecognized feature"
)

WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(
    [event.violatedDirective, event.blockedURI || "inline", event.sourceFile, event.lineNumber].join(" "));
});
"""


@pytest.fixture(scope="module")
def live_app(redis_server, mail_sink, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csp-browser")
    server = LiveServer(app_config(tmp, redis_server.url, mail_sink.port))
    server.app.instance_path = str(tmp)
    _caught_email(tmp)
    with server.app.app_context():
        create_demo(DEMO_EMAIL, PASSWORD)
        account = db.session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
        account.language = "en"
        csv = (FIXTURES / "invoices_en_comma_utf8_bom.csv").read_bytes()
        db.session.add(ImportFile(account_id=account.id, filename="i.csv", content=csv, size=len(csv)))
        db.session.commit()
    yield server.app
    server.close()


@pytest.mark.browser
@needs_chromium
def test_no_policy_violation_in_chromium_and_htmx_still_works(browser, live_app):
    context = browser.new_context(
        viewport=NARROW, locale="en-US", timezone_id="Europe/Paris", base_url=live_app.config["LIVE_URL"]
    )
    context.set_default_timeout(10_000)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    console, errors = [], []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/login")
        page.fill("input[name=email]", DEMO_EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("form input[type=submit]")
        page.wait_for_url(re.compile(r"/today$"))
        with live_app.app_context():
            account = db.session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
            invoice = _public_invoice(account)
            import_id = db.session.scalar(select(ImportFile.id).where(ImportFile.account_id == account.id))
            ids = {
                "invoice": invoice.id,
                "client": invoice.client_id,
                "token": invoice.public_token,
                "import_id": import_id,
            }
        for path in BROWSER_PAGES:
            url = path.format(**ids)
            response = page.goto(url)
            assert response.ok, url
            assert "script-src 'self'" in response.headers["content-security-policy"], url
            page.wait_for_load_state("load")
            violations = page.evaluate("window.__violations")
            assert not violations, f"{url}: {violations}"
        # htmx under the policy: the template editor's live preview follows the text.
        page.goto("/settings/templates/level1/email/en")
        page.locator("textarea[name=body]").fill("Checked by the policy test, {{ client_name }}.")
        preview = page.locator("#template-preview .preview-body").first
        preview.filter(has_text="Checked by the policy test").wait_for()
        # and the invoice search swaps the list.
        page.goto("/invoices/")
        assert page.locator("#invoice-list a.row").count() > 0
        page.locator("input[name=q]").fill("zzz-no-such-invoice")
        page.wait_for_url(re.compile(r"q=zzz-no-such-invoice"))
        page.wait_for_function("() => !document.querySelector('#invoice-list a.row')")
        assert not page.evaluate("window.__violations")

        # The service worker registers and the manifest loads under the policy.
        page.goto("/today")
        scope = page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == live_app.config["LIVE_URL"] + "/"
        manifest = context.new_cdp_session(page).send("Page.getAppManifest")
        assert not manifest["errors"] and '"name": "Relance"' in manifest["data"], manifest
        assert page.evaluate("window.__violations") == []
        seen = list(console)

        # The policy is live, not only sent: a script or a style attribute slipped into
        # a page is refused.
        page.evaluate(
            """() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                       document.body.appendChild(s);
                       document.querySelector('main').setAttribute('style', 'display: none'); }"""
        )
        page.wait_for_function("() => window.__violations.length >= 2")
        directives = " ".join(page.evaluate("window.__violations"))
        assert "script-src-elem" in directives and "style-src-attr" in directives, directives
        assert page.evaluate("window.__ran") is None
        assert page.locator("main").is_visible()
    finally:
        context.close()
    refused = [line for line in seen if _POLICY_WORDS.search(line)]
    assert not refused, refused
    assert not errors, errors
