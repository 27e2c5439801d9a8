"""Start the RQ worker (with its scheduler) that sends Relance's mail.

No application logic here: jobs live in app/jobs.py.
"""

import logging
import sys
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker

from app import create_app

QUEUES = ("relance",)


def wait_for_redis(url: str, attempts: int = 60) -> Redis:
    connection = Redis.from_url(url)
    for _ in range(attempts):
        try:
            connection.ping()
            return connection
        except RedisConnectionError:
            time.sleep(0.5)
    sys.exit(f"Redis is not reachable at {url}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    app = create_app()
    connection = wait_for_redis(app.config["REDIS_URL"])
    queues = [Queue(name, connection=connection) for name in QUEUES]
    worker = Worker(queues, connection=connection)
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
