"""Screenshots of the main screens at phone and desktop widths, for docs/screenshots/.

    .venv/bin/python scripts/screenshots.py            # the committed set (~60 PNGs)
    .venv/bin/python scripts/screenshots.py --all --out /tmp/shots   # every screen, both languages

It builds the app on a fresh SQLite database in a temporary folder, loads the
demo account (French) plus a client with a very long name, serves the app on
a free 127.0.0.1 port with werkzeug, logs in through the real login form with
Playwright driving Debian's chromium, and saves full-page PNGs named
``<screen>[-en][-dark]-<width>.png``, at 390 and 1280 px wide, in light and in dark
mode (``prefers-color-scheme``). It also writes the two screenshots the web app
manifest shows in the install dialog (static/screenshots/today-narrow.png and
today-wide.png, the viewport only). No Redis or SMTP server is needed: rate limits
are off and nothing is sent.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import clock, create_app, invoicing  # noqa: E402
from app.demo import create_demo  # noqa: E402
from app.extensions import db  # noqa: E402
from app.mailsink import MailSink  # noqa: E402
from app.models import Account, Client, Invoice  # noqa: E402
from app.reminders.dispatch import tick  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DEMO_EMAIL = "demo@relance.test"
DEMO_PASSWORD = "demo-password"
EMPTY_EMAIL = "new@relance.test"
LONG_NAME = "Société Coopérative d'Intérêt Collectif des Artisans Réunis du Grand Est"
WIDTHS = {390: 844, 1280: 800}
SCHEMES = ("light", "dark")
MANIFEST_SHOTS = ROOT / "static" / "screenshots"
# Chromium writes the fields of <input type="date"> in its own UI language, not the
# page's: it needs its translations (Debian package chromium-l10n) and LANGUAGE set.
CHROMIUM_LOCALES = Path("/usr/lib/chromium/locales")

# name, path (formatted with the ids found in the database), public page?
SCREENS = [
    ("login", "/login", True),
    ("register", "/register", True),
    ("today", "/today", False),
    ("invoices", "/invoices/?tab=all", False),
    ("invoices-overdue", "/invoices/?tab=overdue", False),
    ("invoice-detail", "/invoices/{partial_invoice}", False),
    ("invoice-new", "/invoices/new", False),
    ("clients", "/clients/", False),
    ("client-detail", "/clients/{long_client}", False),
    ("settings", "/settings/", False),
    ("profile", "/settings/profile", False),
    ("account", "/settings/account", False),  # --all only
    ("reminders", "/settings/reminders", False),
    ("templates", "/settings/templates", False),
    ("imports", "/imports/", False),
    ("remind-all", "/collect/batch", False),
    ("send-email", "/invoices/{partial_invoice}/email", False),
    ("templates", "/settings/templates", False),
    ("template-edit", "/settings/templates/level4/letter/fr", False),
]
# The committed English set: a few screens at phone width only.
ENGLISH_SUBSET = {"login", "today", "invoice-detail"}


def launch(pw, language: str):
    """Chromium speaking ``language`` (fr, en): date fields read 23/11/2026 in French."""
    if language != "en" and not (CHROMIUM_LOCALES / f"{language}.pak").exists():
        print("  ! chromium-l10n is missing: date fields will read the US way (mm/dd/yyyy)")
    env = {**os.environ, "LANGUAGE": language, "LANG": "fr_FR.UTF-8" if language == "fr" else "en_US.UTF-8"}
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [f"--lang={language}"], env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SINK = MailSink()


def build_app(folder: Path):
    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'relance.db'}",
            "RATELIMIT_ENABLED": False,
            # A local sink: the engine's first pass really sends, so timelines show it.
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": SINK.port,
            "MAIL_TIMEOUT": 2,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        }
    )
    with app.app_context():
        db.create_all()
        create_demo(DEMO_EMAIL, DEMO_PASSWORD)
        account = db.session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
        # A long client name, to see how rows and headings cope.
        client = Client(
            account=account,
            name=LONG_NAME,
            email="comptabilite.fournisseurs@scic-artisans-reunis-grand-est.test",
            language="fr",
            country="FR",
            kind="business",
            address="Zone artisanale des Trois Fontaines\n4 allée des Tanneurs\n67000 Strasbourg",
            notes="Paie toujours à 45 jours fin de mois. Demander Mme Keller au service comptable.",
        )
        db.session.add(client)
        db.session.flush()
        today = clock.today(account.timezone)
        invoice = Invoice(
            account_id=account.id,
            client=client,
            number=f"F-{today.year}-015",
            issued_on=today - timedelta(days=38),
            due_on=today - timedelta(days=8),
            terms_days=30,
            currency="EUR",
            status="draft",
            total_cents=1_234_567,
        )
        db.session.add(invoice)
        invoicing.log(invoice, "invoice_created")
        invoicing.mark_sent(invoice, "post", clock.now() - timedelta(days=38))
        # An account with nothing yet: the empty states.
        empty = Account(
            email=EMPTY_EMAIL, business_name="Atelier Neuf", language="fr", email_verified_at=clock.now()
        )
        empty.set_password(DEMO_PASSWORD)
        db.session.add(empty)
        db.session.commit()

        partial = next(
            inv
            for inv in db.session.scalars(
                select(Invoice).where(Invoice.account_id == account.id).order_by(Invoice.id)
            )
            if inv.status == "sent" and inv.paid_cents > 0 and inv.balance_cents > 0 and inv.is_overdue
        )
        ids = {"partial_invoice": partial.id, "long_client": client.id}
        tick(inline=True)
    return app, ids


def set_language(app, email: str, language: str) -> None:
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == email))
        account.language = language
        db.session.commit()


class Server:
    def __init__(self, app):
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(f"{base}/today")


def shoot(browser, base, out, ids, *, locale, suffix, widths, screens, email=DEMO_EMAIL, schemes=SCHEMES):
    saved = []
    for width in widths:
        for scheme in schemes:
            saved += shoot_one(
                browser,
                base,
                out,
                ids,
                locale=locale,
                width=width,
                scheme=scheme,
                screens=screens,
                email=email,
                suffix=suffix + ("-dark" if scheme == "dark" else ""),
            )
    return saved


def manifest_shots(browser, base, email=DEMO_EMAIL):
    """Today, viewport only, at the sizes the manifest declares (390x844 and 1280x800)."""
    MANIFEST_SHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, form in ((390, "narrow"), (1280, "wide")):
        context = browser.new_context(
            viewport={"width": width, "height": WIDTHS[width]},
            locale="fr-FR",
            timezone_id="Europe/Paris",
            service_workers="block",
            device_scale_factor=1,
        )
        page = context.new_page()
        log_in(page, base, email)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        target = MANIFEST_SHOTS / f"today-{form}.png"
        page.screenshot(path=str(target), animations="disabled", caret="hide")
        saved.append(target)
        context.close()
    return saved


def shoot_one(browser, base, out, ids, *, locale, suffix, width, scheme, screens, email):
    saved = []
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]},
        locale=locale,
        timezone_id="Europe/Paris",
        service_workers="block",
        device_scale_factor=1,
        color_scheme=scheme,
    )
    page = context.new_page()
    logged_in = False
    for name, path, public in SCREENS:
        if name not in screens:
            continue
        if not public and not logged_in:
            log_in(page, base, email)
            logged_in = True
        page.goto(base + path.format(**ids))
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            print(f"  ! {name} at {width}px scrolls sideways by {overflow}px")
        target = out / f"{name}{suffix}-{width}.png"
        # Grow the viewport to the whole page rather than using full_page=True, so
        # the fixed navigation and the sticky form buttons sit where a reader
        # expects them (bottom/side of the page), not in the middle of it.
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": width, "height": max(height, WIDTHS[width])})
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=str(target), animations="disabled", caret="hide")
        page.set_viewport_size({"width": width, "height": WIDTHS[width]})
        saved.append(target)
    context.close()
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--all", action="store_true", help="every screen in both languages and widths")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    all_screens = {name for name, _, _ in SCREENS}
    committed = all_screens - {"account"}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    SINK.start()
    with tempfile.TemporaryDirectory(prefix="relance-shots-") as folder:
        app, ids = build_app(Path(folder))
        with Server(app) as server, sync_playwright() as pw:
            browser = launch(pw, "fr")
            saved = shoot(
                browser,
                server.url,
                args.out,
                ids,
                locale="fr-FR",
                suffix="",
                widths=list(WIDTHS),
                screens=all_screens if args.all else committed,
            )
            saved += manifest_shots(browser, server.url)
            # Empty states: an account with no client and no invoice (phone only).
            saved += shoot(
                browser,
                server.url,
                args.out,
                ids,
                locale="fr-FR",
                suffix="-empty",
                widths=[390],
                schemes=("light",),
                screens={"today", "invoices", "clients"},
                email=EMPTY_EMAIL,
            )
            browser.close()
            browser = launch(pw, "en")
            set_language(app, DEMO_EMAIL, "en")
            saved += shoot(
                browser,
                server.url,
                args.out,
                ids,
                locale="en-US",
                suffix="-en",
                widths=list(WIDTHS) if args.all else [390],
                schemes=SCHEMES if args.all else ("light",),
                screens=all_screens if args.all else ENGLISH_SUBSET,
            )
            browser.close()
    SINK.stop()
    total = sum(p.stat().st_size for p in saved)
    print(f"{len(saved)} screenshots, {total // 1024} KB, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
