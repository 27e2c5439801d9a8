"""Real services for the tests: redis-server, PostgreSQL, and the SMTP sink.

Each starts on a free port on 127.0.0.1 and is stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis

from app.devservices import redis_binary
from app.mailsink import free_port


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="relance-redis-")
        self.port = free_port()
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
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        client.close()

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_unavailable_reason() -> str | None:
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        return "PostgreSQL server binaries (initdb, pg_ctl) are not on PATH"
    return None


class PostgresServer:
    """A private cluster in a temporary folder; as root it runs as the postgres user."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="relance-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        os.chmod(self.root, 0o777)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.base_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self.url = self.base_url + "/relance_test"
        self.create_database("relance_test")

    def _run(self, *args):
        command = [shutil.which(args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def create_database(self, name):
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.base_url}/{name}"

    def stop(self):
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
