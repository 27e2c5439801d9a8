"""Development only: the messages caught by the local SMTP sink (`make run`)."""

import email
from email import policy
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("dev", __name__, url_prefix="/dev")


def outbox_dir():
    return Path(current_app.instance_path) / "outbox"


def _read(path):
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("plain", "html"))
    html = message.get_body(preferencelist=("html",))
    return {
        "id": path.stem,
        "subject": message["subject"],
        "from": message["from"],
        "to": message["x-rcpt-to"] or message["to"],
        "date": message["date"],
        "text": body.get_content() if body else "",
        "html": html.get_content() if html else "",
    }


@bp.route("/outbox")
def outbox():
    folder = outbox_dir()
    paths = sorted(folder.glob("*.eml"), reverse=True)[:100] if folder.exists() else []
    return render_template("dev/outbox.html", messages=[_read(p) for p in paths])


def _message_path(message_id):
    if not message_id.replace("-", "").isalnum():
        abort(404)
    path = outbox_dir() / f"{message_id}.eml"
    if not path.exists():
        abort(404)
    return path


@bp.route("/outbox/<message_id>")
def outbox_message(message_id):
    return render_template("dev/message.html", message=_read(_message_path(message_id)))


# The email's HTML as a mail client gets it: inline styles, no scripts. A frame of the
# message page (a srcdoc frame would take the page's policy, which refuses its styles),
# sandboxed to an opaque origin.
EMAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"


@bp.route("/outbox/<message_id>/html")
def outbox_message_html(message_id):
    response = current_app.response_class(_read(_message_path(message_id))["html"], mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
