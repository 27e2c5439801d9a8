"""Workers survive their services (issue 14, point 8): the real ``worker.py`` under
a real redis-server that is killed and started again.

Before this, RQ logged "found an unhandled exception, quitting" and the worker
process ended for good when Redis went away. Now it waits with back-off, logs
the outage once, and the reminders that fell due meanwhile go out exactly once,
within one tick interval of Redis returning, without a manual tick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from app.devservices import redis_binary
from app.extensions import db
from app.mailsink import free_port
from app.models import Reminder

from .test_engine_faults import ROOT, due_now_invoices

TICK_SECONDS = 3
# Generous for a busy machine; without reconnecting, nothing ever arrives.
SLACK_SECONDS = 45


class RestartableRedis:
    """A redis-server on a fixed port that can be killed and started again."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis import Redis

        probe = Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                probe.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        probe.close()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


class Log:
    """The worker's stderr, line by line, with a way to wait for a line."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in stream:
            with self.changed:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self.changed.notify_all()

    def wait_for(self, text, timeout, start=0):
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(text in line for line in self.lines[start:]), timeout=timeout
            )
        assert found, f"no log line with {text!r}:\n" + "\n".join(self.lines[-40:])

    def count(self, text):
        with self.changed:
            return sum(text in line for line in self.lines)


def stop_group(pgid):
    """Kill whatever is left in the worker's process group; return the pids found."""
    survivors = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getpgid(int(entry)) == pgid:
                    survivors.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    if survivors:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return survivors


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_worker_waits_for_redis_and_sends_what_fell_due_meanwhile_once(app, sink, tmp_path):
    app.config["REMINDER_PDF"] = False
    redis = RestartableRedis(tmp_path)
    redis.start()
    account_id = due_now_invoices(app, 3)
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis.url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "SECRET_KEY": "test-secret",
        "RELANCE_ENV": "development",
        "REMINDER_PDF": "0",
        "RELANCE_TICK_SECONDS": str(TICK_SECONDS),
        "RELANCE_REDIS_BACKOFF_MAX": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: nothing it starts outlives the test
    )
    log = Log(worker.stderr)
    try:
        wait_until(lambda: len(sink.messages) == 3, 120, "the worker never sent the first reminders")

        redis.kill()
        mark = len(log.lines)
        wait_until(
            lambda: worker.poll() is not None or log.count("Error 111") > 0,
            60,
            "the worker said nothing of the outage:\n" + "\n".join(log.lines[-40:]),
        )
        assert worker.poll() is None, "the worker exited when Redis went away:\n" + "\n".join(log.lines[-40:])
        # Reminders fall due while Redis is away.
        due_now_invoices(app, 3, account_id=account_id, first=3)
        # The tick thread meets the outage (said "tick failed" before this fix).
        wait_until(
            lambda: (
                worker.poll() is not None
                or log.count("tick: Redis is unreachable") + log.count("tick failed") > 0
            ),
            TICK_SECONDS * 20,
            "no tick met the outage",
        )
        assert worker.poll() is None, "the worker exited when Redis went away:\n" + "\n".join(log.lines[-40:])

        redis.start()
        back = time.monotonic()
        wait_until(
            lambda: len(sink.messages) == 6,
            TICK_SECONDS + SLACK_SECONDS,
            "the reminders due while Redis was away did not go out after it came back:\n"
            + "\n".join(log.lines[-40:]),
        )
        waited = time.monotonic() - back
        log.wait_for("Redis is back", timeout=30, start=mark)
        # Once per outage and per part (tick, worker), not once per retry.
        assert log.count("Redis is unreachable") <= 2, "\n".join(log.lines[-40:])

        # A tick or two more: nothing goes twice.
        ticks = log.count("tick: TickReport")
        wait_until(lambda: log.count("tick: TickReport") >= ticks + 2, TICK_SECONDS * 20, "no more ticks")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        survivors = stop_group(worker.pid)
        # The reader ends at end of file, once no process holds the pipe; closing the
        # pipe under a blocked reader would wait for it forever.
        log.thread.join(10)
        if not log.thread.is_alive():
            worker.stderr.close()
        if redis.process.poll() is None:
            redis.process.terminate()
            redis.process.wait(10)

    assert not survivors, f"processes of the worker outlived it: {survivors}"
    recipients = [m["X-Rcpt-To"] for m in sink.messages]
    assert sorted(recipients) == sorted(f"client{n}@example.com" for n in range(6))
    with app.app_context():
        states = dict(db.session.execute(select(Reminder.state, func.count()).group_by(Reminder.state)).all())
    assert states == {"sent": 6}
    print(f"after Redis came back, the reminders due meanwhile went out in {waited:.1f} s")
