"""Start a Relance worker: an RQ worker (with RQ's scheduler) that sends mail, and
the periodic reminder tick. No application logic here: see app/jobs.py and
app/reminders/.

Run as many as you like, on any number of machines: ticks and sends are safe to
run concurrently (exactly-once is kept in the database).
"""

import gc
import logging
import os
import sys
import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker

from app import create_app
from app.documents.warm import DOCUMENTS_QUEUE
from app.reminders.dispatch import QUEUE, tick

log = logging.getLogger("relance.worker")


def wait_for_redis(url: str, attempts: int = 120) -> None:
    probe = Redis.from_url(url)
    for _ in range(attempts):
        try:
            probe.ping()
            probe.close()
            return
        except RedisConnectionError:
            time.sleep(0.5)
    sys.exit(f"Redis is not reachable at {url}")


def tick_forever(app, connection: Redis, every: int, stop: threading.Event) -> None:
    """Run the tick every ``every`` seconds; a Redis lock keeps N workers from piling up."""
    while not stop.is_set():
        try:
            if connection.set("relance:tick-lock", os.getpid(), nx=True, ex=max(every - 5, 1)):
                with app.app_context():
                    report = tick()
                log.info("tick: %s", report)
        except Exception:  # keep ticking: one bad pass must not stop reminders for good
            log.exception("tick failed")
        stop.wait(every)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    wait_for_redis(app.config["REDIS_URL"])
    # A fresh client for RQ: it raises the socket timeout above its blocking dequeue
    # (redis-py's default is 5 s), which only applies to connections opened after.
    connection = Redis.from_url(app.config["REDIS_URL"])
    ticker_connection = Redis.from_url(app.config["REDIS_URL"])
    every = int(os.environ.get("RELANCE_TICK_SECONDS", "300"))
    stop = threading.Event()
    ticker = threading.Thread(
        target=tick_forever, args=(app, ticker_connection, every, stop), name="tick", daemon=True
    )
    ticker.start()
    # SimpleWorker: no fork per job (tens of ms each); jobs are batches of ids.
    # Sends first; the reminder PDFs drawn ahead (app/documents/warm.py) after them.
    queues = [Queue(QUEUE, connection=connection), Queue(DOCUMENTS_QUEUE, connection=connection)]
    worker = SimpleWorker(queues, connection=connection)
    # The imported application (~90 MB of objects that live as long as the process)
    # leaves the collector's generations: full collections then walk only what jobs
    # and ticks allocate.
    gc.collect()
    gc.freeze()
    with app.app_context():
        try:
            worker.work(with_scheduler=True)
        finally:
            stop.set()


if __name__ == "__main__":
    main()
