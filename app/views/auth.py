"""Register, log in and out, reset a forgotten password, sign in by an emailed link.

None of these answers tells whether an address has an account (issue 14): the
same page, the same message and the same work (one password hash) either way.
"""

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from .. import loginguard, mailer, tokens, verification
from ..extensions import db, limiter
from ..forms import (
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    SignInForm,
    SignInLinkForm,
)
from ..models import Account, check_no_password
from ..urls import external_url
from . import form_status

bp = Blueprint("auth", __name__)


def _email_key():
    return "email:" + Account.normalise_email(request.form.get("email", ""))


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _mail_limit():
    return current_app.config["AUTH_MAIL_RATE_LIMIT"]


def _mail_ip_limit():
    return current_app.config["AUTH_MAIL_IP_RATE_LIMIT"]


def safe_next(target):
    """Only a local path: ``//evil.example``, ``/\\evil.example`` and URLs are refused."""
    if not target or not isinstance(target, str):
        return None
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def find_account(email):
    return db.session.scalar(select(Account).where(Account.email == Account.normalise_email(email)))


def _sent_mail(response):
    # Counts only the answers that sent an email (a typo in the form costs nothing).
    return response.status_code == 200


def _redirected(response):
    # The same for the forms that answer an email request with a redirect.
    return response.status_code == 302


def _mail_caps(sent=_sent_mail):
    """The caps of every logged-out page that emails an address: per address and
    per IP (``AUTH_MAIL_RATE_LIMIT``, ``AUTH_MAIL_IP_RATE_LIMIT``), counting only
    the answers for which ``sent`` is true."""

    def decorate(view):
        view = limiter.limit(_mail_limit, key_func=_email_key, methods=["POST"], deduct_when=sent)(view)
        return limiter.limit(_mail_ip_limit, methods=["POST"], deduct_when=sent)(view)

    return decorate


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@_mail_caps(_sent_mail)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        email = Account.normalise_email(form.email.data)
        existing = find_account(email)
        if existing is not None:
            # The work of a new account (one hash), a warning to the owner, nothing created.
            generate_password_hash(form.password.data, method="scrypt")
            if existing.email_verified_at is None:
                # Not confirmed yet: whoever registered first chose its password, and
                # that may not be the mailbox's owner. The mailbox gets a link to
                # choose a password (which also confirms), never a plain sign-in.
                _send_reset(existing)
            else:
                _send_someone_registered(existing)
        else:
            language = request.accept_languages.best_match(("fr", "en"), default="fr")
            account = Account(
                email=email,
                business_name=form.business_name.data.strip(),
                timezone=form.timezone.data or "Europe/Paris",
                language=language,
                currency="CAD" if (form.timezone.data or "").startswith("America/") else "EUR",
            )
            account.set_password(form.password.data)
            db.session.add(account)
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()  # the same address registered at the same moment
            else:
                _send_confirmation(account)
        # Nobody is logged in here: the new owner follows the emailed link, so this
        # page is the same whether or not the address already had an account.
        return render_template("auth/check_inbox.html", email=email)
    return render_template("auth/register.html", form=form), form_status(form)


_SUBJECTS = {
    "emails/register_confirm.txt": lambda: _("Confirm your address to start with Relance"),
    "emails/register_exists.txt": lambda: _("Someone tried to register with your address"),
    "emails/signin_link.txt": lambda: _("Your Relance sign-in link"),
    "emails/password_reset.txt": lambda: _("Reset your Relance password"),
}


def _send(account, template, html=None, **context):
    """Mail ``template`` (and the ``html`` template, when given) to the account,
    quietly: a mail that did not go changes no answer."""
    with force_locale(account.language):
        text = render_template(template, account=account, **context)
        html_part = render_template(html, account=account, **context) if html else None
        subject = _SUBJECTS[template]()
    try:
        mailer.send(mailer.compose(subject, [account.email], text, html_part))
    except mailer.SEND_ERRORS as error:
        # The same answer either way (it must not tell whether a mail was due); the
        # owner can ask again, or for a reset link, once the mail server answers.
        current_app.logger.warning("auth mail %s not sent: %s", template, error)


def _send_confirmation(account):
    link = external_url("auth.confirm_email", token=signin_token(account, "confirm"))
    _send(account, "emails/register_confirm.txt", link=link)


def _send_reset(account):
    link = external_url("auth.reset_password", token=reset_token(account))
    _send(account, "emails/password_reset.txt", html="emails/password_reset.html", link=link)


def _send_someone_registered(account):
    _send(
        account,
        "emails/register_exists.txt",
        login_link=external_url("auth.login"),
        reset_link=external_url("auth.reset_password", token=reset_token(account)),
    )


def _locked_page(email, lock):
    form = SignInLinkForm(formdata=None, data={"email": email})
    return render_template("auth/locked.html", form=form, minutes=lock.minutes() if lock else None), 429


def locked_login_page():
    """The 429 of the login form (Flask-Limiter's own limits): the way out by email too."""
    return _locked_page(Account.normalise_email(request.form.get("email", ""))[:254], None)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, key_func=_email_key, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = Account.normalise_email(form.email.data)
        subjects = (("address", email), ("ip", get_remote_address()))
        lock = loginguard.locked(*subjects)
        if lock:
            return _locked_page(email, lock)
        account = find_account(email)
        if account is None:
            check_no_password(form.password.data)  # the same work as a wrong password
        elif account.check_password(form.password.data) and account.email_verified_at is not None:
            # An address not yet confirmed cannot log in with a password (its owner
            # follows the emailed link): registering then logging in would tell an
            # address without an account from one with.
            loginguard.clear("address", email)
            login_user(account, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
        loginguard.failed(*subjects)
        form.password.errors.append(_("This email and password do not match."))
    return render_template("auth/login.html", form=form), form_status(form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Server-side: the session cookie (and a remember-me cookie) stop working
        # everywhere, including a copy an attacker took.
        current_user.rotate_session()
        db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/link", methods=["GET", "POST"])
@_mail_caps(_redirected)
def send_signin_link():
    form = SignInLinkForm()
    if request.method == "GET":
        # The login page's "Email me a sign-in link": the way in without the
        # password, also for an owner whose address is not confirmed yet.
        return render_template("auth/signin_request.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/locked.html", form=form, minutes=None), 422
    account = find_account(form.email.data)
    if account is not None and account.email_verified_at is None:
        _send_reset(account)  # see register(): an unconfirmed account's password may be a stranger's
    elif account is not None:
        link = external_url("auth.signin_link", token=signin_token(account, "signin"))
        _send(account, "emails/signin_link.txt", link=link)
    # Same answer whether or not the address has an account.
    flash(
        _("If an account uses this address, a sign-in link is on its way. It works once, for 30 minutes."),
        "success",
    )
    return redirect(url_for("auth.login"))


def _link_page(purpose, token, max_age):
    account = account_from_signin_token(token, purpose, max_age)
    if account is None:
        return render_template("auth/link_invalid.html"), 400
    form = SignInForm()
    if request.method == "POST" and form.validate_on_submit():
        # The link proved the mailbox: the address is confirmed (what waited for it
        # goes) and its failures forgotten; the new token makes the link single-use.
        account.rotate_session()
        if account.email_verified_at is None:
            verification.confirm_and_release(account)
        db.session.commit()
        loginguard.clear("address", account.email)
        logout_user()
        login_user(account, remember=True)
        if purpose == "confirm":
            flash(_("Welcome to Relance! Add your first client and invoice."), "success")
        else:
            flash(_("You are signed in."), "success")
        return redirect(url_for("home.index"))
    return render_template("auth/link.html", form=form, purpose=purpose, account=account)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def confirm_email(token):
    return _link_page("confirm", token, current_app.config["CONFIRM_LINK_MAX_AGE"])


@bp.route("/login/link/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def signin_link(token):
    return _link_page("signin", token, current_app.config["SIGNIN_LINK_MAX_AGE"])


def _serializer(salt="password-reset"):
    return tokens.serializer(salt)


def _password_fingerprint(account):
    # Changes with the password, so each link works once, and with the address, so
    # a link mailed to a former address stops working; a digest, so the link
    # carries nothing of the hash itself.
    return hashlib.sha256(f"{account.password_hash}\n{account.email}".encode()).hexdigest()[:16]


def reset_token(account):
    return _serializer().dumps({"id": account.id, "h": _password_fingerprint(account)})


def account_from_token(token):
    try:
        data = _serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    account = db.session.get(Account, data.get("id")) if isinstance(data.get("id"), int) else None
    if account is None or not hmac.compare_digest(_password_fingerprint(account), str(data.get("h"))):
        return None
    return account


def _session_fingerprint(account):
    # Changes when the link is used (rotate_session), so each link works once.
    return hashlib.sha256(account.session_token.encode()).hexdigest()[:16]


def signin_token(account, purpose):
    """A link that signs ``account`` in: "confirm" (registration), "signin" (lockout)."""
    return _serializer("signin-" + purpose).dumps({"id": account.id, "s": _session_fingerprint(account)})


def account_from_signin_token(token, purpose, max_age):
    try:
        data = _serializer("signin-" + purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    account = db.session.get(Account, data["id"]) if 0 < data["id"] <= 2**31 - 1 else None
    if account is None or not hmac.compare_digest(_session_fingerprint(account), str(data.get("s"))):
        return None
    if purpose == "confirm" and account.email_verified_at is not None:
        return None  # already confirmed: the owner logs in
    return account


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, key_func=_email_key, methods=["POST"])
@_mail_caps(_redirected)
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account = find_account(form.email.data)
        if account:
            _send_reset(account)
        # Same answer whether or not the address has an account.
        flash(
            _("If an account uses this address, a reset link is on its way. It works for one hour."),
            "success",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form), form_status(form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token):
    account = account_from_token(token)
    if account is None:
        return render_template("auth/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        account.set_password(form.password.data)
        account.rotate_session()
        if account.email_verified_at is None:
            verification.confirm_and_release(account)  # the link proved the mailbox
        db.session.commit()
        loginguard.clear("address", account.email)
        logout_user()
        flash(_("Your password is changed. Log in with the new one."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), form_status(form)
