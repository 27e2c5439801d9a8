"""The bytes of a plain reminder email, written directly.

Flask-Mail serialises through the ``email`` package with the SMTP policy, which
parses every header back while writing it out: about half of a worker's CPU per
reminder went there. For the common case — text + HTML, no attachment, ASCII
addresses, one recipient — :func:`to_bytes` writes the same message (a
``multipart/alternative`` with both bodies as UTF-8, 8bit as Flask-Mail sends
them, and the same headers) in a few string operations. Anything else (an
attachment, an inline image, Cc/Bcc, extra headers, non-ASCII addresses, a line
too long for 8bit) returns ``None``, and the caller uses ``message.as_bytes()``.
"""

from __future__ import annotations

import base64
import secrets
from email.utils import formataddr, formatdate

MAX_LINE = 998  # RFC 5322, without CRLF
_SPECIAL_HEADER = ("\r", "\n", "\0")


def _ascii(value: str) -> bool:
    return value.isascii() and not any(c in value for c in _SPECIAL_HEADER)


def encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words (each at most 75 characters), folded."""
    words, chunk = [], b""
    for char in text:
        data = char.encode()
        if len(chunk) + len(data) > 45:  # 45 bytes -> 60 base64 characters
            words.append(chunk)
            chunk = b""
        chunk += data
    if chunk:
        words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)


def _header_text(text: str) -> str | None:
    if any(c in text for c in _SPECIAL_HEADER) or "=?" in text:
        return None
    if text.isascii():
        return text if len(text) <= 900 else None
    return encoded_words(text)


def _address(value) -> str | None:
    if isinstance(value, tuple):
        name, address = value
    else:
        name, address = "", value
    if not isinstance(address, str) or not _ascii(address) or "@" not in address:
        return None
    if not name:
        return address
    if _ascii(name):
        return formataddr((name, address))
    words = _header_text(name)
    return None if words is None else f"{words} <{address}>"


def _body(text: str) -> tuple[str, bytes] | None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    data = "\r\n".join(lines).encode()
    if any(len(line.encode()) > MAX_LINE for line in lines):
        return None
    return ("7bit" if data.isascii() else "8bit"), data


def to_bytes(message) -> bytes | None:
    """The wire form of a Flask-Mail message, or None when it is not a plain one."""
    if (
        message.attachments
        or message.cc
        or message.bcc
        or message.extra_headers
        or (message.charset or "utf-8").lower() not in ("utf-8", "utf8")
        or set(message.alts) != {"html"}
        or not isinstance(message.body, str)
        or len(message.recipients) != 1
    ):
        return None
    subject = _header_text(str(message.subject or ""))
    sender = _address(message.sender)
    recipient = _address(message.recipients[0])
    reply_to = _address(message.reply_to) if message.reply_to else ""
    message_id = str(message.msgId)
    if subject is None or sender is None or recipient is None or reply_to is None or not _ascii(message_id):
        return None
    text, html = _body(message.body), _body(message.html)
    if text is None or html is None:
        return None
    boundary = f"=_relance_{secrets.token_hex(16)}"
    if boundary.encode() in text[1] or boundary.encode() in html[1]:
        return None
    headers = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
    ]
    if subject:
        headers.append(f"Subject: {subject}")
    headers += [
        f"From: {sender}",
        f"To: {recipient}",
        f"Date: {formatdate(message.date, localtime=True)}",
        f"Message-ID: {message_id}",
    ]
    if reply_to:
        headers.append(f"Reply-To: {reply_to}")
    parts = [("\r\n".join(headers) + "\r\n\r\n").encode()]
    for subtype, (encoding, data) in (("plain", text), ("html", html)):
        parts.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        )
        parts.append(data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)
