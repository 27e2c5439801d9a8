"""Translator's helper for translations/fr: list what is left, apply translations from JSON.

    python scripts/po_todo.py list [--json out.json]   # untranslated + fuzzy entries
    python scripts/po_todo.py apply in.json             # {msgid: msgstr} or {msgid: [sg, pl]}
    python scripts/po_todo.py check                     # placeholders / HTML tags kept, counts

Keys of the JSON are msgids (for plurals: the singular msgid); an optional context is written
"context\x04msgid".
"""

import json
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\([a-zA-Z0-9_]+\)[sdfr]|%[sd]|\{[^{}]*\}|\{\{|\}\}")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def load():
    with PO.open("rb") as f:
        return read_po(f, locale="fr")


def save(catalog):
    with PO.open("wb") as f:
        write_po(f, catalog, width=76)


def key(m):
    mid = m.id[0] if isinstance(m.id, tuple) else m.id
    return f"{m.context}\x04{mid}" if m.context else mid


def empty(m):
    s = m.string
    if isinstance(s, tuple):
        return any(not x for x in s)
    return not s


def todo(catalog):
    return [m for m in catalog if m.id and (empty(m) or m.fuzzy)]


def cmd_list(args):
    cat = load()
    items = todo(cat)
    out = []
    for m in items:
        out.append(
            {
                "key": key(m),
                "id": list(m.id) if isinstance(m.id, tuple) else m.id,
                "string": list(m.string) if isinstance(m.string, tuple) else m.string,
                "fuzzy": m.fuzzy,
                "where": [f"{p}:{n}" for p, n in m.locations][:3],
                "comments": m.auto_comments,
            }
        )
    if args and args[0] == "--json":
        Path(args[1]).write_text(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for o in out:
            print(json.dumps(o, ensure_ascii=False))
    print(f"{len(items)} untranslated or fuzzy", file=sys.stderr)


def problems(m):
    ids = list(m.id) if isinstance(m.id, tuple) else [m.id]
    strs = list(m.string) if isinstance(m.string, tuple) else [m.string]
    errs = []
    ph_id = sorted(set(PLACEHOLDER.findall(" ".join(ids))))
    for s in strs:
        if not s:
            continue
        if sorted(set(PLACEHOLDER.findall(s))) != ph_id:
            errs.append(f"placeholders {ph_id} vs {sorted(set(PLACEHOLDER.findall(s)))}")
        if sorted(TAG.findall(ids[0])) != sorted(TAG.findall(s)) and len(ids) == 1:
            errs.append(f"tags {TAG.findall(ids[0])} vs {TAG.findall(s)}")
    return errs


def typography(text):
    """French spacing: a no-break space before : ; ? ! » and %, and after «."""
    text = re.sub(r" ([:;?!»]|%%|%(?![(a-z]))", "\u00a0\\1", text)
    return text.replace("« ", "«\u00a0")


def cmd_apply(args):
    data = json.loads(Path(args[0]).read_text())
    cat = load()
    by_key = {key(m): m for m in cat if m.id}
    applied = 0
    for k, v in data.items():
        m = by_key.get(k)
        if m is None:
            print(f"not in catalogue: {k!r}", file=sys.stderr)
            continue
        if isinstance(m.id, tuple):
            if not isinstance(v, list):
                print(f"plural needs a list: {k!r}", file=sys.stderr)
                continue
            m.string = tuple(typography(x) for x in v)
        else:
            m.string = typography(v)
        m.flags.discard("fuzzy")
        errs = problems(m)
        if errs:
            print(f"CHECK {k!r}: {errs}", file=sys.stderr)
        applied += 1
    save(cat)
    print(f"applied {applied}; left {len(todo(cat))}", file=sys.stderr)


def cmd_check(args):
    cat = load()
    bad = 0
    for m in cat:
        if m.id and not empty(m):
            errs = problems(m)
            if errs:
                bad += 1
                print(f"{key(m)!r}: {errs}")
    total = sum(1 for m in cat if m.id)
    print(f"{total} entries, {len(todo(cat))} untranslated/fuzzy, {bad} with placeholder/tag doubts")


if __name__ == "__main__":
    {"list": cmd_list, "apply": cmd_apply, "check": cmd_check}[sys.argv[1]](sys.argv[2:])
