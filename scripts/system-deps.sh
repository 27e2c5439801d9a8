#!/usr/bin/env bash
# Debian packages Relance needs besides Python: installed with apt when missing.
#   scripts/system-deps.sh run   pango + a font (WeasyPrint draws the invoice and letter PDFs)
#   scripts/system-deps.sh test  the same + chromium (browser tests drive /usr/bin/chromium)
# Called by `make run` and `make test`; does nothing when everything is there.
set -euo pipefail

need=()
# WeasyPrint loads pango through cffi at import time.
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0' || need+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || need+=(libpangoft2-1.0-0)
# Fonts for the PDFs (any TrueType font will do; DejaVu is Debian's default).
[ -n "$(fc-list 2>/dev/null | head -n 1)" ] || need+=(fonts-dejavu-core)
if [ "${1:-run}" = "test" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing with apt: ${need[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "Not root and no sudo: please run  apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
