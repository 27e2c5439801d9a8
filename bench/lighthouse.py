"""Lighthouse scores of the main screens (phone), median of N runs; run by bench/lighthouse.sh.

It builds the app like scripts/screenshots.py does (fresh SQLite file, the demo
account, one engine pass), serves it on 127.0.0.1 with werkzeug (threaded, gzip
and cache headers as in production), logs in once to get a session cookie,
then runs the npm package ``lighthouse`` (bench/node_modules) against Debian's
chromium with mobile emulation and simulated throttling, N times a page. The
median score of each category is written to docs/benchmarks.md (between the
``lighthouse:start``/``lighthouse:end`` markers) and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import screenshots  # noqa: E402

LIGHTHOUSE = ROOT / "bench" / "node_modules" / ".bin" / "lighthouse"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- lighthouse:start -->", "<!-- lighthouse:end -->"
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
# name, path, public?
PAGES = [
    ("login", "/login", True),
    ("register", "/register", True),
    ("home (Today)", "/today", False),
    ("invoice list", "/invoices/", False),
    ("invoice detail", "/invoices/{partial_invoice}", False),
    ("reminder settings", "/settings/reminders", False),
]
BUDGET = {"performance": 95, "accessibility": 100, "best-practices": 95, "seo": 90}


def session_cookie(app) -> str:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login",
        data={"csrf_token": token, "email": screenshots.DEMO_EMAIL, "password": screenshots.DEMO_PASSWORD},
    )
    assert answer.status_code in (302, 303), answer.status_code
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie after logging in"
    return f"session={cookie.value}"


def run_lighthouse(url: str, cookie: str | None, out: Path) -> dict[str, float]:
    command = [
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--form-factor=mobile",
        "--screenEmulation.mobile",
        "--throttling-method=simulate",
        f"--chrome-flags={CHROME_FLAGS}",
        "--quiet",
    ]
    if cookie:
        command.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    env = dict(os.environ, CHROME_PATH=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
    subprocess.run(command, check=True, env=env, timeout=300)
    report = json.loads(out.read_text())
    landed = report.get("finalDisplayedUrl") or report.get("finalUrl")
    if landed != url:
        raise SystemExit(f"{url} ended on {landed} (session cookie refused?)")
    scores = {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}
    failing = [
        f"{a['id']} ({a['score']})"
        for a in report["audits"].values()
        if a.get("score") is not None
        and a["score"] < 1
        and a.get("scoreDisplayMode") in ("binary", "numeric")
    ]
    scores["failing"] = failing
    scores["lcp"] = report["audits"]["largest-contentful-paint"]["numericValue"]
    scores["cls"] = report["audits"]["cumulative-layout-shift"]["numericValue"]
    return scores


def table(rows, runs, load_before, load_after) -> str:
    lines = [
        START,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {runs} runs a page, median; load average "
        f"{load_before} before, {load_after} after (the machine is shared).",
        "",
        "| page | performance (≥ 95) | accessibility (100) | best practices (≥ 95) | SEO (≥ 90 public) "
        "| LCP (median) | CLS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, public, median, lcp, cls in rows:
        marks = []
        for category in CATEGORIES:
            value = median[category]
            wanted = BUDGET[category]
            if category == "seo" and not public:
                marks.append(f"{value}")
            else:
                marks.append(f"**{value}** {'✓' if value >= wanted else '✗'}")
        lines.append(f"| {name} | {' | '.join(marks)} | {lcp / 1000:.2f} s | {cls:.3f} |")
    lines += ["", END]
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        raise SystemExit(f"{DOC} has no {START} … {END} markers")
    DOC.write_text(text)


def load() -> str:
    return os.getloadavg()[0].__format__(".1f")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave the doc alone")
    parser.add_argument("--only", help="run only the pages whose name contains this")
    args = parser.parse_args(argv)
    if not LIGHTHOUSE.exists():
        print(f"{LIGHTHOUSE} is missing: run bench/lighthouse.sh (npm ci)", file=sys.stderr)
        return 1
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    load_before = load()
    rows = []
    screenshots.SINK.start()
    with tempfile.TemporaryDirectory(prefix="relance-lighthouse-") as folder:
        app, ids = screenshots.build_app(Path(folder))
        cookie = session_cookie(app)
        with screenshots.Server(app) as server:
            for name, path, public in PAGES:
                if args.only and args.only not in name:
                    continue
                url = server.url + path.format(**ids)
                results = []
                for run in range(args.runs):
                    started = time.monotonic()
                    result = run_lighthouse(url, None if public else cookie, Path(folder) / f"lh-{run}.json")
                    results.append(result)
                    print(
                        f"{name} run {run + 1}: "
                        + ", ".join(f"{c} {result[c]}" for c in CATEGORIES)
                        + f", LCP {result['lcp']:.0f} ms ({time.monotonic() - started:.0f} s)"
                        + (f"; below 1: {', '.join(result['failing'])}" if result["failing"] else ""),
                        flush=True,
                    )
                median = {c: statistics.median(r[c] for r in results) for c in CATEGORIES}
                median = {c: int(v) if float(v).is_integer() else v for c, v in median.items()}
                lcp = statistics.median(r["lcp"] for r in results)
                cls = statistics.median(r["cls"] for r in results)
                rows.append((name, public, median, lcp, cls))
    screenshots.SINK.stop()
    block = table(rows, args.runs, load_before, load())
    print(block)
    if not args.no_write and not args.only:
        write_doc(block)
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
