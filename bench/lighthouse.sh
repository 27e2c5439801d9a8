#!/usr/bin/env bash
# Lighthouse scores of the main screens (phone emulation, simulated throttling), median of
# 3 runs each, written to docs/benchmarks.md ("Lighthouse" section).
#
#   bench/lighthouse.sh                 # all pages, 3 runs each, writes the doc
#   bench/lighthouse.sh --runs 1 --no-write --only login
#
# Needs node + npm (the pinned lighthouse goes to bench/node_modules with `npm ci`),
# Debian's chromium (CHROME_PATH, /usr/bin/chromium by default) and the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROME_PATH" ]; then
  echo "$CHROME_PATH is missing: apt-get install -y chromium" >&2
  exit 1
fi
if [ ! -x bench/node_modules/.bin/lighthouse ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  (cd bench && npm ci --no-audit --no-fund)
fi
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" bench/lighthouse.py "$@"
