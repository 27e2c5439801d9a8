"""Shared helpers of the benchmark scripts (not tests: no time limits anywhere)."""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    ``ru_maxrss`` (KiB on Linux) is inherited across fork + exec: a child started
    by a 500 MB parent reports at least 500 MB. ``VmHWM`` (the high-water mark of
    this process image) is what we want; ``ru_maxrss`` is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def sqlite_stamp(moment: datetime) -> str:
    """How SQLAlchemy stores an aware UTC datetime in SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file so that copying the file copies everything."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def run_child(args: list[str], env: dict | None = None) -> dict:
    """Run ``python <script> args`` and return the JSON object it prints last."""
    completed = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout)
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"child failed: {' '.join(args)}")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def machine() -> str:
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs (nproc "
        f"{len(os.sched_getaffinity(0))}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
