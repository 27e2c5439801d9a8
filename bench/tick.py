"""Benchmark of the tick's planning: the engine vs a minimal hand-written version.

    .venv/bin/python bench/tick.py --invoices 100000
    .venv/bin/python bench/tick.py --invoices 1000000
    .venv/bin/python bench/tick.py --invoices 1000000 --due 1000   # same due rows as 100k

Builds a SQLite database in a temporary folder (Core bulk inserts): a few accounts
and clients, N invoices of which ``--due`` (default 1 %) have a schedule step due
now, and the others either paid, finished (no step left, ``next_reminder_at``
NULL) or waiting for a later step (``next_reminder_at`` in the future), with the
reminder history a steady state would have (one ``sent`` row per passed step).

Then, on a fresh copy of that file for every run, and each in its own
subprocess (so peak RSS is per variant):

* engine:   ``planning.plan_due(now)`` + ``dispatch.enqueue_ready(planning.ready_ids(now))``
* baseline: one raw SQL SELECT of the due invoices (same WHERE on
  ``next_reminder_at``), one bulk ``INSERT … ON CONFLICT DO NOTHING RETURNING id``
  of the reminder rows, the ``next_reminder_at`` update the engine also does
  (an executemany), one commit, and one Redis pipeline pushing the ids.

Prints both times (median of ``--repeat`` runs), the ratio engine/baseline, the
number of due rows and the peak RSS of each variant. Not a test: no time limits.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    checkpoint,
    current_rss_mb,
    machine,
    peak_rss_mb,
    run_child,
    sqlite_stamp,
)

PARIS = ZoneInfo("Europe/Paris")
# A Wednesday, half an hour after the default send time (09:00 Europe/Paris):
# weekend steps move to a Friday or a Monday, never onto this day.
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=PARIS)
OFFSETS = (-3, 0, 3, 7)
ACCOUNTS = 10
CLIENTS_PER_ACCOUNT = 200
CHUNK = 20_000


# --------------------------------------------------------------------------- build


def build(path: Path, invoices: int, due: int, redis_url: str) -> dict:
    """Create the database at ``path``; returns counts of what was written."""
    from sqlalchemy import insert

    from app import clock, create_app
    from app.extensions import db
    from app.models import Account, Client, Invoice, Reminder
    from app.reminders import schedule as rules

    clock.set_now(NOW)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "REDIS_URL": redis_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SECRET_KEY": "bench",
            # The engine itself: no per-account daily limit (issue 14).
            "RELANCE_DAILY_SEND_LIMIT": 0,
        }
    )
    plan = rules.Schedule(OFFSETS)
    today = NOW.date()
    rng = random.Random(20261125)
    due_every = invoices / due if due else None
    due_positions = {int(k * due_every) for k in range(due)} if due else set()
    counts = {"invoices": invoices, "due": 0, "paid": 0, "finished": 0, "waiting": 0, "history": 0}

    steps_cache: dict[date, tuple] = {}

    def steps_for(due_on: date, sent_at: datetime):
        cached = steps_cache.get(due_on)
        if cached is None:
            planned = rules.steps(rules.InvoiceFacts(due_on, sent_at, 30), plan, NOW)
            future = [s.at for s in planned if s.status == rules.FUTURE]
            passed = [s for s in planned if s.status not in (rules.FUTURE, rules.NOT_NEEDED)]
            cached = steps_cache[due_on] = (min(future) if future else None, passed)
        return cached

    step_today = rules.local_moment(today, plan.send_time, plan.timezone)
    with app.app_context():
        db.create_all()
        with db.engine.begin() as conn:
            conn.execute(
                insert(Account.__table__),
                [
                    {
                        "id": a + 1,
                        "email": f"owner{a + 1}@example.com",
                        "password_hash": "x",
                        "email_verified_at": NOW,
                        "business_name": f"Studio {a + 1}",
                        "iban": "FR7630006000011234567890189",
                    }
                    for a in range(ACCOUNTS)
                ],
            )
            conn.execute(
                insert(Client.__table__),
                [
                    {
                        "id": a * CLIENTS_PER_ACCOUNT + c + 1,
                        "account_id": a + 1,
                        "name": f"Client {a}-{c}",
                        "email": f"client{a}-{c}@example.com",
                        "language": "fr" if c % 2 else "en",
                    }
                    for a in range(ACCOUNTS)
                    for c in range(CLIENTS_PER_ACCOUNT)
                ],
            )
        invoice_rows: list[dict] = []
        history_rows: list[dict] = []

        def history(invoice_id, account_id, client_id, passed):
            for step in passed:
                history_rows.append(
                    {
                        "key": f"step:{invoice_id}:{step.offset}",
                        "account_id": account_id,
                        "client_id": client_id,
                        "invoice_id": invoice_id,
                        "step_offset": step.offset,
                        "step_on": step.on,
                        "state": "sent",
                        "recipient": "client@example.com",
                        "attempts": 1,
                        "sent_at": step.at,
                        "message_id": f"<reminder-h{invoice_id}.{step.offset}@relance.test>",
                        "created_at": step.at,
                        "updated_at": step.at,
                    }
                )
            counts["history"] += len(passed)

        def flush(force=False):
            # Invoices first: the history rows point at them.
            if force or len(invoice_rows) >= CHUNK or len(history_rows) >= CHUNK:
                with db.engine.begin() as conn:
                    if invoice_rows:
                        conn.execute(insert(Invoice.__table__), invoice_rows)
                    if history_rows:
                        conn.execute(insert(Reminder.__table__), history_rows)
                invoice_rows.clear()
                history_rows.clear()

        for i in range(invoices):
            invoice_id = i + 1
            account_id = i % ACCOUNTS + 1
            client_id = (account_id - 1) * CLIENTS_PER_ACCOUNT + (i // ACCOUNTS) % CLIENTS_PER_ACCOUNT + 1
            row = {
                "id": invoice_id,
                "account_id": account_id,
                "client_id": client_id,
                "number": f"F-{invoice_id:07d}",
                "total_cents": 1000_00 + i % 50_000,
                "paid_cents": 0,
                "status": "sent",
                "sent_via": "email_other",
                "terms_days": 30,
            }
            if i in due_positions:
                offset = OFFSETS[counts["due"] % len(OFFSETS)]
                due_on = today - timedelta(days=offset)
                category = "due"
            else:
                draw = rng.random()
                if draw < 0.40:
                    category, due_on = "paid", today - timedelta(days=rng.randint(8, 90))
                elif draw < 0.50:
                    category, due_on = "finished", today - timedelta(days=rng.randint(8, 90))
                else:
                    category = "waiting"
                    delta = rng.choice([d for d in range(-6, 61) if d not in (-3, 0, 3)])
                    due_on = today + timedelta(days=delta)
            issued_on = due_on - timedelta(days=30)
            sent_at = datetime.combine(issued_on, datetime.min.time().replace(hour=10), tzinfo=PARIS)
            row.update(issued_on=issued_on, due_on=due_on, sent_at=sent_at.astimezone(UTC))
            upcoming, passed = steps_for(due_on, sent_at)
            if category == "due":
                row["next_reminder_at"] = step_today
                history(invoice_id, account_id, client_id, [s for s in passed if s.offset < offset])
            elif category == "paid":
                row.update(status="paid", paid_cents=row["total_cents"], next_reminder_at=None)
            elif category == "finished":
                row["next_reminder_at"] = None
                history(invoice_id, account_id, client_id, passed)
            else:
                assert upcoming is not None and upcoming > NOW
                row["next_reminder_at"] = upcoming
                history(invoice_id, account_id, client_id, passed)
            counts[category] += 1
            invoice_rows.append(row)
            flush()
        flush(force=True)
        db.session.remove()
        db.engine.dispose()
    return counts


# --------------------------------------------------------------------------- variants


def run_engine(db_path: str, redis_url: str, profile: str | None) -> dict:
    from app import clock, create_app
    from app.reminders import dispatch, planning

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "REDIS_URL": redis_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "SECRET_KEY": "bench",
            # The engine itself: no per-account daily limit (issue 14).
            "RELANCE_DAILY_SEND_LIMIT": 0,
        }
    )
    clock.set_now(NOW)
    with app.app_context():
        # Warm up what a long-running worker has warm after its first tick:
        # connections, compiled statements, imports, the Lua script of the queued
        # markers and RQ's code paths. Nothing is due a year earlier; the one
        # id queued here (no such reminder) is removed from Redis before timing.
        import rq  # noqa: F401

        planning.plan_due(NOW - timedelta(days=365))
        planning.ready_ids(NOW - timedelta(days=365))
        dispatch.enqueue_ready([0])
        dispatch.redis_connection().flushdb()
        rss_before = current_rss_mb()

        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        report = planning.plan_due(NOW)
        t1 = time.perf_counter()
        ids = planning.ready_ids(NOW)
        t2 = time.perf_counter()
        enqueued = dispatch.enqueue_ready(ids)
        t3, c3 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        from rq import Queue

        jobs = Queue(dispatch.QUEUE, connection=dispatch.redis_connection()).count
    return {
        "variant": "engine",
        "total": t3 - t0,
        "cpu": c3 - c0,
        "plan": t1 - t0,
        "select_ready": t2 - t1,
        "enqueue": t3 - t2,
        "due_rows": report.invoices,
        "inserted": len(report.keys),
        "queued_ids": enqueued,
        "jobs": jobs,
        "rss_before": rss_before,
        "peak_rss": peak_rss_mb(),
    }


BASELINE_SELECT = """
SELECT i.id, i.account_id, i.client_id, i.due_on, c.email
FROM invoice AS i JOIN client AS c ON c.id = i.client_id
WHERE i.next_reminder_at IS NOT NULL AND i.next_reminder_at <= ?
  AND i.status = 'sent' AND i.total_cents > i.paid_cents AND i.reminders_enabled
"""
REMINDER_COLUMNS = (
    "key, account_id, client_id, invoice_id, kind, channel, step_offset, step_on, state, reason, "
    "recipient, subject, body, attempts, next_attempt_at, message_id, last_error, created_at, updated_at"
)
ROWS_PER_INSERT = 1000  # 19 parameters a row, well under SQLite's 32766


def run_baseline(db_path: str, redis_url: str) -> dict:
    """The same work written by hand: raw SQL, no ORM, no RQ."""
    from redis import Redis

    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=10000")
    redis = Redis.from_url(redis_url)
    connection.execute(BASELINE_SELECT, (sqlite_stamp(NOW - timedelta(days=365)),)).fetchall()
    # The same warm-up of its Redis path as the engine's.
    redis.pipeline(transaction=False).rpush("bench:queue", json.dumps([0])).execute()
    redis.flushdb()
    rss_before = current_rss_mb()

    t0, c0 = time.perf_counter(), time.process_time()
    now_text = sqlite_stamp(NOW)
    today = NOW.date()
    moments: dict[date, str] = {}

    def at_nine(day: date) -> str:
        text = moments.get(day)
        if text is None:
            text = moments[day] = sqlite_stamp(
                datetime.combine(day, datetime.min.time(), PARIS).replace(hour=9)
            )
        return text

    connection.execute("BEGIN IMMEDIATE")
    rows = connection.execute(BASELINE_SELECT, (now_text,)).fetchall()
    t1 = time.perf_counter()
    values, updates = [], []
    for invoice_id, account_id, client_id, due_on, email in rows:
        due = date.fromisoformat(due_on)
        offset = (today - due).days
        later = [o for o in OFFSETS if o > offset]
        updates.append((at_nine(due + timedelta(days=later[0])) if later else None, invoice_id))
        values.append(
            (
                f"step:{invoice_id}:{offset}",
                account_id,
                client_id,
                invoice_id,
                "step",
                "email",
                offset,
                today.isoformat(),
                "scheduled",
                "",
                email,
                "",
                "",
                0,
                at_nine(today),
                "",
                "",
                now_text,
                now_text,
            )
        )
    ids = []
    for start in range(0, len(values), ROWS_PER_INSERT):
        chunk = values[start : start + ROWS_PER_INSERT]
        placeholders = ",".join(["(" + ",".join("?" * 19) + ")"] * len(chunk))
        statement = (
            f"INSERT INTO reminder ({REMINDER_COLUMNS}) VALUES {placeholders} "
            "ON CONFLICT (key) DO NOTHING RETURNING id"
        )
        ids.extend(row[0] for row in connection.execute(statement, [v for row in chunk for v in row]))
    t2 = time.perf_counter()
    connection.executemany("UPDATE invoice SET next_reminder_at = ? WHERE id = ?", updates)
    connection.execute("COMMIT")
    t3 = time.perf_counter()
    pipe = redis.pipeline(transaction=False)
    for start in range(0, len(ids), 50):
        pipe.rpush("bench:queue", json.dumps(ids[start : start + 50]))
    pipe.execute()
    t4, c4 = time.perf_counter(), time.process_time()
    return {
        "variant": "baseline",
        "total": t4 - t0,
        "cpu": c4 - c0,
        "select": t1 - t0,
        "insert": t2 - t1,
        "update_commit": t3 - t2,
        "redis": t4 - t3,
        "due_rows": len(rows),
        "inserted": len(ids),
        "queued_ids": len(ids),
        "jobs": redis.llen("bench:queue"),
        "rss_before": rss_before,
        "peak_rss": peak_rss_mb(),
    }


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=None, help="invoices with a step due now (default 1 %%)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each variant (median reported)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the engine's last run into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--variant", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant == "engine":
        print(json.dumps(run_engine(args.db, args.redis, args.profile)))
        return
    if args.variant == "baseline":
        print(json.dumps(run_baseline(args.db, args.redis)))
        return

    from redis import Redis

    from tests.services import RedisServer

    due = args.invoices // 100 if args.due is None else args.due
    folder = Path(tempfile.mkdtemp(prefix="relance-bench-tick-"))
    redis_server = RedisServer()
    redis = Redis.from_url(redis_server.url)
    try:
        print(f"machine: {machine()}")
        print(f"building {args.invoices:,} invoices ({due:,} due) in {folder} …", flush=True)
        pristine = folder / "pristine.db"
        started = time.perf_counter()
        counts = build(pristine, args.invoices, due, redis_server.url)
        checkpoint(pristine)
        print(
            f"built in {time.perf_counter() - started:.1f} s: {counts}, "
            f"file {pristine.stat().st_size / 2**20:.0f} MB",
            flush=True,
        )
        results: dict[str, list[dict]] = {"engine": [], "baseline": []}
        for run in range(args.repeat):
            for variant in ("engine", "baseline"):
                work = folder / f"{variant}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{work}{suffix}").unlink(missing_ok=True)
                shutil.copyfile(pristine, work)
                # Write the copy out now: otherwise its dirty pages go to disk during
                # the run and the variant's COMMIT (an fsync) waits behind them.
                os.sync()
                redis.flushall()
                child = [
                    "bench/tick.py",
                    "--variant",
                    variant,
                    "--db",
                    str(work),
                    "--redis",
                    redis_server.url,
                ]
                if args.profile and variant == "engine" and run == args.repeat - 1:
                    child += ["--profile", args.profile]
                result = run_child(child)
                results[variant].append(result)
                print(f"  run {run + 1} {variant:8s} {result['total'] * 1000:8.1f} ms  {result}", flush=True)
        report(args.invoices, due, results)
    finally:
        redis.close()
        redis_server.stop()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def report(invoices: int, due: int, results: dict) -> None:
    engine, baseline = results["engine"], results["baseline"]
    for result in engine + baseline:
        if result["due_rows"] != due or result["inserted"] != due or result["queued_ids"] != due:
            raise SystemExit(f"variant did not do the expected work ({due} due): {result}")

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    e_total, b_total = median(engine, "total"), median(baseline, "total")
    ratio = e_total / b_total
    e_min, b_min = min(r["total"] for r in engine), min(r["total"] for r in baseline)
    print()
    print(f"invoices            {invoices:>12,}")
    print(f"due rows            {due:>12,}")
    print(
        f"engine total        {e_total * 1000:>10.1f} ms  (plan_due {median(engine, 'plan') * 1000:.1f}, "
        f"ready_ids {median(engine, 'select_ready') * 1000:.1f}, "
        f"enqueue_ready {median(engine, 'enqueue') * 1000:.1f})"
    )
    print(
        f"baseline total      {b_total * 1000:>10.1f} ms  (select {median(baseline, 'select') * 1000:.1f}, "
        f"insert {median(baseline, 'insert') * 1000:.1f}, "
        f"update+commit {median(baseline, 'update_commit') * 1000:.1f}, "
        f"redis {median(baseline, 'redis') * 1000:.1f})"
    )
    print(
        f"fastest runs        {e_min * 1000:>10.1f} ms engine, {b_min * 1000:.1f} ms baseline "
        f"(ratio {e_min / b_min:.2f})"
    )
    print(
        f"ratio engine/base   {ratio:>12.2f}   "
        f"(medians; target <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})"
    )
    print(
        f"CPU time            {median(engine, 'cpu') * 1000:>10.1f} ms engine, "
        f"{median(baseline, 'cpu') * 1000:.1f} ms baseline (ratio "
        f"{median(engine, 'cpu') / median(baseline, 'cpu'):.2f}; this process only, less "
        "sensitive to the machine's load)"
    )
    e_rss, b_rss = max(r["peak_rss"] for r in engine), max(r["peak_rss"] for r in baseline)
    print(
        f"peak RSS engine     {e_rss:>10.1f} MB  (after imports and warm-up: "
        f"{max(r['rss_before'] for r in engine):.1f} MB)"
    )
    print(
        f"peak RSS baseline   {b_rss:>10.1f} MB  (after imports and warm-up: "
        f"{max(r['rss_before'] for r in baseline):.1f} MB)"
    )
    print(
        f"per due row         {e_total / max(due, 1) * 1e6:>10.1f} µs engine, "
        f"{b_total / max(due, 1) * 1e6:.1f} µs baseline"
    )
    print(f"RSS target <= 200 MB: {'met' if e_rss <= 200 else 'MISSED'}")
    print(f"load average        {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) at the end")


if __name__ == "__main__":
    main()
