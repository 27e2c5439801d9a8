"""The owner proves the address is theirs (issue 14: Relance is no open relay).

A new account is confirmed by the link mailed at registration (app/views/auth.py,
``auth.confirm_email``). This module's link is for an owner who is signed in
while unconfirmed: after changing the account's email in Settings, or from the
banner's "Resend the link". Its token is signed with the app's secret
(app/tokens.py), names the account and a digest of its address, and expires
(``EMAIL_VERIFY_MAX_AGE``). It works once: following it confirms, and a token
whose account is already confirmed, or whose address has changed since, is
refused. Until the address is confirmed nothing goes to a client
(app/reminders/gate.py). Every way of confirming (this link, the registration
link, an emailed sign-in link, a password reset) goes through ``confirm`` and
``release``, so what waited goes at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired
from redis.exceptions import RedisError

from . import clock, mailer, tokens
from .extensions import db
from .models import Account
from .reminders import gate
from .reminders.dispatch import enqueue_ready
from .urls import external_url

log = logging.getLogger(__name__)

INVALID = "invalid"  # tampered, truncated, signed with another secret, another account's
EXPIRED = "expired"
USED = "used"  # already confirmed


def _serializer():
    return tokens.serializer("email-verify")


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


def confirm_and_release(account: Account) -> list[int]:
    """Confirm the address, commit, and queue what waited for it at once (when
    Redis does not answer, the next tick queues it from the database). Returns
    the ids released. Every path that proves the mailbox calls this."""
    released = confirm(account)
    db.session.commit()
    if released:
        try:
            enqueue_ready(released)
        except RedisError:  # the next tick queues them from the database
            log.warning("account %s: %d released emails left for the next tick", account.id, len(released))
    return released


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
