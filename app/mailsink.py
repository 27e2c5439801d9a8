"""A local SMTP sink (aiosmtpd) that keeps every message it receives.

`make run` starts it so that no development email ever leaves the machine
(`/dev/outbox` lists them); the tests start one on a free port and read
``sink.messages`` to see who received what.
"""

from __future__ import annotations

import email
import socket
import threading
import time
import uuid
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SinkHandler:
    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        # Tests set this to make the sink answer, e.g., "421 try later".
        self.reply_to_data: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.reply_to_data:
            return self.reply_to_data
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
            (self.folder / name).write_bytes(message.as_bytes())
        return "250 Message accepted for delivery"


class MailSink:
    """An aiosmtpd server on 127.0.0.1 (``port=None`` picks a free one)."""

    def __init__(self, port: int | None = None, folder: Path | None = None):
        self.port = port or free_port()
        self.handler = SinkHandler(folder)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        with self.handler.lock:
            return list(self.handler.messages)

    def clear(self):
        with self.handler.lock:
            self.handler.messages.clear()
        self.handler.reply_to_data = None

    def to(self, address: str):
        """Messages whose envelope recipients include ``address``."""
        return [m for m in self.messages if address in m["X-Rcpt-To"].split(", ")]

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()
