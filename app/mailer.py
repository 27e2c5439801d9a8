"""Every outgoing email: :func:`compose` says what it is made of, :func:`build`
writes it, :class:`Outbox` sends it over SMTP with a timeout.

Flask-Mail (the design card's mail extension, configured by its ``MAIL_*``
settings) is kept for its configuration, but its 0.10 ``Message`` writes headers
with the legacy ``email`` API: a long non-ASCII display name came out folded
inside encoded words, and mail clients showed "Hydrauliqu es" (docs/security.md,
"Email that mail clients read right"). :func:`build` writes every message with
``email.message.EmailMessage`` and ``email.policy.SMTP``: From, To and Reply-To
as ``headerregistry.Address``, the subject as a ``str``, so that the policy
quotes, encodes and folds them as RFC 5322 and RFC 2047 say. It also opens the
connection itself: Flask-Mail opens ``smtplib.SMTP`` without a timeout, so a
silent server would hang the sender forever.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address, AddressHeader, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr

from flask import current_app

from . import clock

# Characters a Q-encoded word may show as themselves in a phrase (RFC 2047 5(3)).
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# Characters an atom of a display name cannot hold (RFC 5322 specials, "." too).
_SPECIALS = frozenset('()<>[]:;@\\,."')
# At most 75 characters an encoded word (RFC 2047 2), and lines within the 78
# the policy folds to with "Reply-To: " before the first one.
_WORD_MAX = 64


def _q(data: bytes) -> str:
    return "".join(chr(b) if b in _Q_SAFE else "_" if b == 32 else f"={b:02X}" for b in data)


def encoded_words(text: str) -> list[str]:
    """``text`` as Q encoded words of at most 64 characters, cut after a space
    when one is near (never inside a character). Every character, spaces
    included, is inside a word: a reader drops the white space *between* two
    encoded words, so a fold there loses nothing."""
    words, chunk, size, cut = [], "", 0, None
    for char in text:
        width = len(_q(char.encode()))
        if chunk and size + width > _WORD_MAX - 12:  # 12: =?utf-8?q? and ?=
            head, tail = (chunk[: cut + 1], chunk[cut + 1 :]) if cut is not None else (chunk, "")
            words.append(head)
            chunk, cut = tail, None
            size = len(_q(chunk.encode()))
        if char == " ":
            cut = len(chunk)
        chunk += char
        size += width
    if chunk:
        words.append(chunk)
    return [f"=?utf-8?q?{_q(word.encode())}?=" for word in words]


def header_tokens(text: str, phrase: bool) -> list[str]:
    """The words of a header value, ready to fold between: ASCII words as they
    are (in a display name, quoted when they hold a special character such as
    the comma of "Dupont, Martin"), each run of non-ASCII words as encoded words
    that carry the run and the spaces inside it. A reader keeps the space
    between an encoded word and a plain one, and drops it between two encoded
    words: no space is lost, none is added."""
    tokens, run = [], []
    # Decoders of unstructured text (email.header.make_header) add no space
    # after "(", ")" or "\\": those words travel inside encoded words too.
    awkward = _SPECIALS if phrase else frozenset("()\\")
    for word in text.split(" "):
        if not word.isascii() or "=?" in word or (not phrase and awkward & set(word)):
            run.append(word)
            continue
        if run:
            tokens += encoded_words(" ".join(run))
            run = []
        if phrase and awkward & set(word):
            word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
        tokens.append(word)
    if run:
        tokens += encoded_words(" ".join(run))
    return tokens


def _has_groups(value: AddressHeader) -> bool:
    return any(group.display_name is not None for group in value.groups)


class SMTPPolicy(EmailPolicy):
    """``email.policy.SMTP``, with non-ASCII text in headers written right.

    The policy's own folder (CPython 3.11.7, checked on 3,000 random French
    phrases) drops the space between two words when it folds between encoded
    words: about 1 subject and 1 display name in 25 arrived as "électricitéréalisés"
    or "»Œil". Here a subject or a display name that is not ASCII is written by
    :func:`header_tokens` and folded between its tokens; ASCII ones, and every
    other header, are folded by the policy."""

    def _fold(self, name, value, refold_binary=False):
        text = str(value)
        if not text.isascii() and isinstance(value, UnstructuredHeader):
            return self._lines(name, header_tokens(text, phrase=False))
        if not text.isascii() and isinstance(value, AddressHeader) and not _has_groups(value):
            tokens = []
            for index, item in enumerate(value.addresses):
                if index:
                    tokens[-1] += ","
                if item.display_name.isascii():
                    tokens += str(item).split(" ")
                else:
                    tokens += header_tokens(item.display_name, phrase=True) + [f"<{item.addr_spec}>"]
            return self._lines(name, tokens)
        return super()._fold(name, value, refold_binary)

    def _lines(self, name: str, tokens: list[str]) -> str:
        """``Name: token token…``, folded between tokens before 78 characters."""
        lines, line = [], f"{name}:"
        for token in tokens:
            if len(line) + 1 + len(token) > self.max_line_length and line != f"{name}:":
                lines.append(line)
                line = ""
            line += " " + token
        lines.append(line)
        return self.linesep.join(lines) + self.linesep


# policy.SMTP is the default policy with CRLF line ends; this is it, but for the
# folding of non-ASCII headers above.
POLICY = SMTPPolicy(linesep="\r\n")


class BadAddress(ValueError):
    """An address no header can carry (a CR, LF or other control character, or
    not an address at all): the message is not sent."""


# Everything that means "this message did not go": the mail server refused or
# could not be reached, or an address cannot be written. Every sender catches
# exactly these (a sender that caught fewer turned a refused address into a 500).
SEND_ERRORS = (smtplib.SMTPException, OSError, UnicodeError, BadAddress)


def sendable(value: str) -> bool:
    """Whether an address typed in a form can be written on the wire (the forms
    refuse the others with a message rather than fail when mail goes out)."""
    try:
        address(value)
    except BadAddress:
        return False
    return True


def render_email(name: str, **context) -> str:
    """A template of an email, rendered without Flask's page machinery (context
    processors for pages, signals): an email reads only what it is given, the
    Jinja globals (``_``, ``current_locale``) and the filters. Several of these
    run for every reminder the worker sends."""
    return current_app.jinja_env.get_template(name).render(context)


def one_line(text) -> str:
    """Header text on one line: every line break (CR, LF, NEL, U+2028…) and other
    control character becomes a space, runs of white space one space. A header
    value that kept one would start a new header."""
    text = str(text or "")
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c == " " else " " for c in text)
    return " ".join(text.split())


def display_name(text, limit: int = 200) -> str:
    """A display name from user text (a business name): on one line, without the
    characters that make an address (``<``, ``>``, ``@``) so that no name can
    show as somebody else's address, and without quotes and backslashes (the
    policy quotes the name itself)."""
    cleaned = one_line(text).translate({ord(c): " " for c in '<>@"\\'})
    return " ".join(cleaned.split())[:limit].strip()


def address(value: str) -> Address:
    """An ``Address`` for a bare address (``name@example.com``), ASCII on the wire:
    the domain in IDNA. :class:`BadAddress` when it cannot go: not an address, a
    domain the IDNA codec refuses, or a non-ASCII local part (that would need
    SMTPUTF8)."""
    value = str(value or "").strip()
    if not value.isprintable() or " " in value:
        raise BadAddress(f"not an address: {value!r}")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise BadAddress(f"not an address: {value!r}")
    if not local.isascii():  # it would need SMTPUTF8, which we do not ask for
        raise BadAddress(f"not an address SMTP can carry: {value!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as error:
            raise BadAddress(f"not a domain IDNA can write: {value!r}") from error
    try:
        return Address(addr_spec=f"{local}@{domain}")
    except (HeaderParseError, IndexError, ValueError) as error:
        raise BadAddress(f"not an address: {value!r}") from error


@dataclass
class Mail:
    """What one outgoing message is made of (see :func:`build`)."""

    subject: str
    to: list[str]
    text: str
    html: str | None = None
    sender: str = ""  # the address (the envelope's MAIL FROM too)
    sender_name: str = ""
    reply_to: str | None = None
    message_id: str = ""
    # RFC 3834: True on messages nobody clicked for (automatic reminders, the
    # digest), so that well-behaved auto-responders do not answer them.
    auto_submitted: bool = False
    # (Content-ID without <>, filename, content type, bytes) shown inside the HTML.
    inline: list = field(default_factory=list)
    # (filename, content type, bytes): real attachments (the invoice PDF).
    attachments: list = field(default_factory=list)

    def attach(self, filename: str, content_type: str, data: bytes) -> None:
        self.attachments.append((filename, content_type, data))


def compose(
    subject: str,
    recipients: list[str],
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
    message_id: str | None = None,
    sender_name: str | None = None,
    auto_submitted: bool = False,
    inline=(),
) -> Mail:
    """A message from the configured sender (``MAIL_DEFAULT_SENDER``); its name
    replaced by ``sender_name`` when given."""
    default_name, sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    domain = sender.rpartition("@")[2] or "relance.invalid"
    return Mail(
        subject=str(subject),
        to=list(recipients),
        text=text,
        html=html,
        sender=sender,
        sender_name=default_name if sender_name is None else sender_name,
        reply_to=reply_to or None,
        message_id=message_id or make_msgid(domain=domain),
        auto_submitted=auto_submitted,
        inline=list(inline),
    )


def _text_cte(text: str) -> str | None:
    # None: ASCII, the policy picks 7bit (or quoted-printable for long lines).
    # Non-ASCII text is quoted-printable rather than 8bit: we do not ask the
    # server for 8BITMIME, and quoted-printable needs no 8-bit path.
    return None if text.isascii() else "quoted-printable"


def build(mail: Mail) -> EmailMessage:
    """THE builder of every outgoing message.

    ``text/plain``, or ``multipart/alternative`` (text, then HTML); the HTML with
    its inline images (the QR code) in ``multipart/related``, referenced by
    ``cid:``; real attachments (PDFs) make the whole ``multipart/mixed``.
    Raises :class:`BadAddress` for an address that cannot go.
    """
    message = EmailMessage(policy=POLICY)
    message["Subject"] = one_line(mail.subject)
    message["From"] = Address(display_name(mail.sender_name), addr_spec=address(mail.sender).addr_spec)
    message["To"] = [address(recipient) for recipient in mail.to]
    if mail.reply_to:
        message["Reply-To"] = address(mail.reply_to)
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = one_line(mail.message_id)
    if mail.auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, cte=_text_cte(mail.text))
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", cte=_text_cte(mail.html))
        html = message.get_payload()[-1]
        for cid, filename, content_type, data in mail.inline:
            maintype, _slash, subtype = content_type.partition("/")
            html.add_related(data, maintype, subtype, cid=f"<{cid}>", filename=filename, disposition="inline")
    for filename, content_type, data in mail.attachments:
        maintype, _slash, subtype = content_type.partition("/")
        message.add_attachment(data, maintype, subtype, filename=filename)
    return message


def to_bytes(mail: Mail) -> bytes:
    """The message as it goes on the wire (CRLF line ends)."""
    return build(mail).as_bytes()


class Outbox:
    """One SMTP connection, reused for several messages (``with Outbox() as out``).

    The connection settings are Flask-Mail's ``MAIL_*`` configuration, read when
    the connection opens; ``MAIL_TIMEOUT`` (seconds) bounds every socket wait."""

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

    def send(self, mail: Mail, data: bytes | None = None) -> str:
        """Send one message (``data``: already written by :func:`to_bytes`);
        returns its Message-ID."""
        data = to_bytes(mail) if data is None else data
        self.smtp.sendmail(address(mail.sender).addr_spec, [address(to).addr_spec for to in mail.to], data)
        return mail.message_id

    def __exit__(self, *exc):
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        return False


def send(mail: Mail) -> str:
    # Built before the connection opens: a message that cannot be written fails
    # without touching the server.
    data = to_bytes(mail)
    with Outbox() as outbox:
        return outbox.send(mail, data)
