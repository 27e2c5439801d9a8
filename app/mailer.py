"""Compose with Flask-Mail, send over our own SMTP connection with a timeout.

Flask-Mail 0.10 opens ``smtplib.SMTP`` without a timeout, so a silent server
would hang the sender forever; :class:`Outbox` opens the connection itself.
"""

from __future__ import annotations

import smtplib
import ssl
from email.utils import parseaddr

from flask import current_app
from flask_mail import Message


def render_email(name: str, **context) -> str:
    """A template of an email, rendered without Flask's page machinery (context
    processors for pages, signals): an email reads only what it is given, the
    Jinja globals (``_``, ``current_locale``) and the filters. Several of these
    run for every reminder the worker sends."""
    return current_app.jinja_env.get_template(name).render(context)


def compose(
    subject: str,
    recipients: list[str],
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    message_id: str | None = None,
) -> Message:
    message = Message(
        # One line: a CR or LF in a subject would start new headers.
        subject=" ".join(str(subject).split()),
        recipients=recipients,
        body=text,
        html=html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        reply_to=reply_to or None,
    )
    if message_id:
        message.msgId = message_id
    return message


class Outbox:
    """One SMTP connection, reused for several messages (``with Outbox() as out``)."""

    def __init__(self, config=None):
        self.config = config or current_app.config
        self.smtp = None

    def __enter__(self):
        cfg = self.config
        timeout = cfg.get("MAIL_TIMEOUT", 30)
        if cfg.get("MAIL_USE_SSL"):
            self.smtp = smtplib.SMTP_SSL(
                cfg["MAIL_SERVER"],
                cfg["MAIL_PORT"],
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            self.smtp = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
            if cfg.get("MAIL_USE_TLS"):
                self.smtp.starttls(context=ssl.create_default_context())
        if cfg.get("MAIL_USERNAME"):
            self.smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        return self

    def send(self, message: Message) -> str:
        """Send one message; returns its Message-ID."""
        sender = message.sender if isinstance(message.sender, str) else message.sender[1]
        self.smtp.sendmail(
            parseaddr(sender)[1],
            list(message.send_to),
            message.as_bytes(),
        )
        return message.msgId

    def __exit__(self, *exc):
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        return False


def send(message: Message) -> str:
    with Outbox() as outbox:
        return outbox.send(message)
