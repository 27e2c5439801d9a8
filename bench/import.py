"""Benchmark of the invoice CSV import: the app's worker path vs a minimal baseline.

    .venv/bin/python bench/import.py --rows 50000

Writes a French-style CSV (semicolon, Windows-1252, ``1 234,56`` amounts,
``23/11/2026`` dates, 500 clients) of N rows, then, each in its own subprocess
(so the peak RSS is per variant) on a fresh SQLite file:

* engine:   the app's import as the RQ worker runs it (``app.imports.tasks.execute``:
  file read from the ImportFile row, every row checked, then streamed in chunks of
  1,000 rows, each chunk committed with the progress) — clients created, invoices
  inserted, reminders to be planned (``next_reminder_at``);
* baseline: ``csv.reader`` over the decoded file, the same amount and date parsing
  reduced to a few string operations, one ``executemany`` INSERT into a table with
  the same columns, one commit — no checks, no clients, no idempotence.

Prints rows/s and peak RSS of each. Targets (issue 9): >= 5,000 rows/s and <= 200 MB.
Not a test: no time limits.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb, run_child  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="cp1252", newline="") as out:
        out.write("Numéro;Client;E-mail;Date d'émission;Échéance;Montant TTC;Déjà payé;Statut\r\n")
        for n in range(rows):
            client = n % 500
            paid = f"{(n % 7) * 10},00" if n % 5 == 0 else ""
            out.write(
                f"F-{n:06d};Client Bénéfique {client};compta{client}@example.com;"
                f"{1 + n % 28:02d}/10/2026;{1 + n % 28:02d}/11/2026;"
                f"{1 + n % 9} {n % 1000:03d},{n % 100:02d};{paid};Envoyée\r\n"
            )


def engine(csv_path: str, db_path: str) -> dict:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    from app import create_app
    from app.extensions import db
    from app.imports import invoices as invoice_import
    from app.imports import tasks
    from app.models import Account, Invoice

    app = create_app({"RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
        account = Account(email="bench@example.com", business_name="Bench", password_hash="x")
        db.session.add(account)
        db.session.commit()
        content = Path(csv_path).read_bytes()
        header_line = content.split(b"\r\n", 1)[0].decode("cp1252").split(";")
        import_file = invoice_import.store(account, "bench.csv", content)
        import_file.mapping = json.dumps(invoice_import.guess_mapping(header_line))
        import_file.already_emailed = True
        import_file.state = "queued"
        db.session.commit()
        import_id = import_file.id
        db.session.remove()
        del content, import_file, account
        start, cpu = time.perf_counter(), time.process_time()
        outcome = tasks.execute(import_id)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        count = db.session.scalar(db.select(db.func.count(Invoice.id)))
    return {"outcome": outcome, "rows": count, "seconds": elapsed, "cpu": cpu, "peak_mb": peak_rss_mb()}


def idle(csv_path: str, db_path: str) -> dict:
    """The app loaded, tables created, nothing imported: the RSS floor of any worker."""
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    from app import create_app
    from app.extensions import db

    app = create_app({"RATELIMIT_STORAGE_URI": "memory://", "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
    return {"rows": 0, "seconds": 0, "cpu": 0, "peak_mb": peak_rss_mb()}


def baseline(csv_path: str, db_path: str) -> dict:
    import csv
    import io
    from datetime import date

    connection = sqlite3.connect(db_path)
    connection.execute(
        "CREATE TABLE invoice (id INTEGER PRIMARY KEY, number TEXT, client TEXT, email TEXT, "
        "issued_on TEXT, due_on TEXT, total_cents INTEGER, paid_cents INTEGER, status TEXT)"
    )
    start, cpu = time.perf_counter(), time.process_time()
    text = Path(csv_path).read_bytes().decode("cp1252")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    next(rows)

    def cents(value):
        if not value:
            return 0
        whole, _, frac = value.replace(" ", "").partition(",")
        return int(whole) * 100 + int((frac + "00")[:2])

    def day(value):
        d, m, y = value.split("/")
        return date(int(y), int(m), int(d)).isoformat()

    values = [(r[0], r[1], r[2], day(r[3]), day(r[4]), cents(r[5]), cents(r[6]), "sent") for r in rows]
    connection.executemany(
        "INSERT INTO invoice (number, client, email, issued_on, due_on, total_cents, paid_cents, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    connection.commit()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    count = connection.execute("SELECT count(*) FROM invoice").fetchone()[0]
    return {"rows": count, "seconds": elapsed, "cpu": cpu, "peak_mb": peak_rss_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--child", choices=("engine", "baseline", "idle"))
    parser.add_argument("--csv")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        result = {"engine": engine, "baseline": baseline, "idle": idle}[args.child](args.csv, args.db)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="relance-bench-import-") as folder:
        csv_path = Path(folder) / "invoices.csv"
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1024 / 1024
        results = {}
        for variant in ("idle", "baseline", "engine"):
            db_path = Path(folder) / f"{variant}.db"
            results[variant] = run_child(
                [__file__, "--child", variant, "--csv", str(csv_path), "--db", str(db_path)]
            )
    print(machine())
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows} rows, file {size_mb:.1f} MB")
    print(f"idle app (loaded, nothing imported): peak RSS {results['idle']['peak_mb']:.0f} MB")
    for variant in ("baseline", "engine"):
        r = results[variant]
        rate = r["rows"] / r["seconds"]
        print(
            f"{variant:9} {r['rows']:>7} rows in {r['seconds']:6.2f} s = {rate:8.0f} rows/s "
            f"(CPU {r['cpu']:.2f} s = {r['rows'] / r['cpu']:.0f} rows per CPU-second), "
            f"peak RSS {r['peak_mb']:.0f} MB"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
