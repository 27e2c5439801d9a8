"""Start a Relance worker: an RQ worker that sends mail, and the periodic reminder
tick (which plays the part of a scheduler: nothing is queued with enqueue_at/in).
No application logic here: see app/jobs.py and app/reminders/.

Run as many as you like, on any number of machines: ticks and sends are safe to
run concurrently (exactly-once is kept in the database).
"""

import gc
import logging
import os
import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker

from app import create_app
from app.documents.warm import DOCUMENTS_QUEUE
from app.reminders.dispatch import QUEUE, tick

log = logging.getLogger("relance.worker")


class Outage:
    """Says once that Redis is gone and once that it is back, however many retries
    lie between (a worker that logs every second for an hour hides the one line
    that matters)."""

    def __init__(self, what: str):
        self.what = what
        self.since: float | None = None

    def down(self, error: Exception) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s: Redis is unreachable (%s); retrying with back-off", self.what, error)

    def up(self) -> None:
        if self.since is not None:
            log.warning("%s: Redis is back after %.0f s", self.what, time.monotonic() - self.since)
            self.since = None


def backoff_delays(first: float = 0.5, cap: float | None = None):
    """0.5, 1, 2, 4 … seconds, capped (``RELANCE_REDIS_BACKOFF_MAX``, default 30 s)."""
    if cap is None:
        cap = float(os.environ.get("RELANCE_REDIS_BACKOFF_MAX", "30"))
    delay = first
    while True:
        yield min(delay, cap)
        delay *= 2


def wait_for_redis(url: str, outage: Outage, stop: threading.Event) -> bool:
    """Block until Redis answers (for as long as it takes); False if asked to stop."""
    probe = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        for delay in backoff_delays():
            try:
                probe.ping()
                outage.up()
                return True
            except (RedisConnectionError, RedisTimeoutError) as error:
                outage.down(error)
                if stop.wait(delay):
                    return False
    finally:
        probe.close()
    return False


def tick_forever(app, connection: Redis, every: int, stop: threading.Event) -> None:
    """Run the tick every ``every`` seconds; a Redis lock keeps N workers from piling up.
    Without Redis the tick waits for the next interval: the reminders it could not
    queue are still "scheduled" in the database and the next tick queues them."""
    outage = Outage("tick")
    while not stop.is_set():
        try:
            if connection.set("relance:tick-lock", os.getpid(), nx=True, ex=max(every - 5, 1)):
                with app.app_context():
                    report = tick()
                log.info("tick: %s", report)
            outage.up()
        except (RedisConnectionError, RedisTimeoutError) as error:
            outage.down(error)
        except Exception:  # keep ticking: one bad pass must not stop reminders for good
            log.exception("tick failed")
        stop.wait(every)


def work_forever(app, url: str, stop: threading.Event) -> None:
    """RQ's work loop, started again whenever it ends because Redis went away.

    RQ retries a lost connection only while it waits for a job; anywhere else
    (heartbeat, maintenance, a job's bookkeeping) it logs "unhandled exception,
    quitting" and returns. We then wait for Redis and start a new worker. A stop
    request (SIGTERM, Ctrl-C) ends the loop."""
    outage = Outage("worker")
    while wait_for_redis(url, outage, stop):
        # A fresh client for RQ: it raises the socket timeout above its blocking dequeue
        # (redis-py's default is 5 s), which only applies to connections opened after.
        connection = Redis.from_url(url)
        # SimpleWorker: no fork per job (tens of ms each); jobs are batches of ids.
        # Sends first; the reminder PDFs drawn ahead (app/documents/warm.py) after them.
        queues = [Queue(QUEUE, connection=connection), Queue(DOCUMENTS_QUEUE, connection=connection)]
        worker = SimpleWorker(queues, connection=connection)
        try:
            with app.app_context():
                # No RQ scheduler: the tick queues what is due, and RQ's scheduler runs in a
                # forked child that a restart after an outage could leave behind, orphaned.
                worker.work()
        except (RedisConnectionError, RedisTimeoutError) as error:
            outage.down(error)  # raised from RQ's teardown, Redis being gone
        finally:
            connection.close()
        if getattr(worker, "_stop_requested", False) or stop.is_set():
            return
        outage.down(RuntimeError("the RQ worker stopped"))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    url = app.config["REDIS_URL"]
    ticker_connection = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    every = int(os.environ.get("RELANCE_TICK_SECONDS", "300"))
    stop = threading.Event()
    ticker = threading.Thread(
        target=tick_forever, args=(app, ticker_connection, every, stop), name="tick", daemon=True
    )
    ticker.start()
    # The imported application (~90 MB of objects that live as long as the process)
    # leaves the collector's generations: full collections then walk only what jobs
    # and ticks allocate.
    gc.collect()
    gc.freeze()
    try:
        work_forever(app, url, stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()


if __name__ == "__main__":
    main()
