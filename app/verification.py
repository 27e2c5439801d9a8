"""The owner proves the address is theirs (issue 14: Relance is no open relay).

A link mailed at registration carries a token signed with the app's secret: it
names the account and a digest of its address, and expires
(``EMAIL_VERIFY_MAX_AGE``). It works once: following it sets
``email_verified_at``, and a token whose account is already confirmed, or whose
address has changed since, is refused. Until then nothing goes to a client
(app/reminders/gate.py); what waited goes at the next pass once confirmed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from . import clock, mailer
from .extensions import db
from .models import Account
from .reminders import gate
from .urls import external_url

log = logging.getLogger(__name__)

INVALID = "invalid"  # tampered, truncated, signed with another secret, another account's
EXPIRED = "expired"
USED = "used"  # already confirmed


class _ClockSigner(TimestampSigner):
    # Token age is measured on app/clock.py, like every other time in Relance.
    def get_timestamp(self):
        return int(clock.now().timestamp())


class _ClockSerializer(URLSafeTimedSerializer):
    default_signer = _ClockSigner


def _serializer():
    return _ClockSerializer(current_app.config["SECRET_KEY"], salt="email-verify")


def _address_digest(email: str) -> str:
    # Ties the token to the address it was mailed to, without carrying the address.
    return hashlib.sha256(Account.normalise_email(email).encode()).hexdigest()[:16]


def token_for(account: Account) -> str:
    return _serializer().dumps({"id": account.id, "a": _address_digest(account.email)})


@dataclass
class Outcome:
    account: Account | None
    problem: str | None = None  # INVALID, EXPIRED, USED; None: this account, unconfirmed


def _account_named(data) -> Account | None:
    if not isinstance(data, dict):
        return None
    account_id = data.get("id")
    if not isinstance(account_id, int) or isinstance(account_id, bool) or not 0 < account_id < 2**31:
        return None
    account = db.session.get(Account, account_id)
    if account is None or not hmac.compare_digest(_address_digest(account.email), str(data.get("a"))):
        return None
    return account


def read_token(token: str) -> Outcome:
    """Which account a link confirms, or why it does not."""
    serializer = _serializer()
    try:
        data = serializer.loads(token, max_age=current_app.config["EMAIL_VERIFY_MAX_AGE"])
    except SignatureExpired:
        return Outcome(None, EXPIRED)
    except BadSignature:
        return Outcome(None, INVALID)
    account = _account_named(data)
    if account is None:
        return Outcome(None, INVALID)
    if account.email_verified_at is not None:
        return Outcome(account, USED)
    return Outcome(account)


def confirm(account: Account) -> list[int]:
    """Mark the address confirmed and release what waited for it (the caller
    commits). Returns the ids of the emails to clients that were waiting."""
    account.email_verified_at = clock.now()
    return gate.release_unverified(account.id)


def send_verification(account: Account) -> bool:
    """Mail the link to the owner's address (only there). False when the mail
    server could not take it: the banner's "resend the link" tries again."""
    link = external_url("verify.confirm", token=token_for(account))
    hours = current_app.config["EMAIL_VERIFY_MAX_AGE"] // 3600
    with force_locale(account.language):
        context = {"account": account, "link": link, "hours": hours}
        text = render_template("emails/verify.txt", **context)
        html = render_template("emails/verify.html", **context)
        subject = _("Confirm your email address for Relance")
    try:
        mailer.send(mailer.compose(subject, [account.email], text, html))
    except mailer.SEND_ERRORS as error:
        log.warning("account %s: verification link not sent: %s", account.id, error)
        return False
    return True
