"""Benchmark of writing one reminder email: app/mailer.build (EmailMessage, the
SMTP policy with our folding of non-ASCII headers) against the builders it
replaced, measured in the same run:

- Flask-Mail 0.10 ``Message.as_bytes()`` (what every reminder with a PDF or a QR
  code went through);
- the hand-written fast path ``app/reminders/wire.py`` (text + HTML, nothing
  attached), read from git at the commit before it was removed.

    .venv/bin/python bench/email_build.py --messages 300

A French reminder (about 1.5 KB of text, 8 KB of HTML), a long accented business
name, in two shapes: text + HTML only, and with the QR code (PNG) and a 60 KB
PDF. Prints milliseconds of CPU per message and the ratio new / old. Not a
test: no time limits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine  # noqa: E402

NAME = "Plomberie & Hydraulique Lefèvre-Gauthier Fils SARL via Relance"
SUBJECT = "Deuxième relance : la facture F-2026-014 est en retard de 7 jours"
TEXT = (
    "Bonjour Atelier Moreau,\n\nSauf erreur de notre part, la facture F-2026-014 du 4 novembre 2026, "
    "d'un montant de 1 234,56 €, arrivée à échéance le 4 décembre, reste impayée.\n\n"
) * 6
HTML = (
    "<html><body>"
    + "".join(f"<p>{line} — réglée ?</p>\n" for line in TEXT.splitlines() * 12)
    + "</body></html>"
)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1500)
PDF = b"%PDF-1.7\n" + os.urandom(60_000)


def old_wire():
    """app/reminders/wire.py as it was before mailer.build replaced it, or None."""
    try:
        source = subprocess.run(
            ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", "app/reminders/wire.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        text = subprocess.run(
            ["git", "show", f"{source}~1:app/reminders/wire.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if not text:
        return None
    module = types.ModuleType("old_wire")
    exec(compile(text, "old_wire.py", "exec"), module.__dict__)  # noqa: S102 - our own file from git
    return module


def cpu_ms(function, count: int) -> float:
    function()  # warm
    start = time.process_time()
    for _ in range(count):
        function()
    return (time.process_time() - start) * 1000 / count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args(argv)

    from flask import Flask
    from flask_mail import Mail, Message

    from app import mailer

    app = Flask(__name__)
    app.config.update(MAIL_DEFAULT_SENDER="Relance <no-reply@relance.test>", MAIL_SUPPRESS_SEND=True)
    Mail(app)
    wire = old_wire()

    def flask_mail(attached: bool):
        message = Message(
            subject=SUBJECT,
            recipients=["client@example.com"],
            body=TEXT,
            html=HTML,
            sender=(NAME, "no-reply@relance.test"),
            reply_to="owner@example.com",
        )
        message.msgId = "<reminder-1.abcdef@relance.test>"
        if attached:
            message.attach(
                "qr-code.png", "image/png", PNG, "inline", headers={"Content-ID": "<epc-qr@relance>"}
            )
            message.attach("F-2026-014.pdf", "application/pdf", PDF)
        return message

    def new(attached: bool):
        mail = mailer.compose(
            SUBJECT,
            ["client@example.com"],
            TEXT,
            HTML,
            reply_to="owner@example.com",
            message_id="<reminder-1.abcdef@relance.test>",
            sender_name=NAME,
            auto_submitted=True,
            inline=[("epc-qr@relance", "qr-code.png", "image/png", PNG)] if attached else [],
        )
        if attached:
            mail.attach("F-2026-014.pdf", "application/pdf", PDF)
        return mailer.to_bytes(mail)

    results = {}
    with app.app_context():
        for attached in (False, True):
            shape = "text+html+qr+pdf" if attached else "text+html"
            old = cpu_ms(lambda a=attached: flask_mail(a).as_bytes(), args.messages)
            now = cpu_ms(lambda a=attached: new(a), args.messages)
            results[shape] = {"flask_mail_ms": round(old, 3), "mailer_build_ms": round(now, 3)}
            results[shape]["ratio_new_over_flask_mail"] = round(now / old, 2)
            if not attached and wire is not None:
                fast = cpu_ms(lambda: wire.to_bytes(flask_mail(False)), args.messages)
                results[shape]["old_wire_fast_path_ms"] = round(fast, 3)
                results[shape]["ratio_new_over_wire"] = round(now / fast, 2)
    print({"machine": machine(), "messages": args.messages, **results})
    for shape, row in results.items():
        print(shape, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
