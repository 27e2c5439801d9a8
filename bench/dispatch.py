"""Benchmark of sending: the engine (Redis + one RQ worker) vs a plain smtplib loop.

    .venv/bin/python bench/dispatch.py --reminders 2000
    .venv/bin/python bench/dispatch.py --reminders 2000 --sink count

Builds a SQLite database in a temporary folder with ``--reminders`` due reminder
rows (state "scheduled", ``next_attempt_at`` <= now) for invoices sent by email
to clients with an address; starts a redis-server and an aiosmtpd sink (in its
own process, so that parsing the messages it receives does not share a CPU core
and the GIL with the sender being measured). ``--sink parse`` (default) is the
app's MailSink, which parses and keeps every message; ``--sink count`` is the
same aiosmtpd server answering 250 without parsing, which shows what the sender
itself can do.

* engine:   ``dispatch.enqueue_ready(planning.ready_ids(now))``, then ONE
  ``rq.SimpleWorker`` in burst mode, in this process, inside an app context (what
  ``worker.py`` runs): every reminder is claimed with its conditional UPDATE,
  re-checked, rendered (HTML + text, the client's language) and sent over the
  job's one SMTP connection, and its outcome recorded. Timed from the start of
  the worker to the end of the burst (the enqueue is timed apart).
* baseline: a plain ``smtplib`` loop on one connection sending as many
  comparable messages (an ``EmailMessage`` with the same text and HTML bodies,
  the invoice number changed per message) to the same sink.

Each of ``--repeat`` rounds uses its own set of reminders; prints both rates
(median), the ratio engine/baseline and what every round did. Not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, peak_rss_mb  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=PARIS)  # a Wednesday, after 09:00
CLIENTS = 200


# --------------------------------------------------------------------------- sink process


class CountingHandler:
    """An aiosmtpd handler that only counts what it accepts (``--sink count``):
    shows what the sender can do when the server does not parse every message."""

    def __init__(self):
        self.count = 0
        self.sizes: list[int] = []

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if len(self.sizes) < 50:
            self.sizes.append(len(envelope.content))
        return "250 Message accepted for delivery"


def serve_sink(kind: str) -> None:
    """Run an aiosmtpd sink; answer "count" and "clear" on stdin, stop at EOF.

    ``parse``: app.mailsink.MailSink, which parses and keeps every message (what
    the tests and ``make run`` use); ``count``: the same server, counting only.
    """
    from app.mailsink import MailSink

    sink = MailSink()
    if kind == "count":
        sink.handler = CountingHandler()
        sink.controller.handler = sink.handler
    sink.start()
    print(json.dumps({"port": sink.port}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "clear":
            if kind == "count":
                sink.handler.count, sink.handler.sizes = 0, []
            else:
                sink.clear()
            print(json.dumps({"ok": True}), flush=True)
        elif command == "count" and kind == "count":
            sizes = sink.handler.sizes
            average = round(sum(sizes) / max(len(sizes), 1))
            print(json.dumps({"count": sink.handler.count, "avg_bytes": average}), flush=True)
        elif command == "count":
            messages = sink.messages
            size = sum(len(m.as_bytes()) for m in messages[:50]) / max(min(len(messages), 50), 1)
            print(json.dumps({"count": len(messages), "avg_bytes": round(size)}), flush=True)
    sink.stop()


class SinkProcess:
    def __init__(self, kind: str = "parse"):
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-sink", kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = json.loads(self.process.stdout.readline())["port"]

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def wait_for(self, count: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.ask("count")
            if answer["count"] >= count or time.monotonic() > deadline:
                return answer
            time.sleep(0.05)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(10)


# --------------------------------------------------------------------------- data


def build(app, rounds: int, per_round: int, iban: bool = False) -> list[list[int]]:
    """One account, a few clients, ``rounds * per_round`` due invoices with one
    scheduled reminder each (the due-date step). Returns reminder ids per round.

    Without ``iban`` the account has no bank account: its reminders are HTML +
    text with no attachment, as the benchmark is defined. With it, every
    reminder also carries the EPC QR code of its transfer (an inline PNG made
    for that invoice's amount and reference: issue 7)."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import Account, Client, Invoice, Reminder

    today = NOW.date()
    sent_at = (NOW - timedelta(days=30)).astimezone(UTC)
    with app.app_context():
        db.create_all()
        with db.engine.begin() as conn:
            conn.execute(
                insert(Account.__table__),
                [
                    {
                        "id": 1,
                        "email": "owner@example.com",
                        "password_hash": "x",
                        "email_verified_at": sent_at,
                        "business_name": "Atelier Lumière",
                        "address": "12 rue des Lilas\n75011 Paris",
                        "iban": "FR7630006000011234567890189" if iban else "",
                        "bic": "AGRIFRPP" if iban else "",
                    }
                ],
            )
            conn.execute(
                insert(Client.__table__),
                [
                    {
                        "id": c + 1,
                        "account_id": 1,
                        "name": f"Client {c + 1}",
                        "email": f"client{c + 1}@example.com",
                        "language": "fr" if c % 2 else "en",
                    }
                    for c in range(CLIENTS)
                ],
            )
            total = rounds * per_round
            conn.execute(
                insert(Invoice.__table__),
                [
                    {
                        "id": i + 1,
                        "account_id": 1,
                        "client_id": i % CLIENTS + 1,
                        "number": f"F-2026-{i + 1:05d}",
                        "issued_on": today - timedelta(days=30),
                        "due_on": today,
                        "terms_days": 30,
                        "total_cents": 1200_00 + i,
                        "paid_cents": 0,
                        "status": "sent",
                        "sent_via": "email_other",
                        "sent_at": sent_at,
                        "next_reminder_at": None,
                    }
                    for i in range(total)
                ],
            )
            conn.execute(
                insert(Reminder.__table__),
                [
                    {
                        "key": f"step:{i + 1}:0",
                        "account_id": 1,
                        "client_id": i % CLIENTS + 1,
                        "invoice_id": i + 1,
                        "kind": "step",
                        "step_offset": 0,
                        "step_on": today,
                        "state": "scheduled",
                        "recipient": f"client{i % CLIENTS + 1}@example.com",
                        # Round r becomes ready at NOW + r minutes.
                        "next_attempt_at": NOW.astimezone(UTC) + timedelta(minutes=i // per_round),
                    }
                    for i in range(total)
                ],
            )
        ids = db.session.scalars(select(Reminder.id).order_by(Reminder.id)).all()
        db.session.remove()
    return [ids[r * per_round : (r + 1) * per_round] for r in range(rounds)]


def sample_bodies(app) -> tuple[str, str, str, str]:
    """Text, HTML and subject of one real reminder (for the baseline's messages)."""
    from app.extensions import db
    from app.models import Invoice
    from app.reminders.sending import days_left, render_step

    with app.app_context():
        invoice = db.session.get(Invoice, 1)
        rendered = render_step(invoice, invoice.client, invoice.account, days_left(invoice, invoice.account))
        number = invoice.number
        db.session.remove()
    return rendered.text, rendered.html, rendered.subject, number


# --------------------------------------------------------------------------- variants


def run_engine(app, round_ids: list[int], round_no: int, profile: str | None) -> dict:
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.job import Job
    from sqlalchemy import func, select

    from app import clock
    from app.extensions import db
    from app.models import Reminder
    from app.reminders import dispatch, planning

    moment = NOW + timedelta(minutes=round_no)
    clock.set_now(moment)
    connection = Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        t0 = time.perf_counter()
        ids = planning.ready_ids(moment)
        queued = dispatch.enqueue_ready(ids)
        t1 = time.perf_counter()
        assert sorted(ids) == sorted(round_ids), "the round's reminders are not the ready ones"
        queue = Queue(dispatch.QUEUE, connection=connection)
        job_ids = queue.job_ids
        worker = SimpleWorker([queue], connection=connection)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t2, c2 = time.perf_counter(), time.process_time()
        worker.work(burst=True, logging_level="WARNING")
        t3, c3 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        # The burst's wall time includes the worker's start and its ~1 s teardown
        # (RQ joins its pub/sub thread); a long-running worker pays neither. The
        # jobs' own span (first start to last end, as RQ recorded it) is the other figure.
        jobs = [job for job in Job.fetch_many(job_ids, connection=connection) if job is not None]
        span = (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds()
        states = dict(
            db.session.execute(
                select(Reminder.state, func.count())
                .where(Reminder.id.in_(round_ids))
                .group_by(Reminder.state)
            ).all()
        )
        db.session.remove()
    connection.close()
    return {
        "variant": "engine",
        "sent": states.get("sent", 0),
        "states": states,
        "queued": queued,
        "enqueue_s": t1 - t0,
        "seconds": t3 - t2,
        "rate": states.get("sent", 0) / (t3 - t2),
        "cpu_ms": (c3 - c2) * 1000 / max(states.get("sent", 0), 1),
        "jobs": len(jobs),
        "jobs_seconds": span,
        "jobs_rate": states.get("sent", 0) / span,
    }


def run_baseline(port: int, count: int, text: str, html: str, subject: str, number: str) -> dict:
    """What anyone would write first: one connection, one EmailMessage per reminder."""
    t0, c0 = time.perf_counter(), time.process_time()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for i in range(count):
            other = f"F-2026-{i + 1:05d}"
            message = EmailMessage()
            message["Subject"] = subject.replace(number, other)
            message["From"] = '"Atelier Lumière via Relance" <no-reply@relance.test>'
            message["To"] = f"client{i % CLIENTS + 1}@example.com"
            message["Reply-To"] = "owner@example.com"
            message["Date"] = formatdate(localtime=True)
            message["Message-ID"] = make_msgid(domain="relance.test")
            message.set_content(text.replace(number, other))
            message.add_alternative(html.replace(number, other), subtype="html")
            smtp.send_message(message)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "variant": "baseline",
        "sent": count,
        "seconds": seconds,
        "rate": count / seconds,
        "cpu_ms": cpu * 1000 / count,
    }


# --------------------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each variant (median reported)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the engine's last round into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--sink",
        choices=("parse", "count"),
        default="parse",
        help="parse: the app's MailSink, parsing and keeping every message (default); "
        "count: an aiosmtpd handler that only counts",
    )
    parser.add_argument(
        "--iban",
        action="store_true",
        help="give the account an IBAN: every reminder then carries an EPC QR code (inline PNG)",
    )
    parser.add_argument("--serve-sink", choices=("parse", "count"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return

    from app import clock, create_app
    from tests.services import RedisServer

    logging.basicConfig(level=logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="relance-bench-dispatch-"))
    redis_server = RedisServer()
    sink = SinkProcess(args.sink)
    try:
        print(f"machine: {machine()}")
        clock.set_now(NOW)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'relance.db'}",
                "REDIS_URL": redis_server.url,
                "RATELIMIT_STORAGE_URI": "memory://",
                "SECRET_KEY": "bench",
                # The engine itself: no per-account daily limit (issue 14).
                "RELANCE_DAILY_SEND_LIMIT": 0,
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": sink.port,
                "MAIL_TIMEOUT": 10,
                "MAIL_DEFAULT_SENDER": "Relance <no-reply@relance.test>",
                # The send path itself: text + HTML, no invoice PDF attached.
                "REMINDER_PDF": False,
            }
        )
        rounds = build(app, args.repeat, args.reminders, iban=args.iban)
        text, html, subject, number = sample_bodies(app)
        print(
            f"{args.reminders:,} reminders a round, {args.repeat} rounds, "
            f"{args.sink} sink on port {sink.port}",
            flush=True,
        )
        results: dict[str, list[dict]] = {"engine": [], "baseline": []}
        for round_no, round_ids in enumerate(rounds):
            sink.ask("clear")
            profile = args.profile if round_no == len(rounds) - 1 else None
            engine = run_engine(app, round_ids, round_no, profile)
            received = sink.wait_for(args.reminders)
            engine.update(received=received["count"], avg_bytes=received["avg_bytes"])
            results["engine"].append(engine)
            print(f"  round {round_no + 1} engine   {engine['rate']:8.1f}/s  {engine}", flush=True)

            sink.ask("clear")
            baseline = run_baseline(sink.port, args.reminders, text, html, subject, number)
            received = sink.wait_for(args.reminders)
            baseline.update(received=received["count"], avg_bytes=received["avg_bytes"])
            results["baseline"].append(baseline)
            print(f"  round {round_no + 1} baseline {baseline['rate']:8.1f}/s  {baseline}", flush=True)
        report(args.reminders, results)
    finally:
        sink.stop()
        redis_server.stop()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def report(count: int, results: dict) -> None:
    engine, baseline = results["engine"], results["baseline"]
    for result in engine + baseline:
        if result["sent"] != count or result["received"] != count:
            raise SystemExit(f"{result['variant']} did not send exactly {count}: {result}")
    e_rate = statistics.median(r["rate"] for r in engine)
    b_rate = statistics.median(r["rate"] for r in baseline)
    ratio = e_rate / b_rate
    print()
    print(f"reminders a round   {count:>10,}")
    j_rate = statistics.median(r["jobs_rate"] for r in engine)
    print(
        f"engine              {e_rate:>10.1f} /s  (one SimpleWorker burst, jobs of 50 ids; "
        f"enqueue {statistics.median(r['enqueue_s'] for r in engine) * 1000:.0f} ms apart)"
    )
    print(f"engine, jobs only   {j_rate:>10.1f} /s  (first job start to last job end)")
    print(f"baseline            {b_rate:>10.1f} /s  (smtplib loop, one connection)")
    print(f"load average        {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) at the end")
    print(f"ratio engine/base   {ratio:>10.2f}     (target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(f"engine rate target  >= 200/s: {'met' if e_rate >= 200 else 'MISSED'}")
    print(
        f"CPU per message     {statistics.median(r['cpu_ms'] for r in engine):>10.2f} ms engine, "
        f"{statistics.median(r['cpu_ms'] for r in baseline):.2f} ms baseline (this process only; "
        "less sensitive to the machine's load than the rates)"
    )
    print(
        f"message size        {statistics.median(r['avg_bytes'] for r in engine):>10.0f} B engine, "
        f"{statistics.median(r['avg_bytes'] for r in baseline):.0f} B baseline (as received)"
    )
    print(f"peak RSS (bench process, engine + baseline) {peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
