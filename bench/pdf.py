"""Benchmark of the invoice PDFs: drawing one (WeasyPrint) vs reading it back from
the database cache (DESIGN.md rule 8), on a fresh SQLite file.

    .venv/bin/python bench/pdf.py --invoices 30

For N invoices of 3 lines each: the first draw in the process (WeasyPrint import
and fonts), then the time to draw each invoice's stamped reminder PDF (cache
miss), then the time to get the same PDFs again (cache hit: one SELECT). Prints
the milliseconds per PDF and the ratio miss / hit. Not a test: no time limits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="relance-bench-pdf-") as folder:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'bench.db'}"
        from app import clock, create_app
        from app.documents.pdf import invoice_pdf
        from app.extensions import db
        from app.models import Account, Client, Invoice, InvoiceLine

        app = create_app({"RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench"})
        clock.set_now(datetime(2026, 11, 23, 10, tzinfo=UTC))
        with app.app_context():
            db.create_all()
            account = Account(
                email="bench@example.com",
                business_name="Studio Bench",
                password_hash="x",
                address="12 rue des Lilas\n75011 Paris",
                iban="FR7630006000011234567890189",
            )
            db.session.add(account)
            db.session.flush()
            client = Client(account_id=account.id, name="Client", language="fr", address="1 place\nLyon")
            db.session.add(client)
            db.session.flush()
            invoices = []
            for n in range(args.invoices):
                invoice = Invoice(
                    account_id=account.id,
                    client_id=client.id,
                    number=f"F-2026-{n:04d}",
                    issued_on=date(2026, 9, 1),
                    due_on=date(2026, 10, 1),
                    total_cents=180_000,
                    status="sent",
                    sent_via="email_relance",
                    sent_at=datetime(2026, 9, 1, 9, tzinfo=UTC),
                )
                invoice.lines = [
                    InvoiceLine(position=i, description=f"L{i}", unit_price_cents=50_000) for i in range(3)
                ]
                db.session.add(invoice)
                invoices.append(invoice)
            db.session.commit()
            started = time.perf_counter()
            invoice_pdf(invoices[0], level=1)
            db.session.commit()
            first = time.perf_counter() - started
            misses, hits = [], []
            for invoice in invoices[1:]:
                started = time.perf_counter()
                invoice_pdf(invoice, level=1)
                db.session.commit()
                misses.append(time.perf_counter() - started)
            for invoice in invoices[1:]:
                started = time.perf_counter()
                invoice_pdf(invoice, level=1)
                db.session.commit()
                hits.append(time.perf_counter() - started)
        miss, hit = statistics.median(misses), statistics.median(hits)
        print(f"machine: {machine()}")
        print(f"first PDF in the process (import, fonts): {first * 1000:.0f} ms")
        print(f"drawn (cache miss), median of {len(misses)}: {miss * 1000:.1f} ms")
        print(f"read back (cache hit), median of {len(hits)}: {hit * 1000:.2f} ms")
        print(f"ratio miss / hit: {miss / hit:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
