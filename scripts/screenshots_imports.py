"""Screenshots of the import screens (issue 9) at 360 and 1280 px: the column mapping,
the dry run with wrong rows, the bank statement result, To review and Today's bank card.

    .venv/bin/python scripts/screenshots_imports.py [--out docs/screenshots]

Same set-up as scripts/screenshots.py (demo account on a fresh SQLite file, served
with werkzeug, real chromium), in English: the French catalogue gets these strings
when the lead regenerates it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from playwright.sync_api import sync_playwright  # noqa: E402
from screenshots import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_EMAIL,
    SINK,
    Server,
    build_app,
    log_in,
    set_language,
)
from sqlalchemy import select  # noqa: E402

from app.extensions import db  # noqa: E402
from app.models import Account, Invoice  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "imports"


def statement_for(app, folder: Path) -> Path:
    """A CSV statement built from the demo's open invoices: one payment with the same
    amount and the client's name, one with the amount only, one unknown."""
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == DEMO_EMAIL))
        open_invoices = [
            i
            for i in db.session.scalars(
                select(Invoice)
                .where(Invoice.account_id == account.id, Invoice.status == "sent")
                .order_by(Invoice.id)
            )
            if i.balance_cents > 0 and i.currency == account.currency
        ]
        first, second = open_invoices[0], open_invoices[1]
        lines = [
            "Date;Libellé;Montant;Contrepartie;Id",
            f"21/11/2026;VIR SEPA REGLEMENT;{first.balance_cents / 100:.2f}".replace(".", ",")
            + f";{first.client.name.upper()};TX-1",
            f"22/11/2026;VIR SEPA;{second.balance_cents / 100:.2f}".replace(".", ",")
            + ";M. DURAND PAUL;TX-2",
            "22/11/2026;VIR SEPA remboursement;42,00;CPAM;TX-3",
            "22/11/2026;PRLV Assurance pro;-45,00;AXA;TX-4",
        ]
    path = folder / "releve-novembre.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoices_file(folder: Path) -> Path:
    content = (FIXTURES / "invoices_fr_semicolon_cp1252.csv").read_bytes().decode("cp1252")
    content += "F-2026-105;Menuiserie Roux;roux@example;31/11/2026;31/12/2026;2 400,00;;EUR;Envoyée\r\n"
    content += "F-2026-106;;;12/11/2026;12/12/2026;abc;;EUR;Envoyée\r\n"
    path = folder / "export-factures.csv"
    path.write_bytes(content.encode("cp1252"))
    return path


def shoot(page, out: Path, name: str, width: int) -> Path:
    page.evaluate("document.activeElement && document.activeElement.blur()")
    target = out / f"{name}-{width}.png"
    page.screenshot(path=str(target), full_page=True, animations="disabled", caret="hide")
    return target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    SINK.start()
    saved = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            app, _ids = build_app(folder)
            set_language(app, DEMO_EMAIL, "en")
            invoices_csv = invoices_file(folder)
            statement_csv = statement_for(app, folder)
            with Server(app) as server, sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", *CHROMIUM_ARGS]
                )
                statement_page = None
                for width, height in ((360, 780), (1280, 800)):
                    context = browser.new_context(
                        viewport={"width": width, "height": height},
                        locale="en-GB",
                        timezone_id="Europe/Paris",
                        service_workers="block",
                    )
                    page = context.new_page()
                    log_in(page, server.url, DEMO_EMAIL)
                    page.goto(f"{server.url}/imports/")
                    page.set_input_files("#file-invoices", str(invoices_csv))
                    page.click("#upload-invoices button[type=submit]")
                    page.wait_for_url("**/mapping")
                    saved.append(shoot(page, out, "import-mapping", width))
                    page.check("input[name=already_emailed]")
                    page.click("form button[type=submit]")
                    page.wait_for_url("**/preview")
                    saved.append(shoot(page, out, "import-dry-run", width))
                    page.goto(f"{server.url}/imports/")
                    page.set_input_files("#file-statement", str(statement_csv))
                    page.click("#upload-statement button[type=submit]")
                    page.wait_for_url("**/mapping")
                    page.click("form button[type=submit]")
                    page.wait_for_url("**/imports/*")
                    statement_page = statement_page or page.url  # the first import shows its lines
                    page.goto(statement_page)
                    saved.append(shoot(page, out, "import-statement", width))
                    page.goto(f"{server.url}/imports/review")
                    saved.append(shoot(page, out, "import-review", width))
                    page.goto(f"{server.url}/today")
                    page.locator("#bank-status").scroll_into_view_if_needed()
                    target = out / f"today-bank-{width}.png"
                    page.locator("#bank-status").screenshot(path=str(target), animations="disabled")
                    saved.append(target)
                    context.close()
                browser.close()
    finally:
        SINK.stop()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
