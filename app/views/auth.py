"""Register, log in and out, reset a forgotten password."""

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from .. import clock, mailer
from ..extensions import db, limiter
from ..forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm
from ..models import Account
from ..urls import external_url
from ..verification import send_verification
from . import form_status

bp = Blueprint("auth", __name__)


def _email_key():
    return "email:" + Account.normalise_email(request.form.get("email", ""))


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


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


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        email = Account.normalise_email(form.email.data)
        if find_account(email):
            form.email.errors.append(_("An account already uses this email. Log in instead?"))
        else:
            language = request.accept_languages.best_match(("fr", "en"), default="fr")
            account = Account(
                email=email,
                business_name=form.business_name.data.strip(),
                timezone=form.timezone.data or "Europe/Paris",
                language=language,
                currency="CAD" if (form.timezone.data or "").startswith("America/") else "EUR",
                email_verified_at=None,  # nothing goes to a client before (app/verification.py)
            )
            account.set_password(form.password.data)
            db.session.add(account)
            db.session.commit()
            send_verification(account)
            login_user(account, remember=True)
            flash(_("Welcome to Relance! Add your first client and invoice."), "success")
            return redirect(url_for("home.index"))
    return render_template("auth/register.html", form=form), form_status(form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, key_func=_email_key, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        account = find_account(form.email.data)
        if account and account.check_password(form.password.data):
            login_user(account, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
        form.password.errors.append(_("This email and password do not match."))
    return render_template("auth/login.html", form=form), form_status(form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


class _ClockSigner(TimestampSigner):
    # Token age is measured on app/clock.py, like every other time in Relance.
    def get_timestamp(self):
        return int(clock.now().timestamp())


class _ClockSerializer(URLSafeTimedSerializer):
    default_signer = _ClockSigner


def _serializer():
    return _ClockSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(account):
    # Changes with the password, so each link works once; a digest, so the link
    # carries nothing of the hash itself.
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


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


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, key_func=_email_key, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        account = find_account(form.email.data)
        if account:
            link = external_url("auth.reset_password", token=reset_token(account))
            with force_locale(account.language):
                text = render_template("emails/password_reset.txt", account=account, link=link)
                html = render_template("emails/password_reset.html", account=account, link=link)
                subject = _("Reset your Relance password")
            mailer.send(mailer.compose(subject, [account.email], text, html))
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
        account.session_version += 1
        db.session.commit()
        logout_user()
        flash(_("Your password is changed. Log in with the new one."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), form_status(form)
