"""Settings: the business profile, and the account (password, email, export, delete)."""

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from .. import clock, loginguard
from ..export import delete_account, export_zip
from ..extensions import db, limiter
from ..forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmForm,
    DeleteAccountForm,
    ProfileForm,
)
from ..models import Account
from ..reminders import gate, limits, planning
from . import render
from .keys import account_key

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/")
@login_required
def index():
    sent, limit = gate.usage(current_user)
    return render(
        "settings/index.html",
        sent_today=format_decimal(sent),
        daily_limit=format_decimal(limit) if limit is not None else None,
        young=gate.configured_limit() is None and limit == limits.YOUNG_LIMIT,
        limits_young=format_decimal(limits.YOUNG_LIMIT),
        limits_settled=format_decimal(limits.SETTLED_LIMIT),
    )


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user if request.method == "GET" else None)
    if form.validate_on_submit():
        account = current_user
        account.business_name = form.business_name.data.strip()
        account.address = (form.address.data or "").strip()
        account.company_number = (form.company_number.data or "").strip()
        account.vat_number = (form.vat_number.data or "").strip()
        account.reply_to_email = (form.reply_to_email.data or "").strip().lower()
        account.language = form.language.data
        account.timezone = form.timezone.data
        account.currency = form.currency.data
        account.iban = form.iban.data or ""
        account.bic = form.bic.data or ""
        planning.replan_account(account)  # the time zone moves every send time
        db.session.commit()
        flash(_("Profile saved."), "success")
        return redirect(url_for("settings.profile"))
    return render("settings/profile.html", form=form, status=422 if form.errors else 200)


def _account_key():
    return account_key("account")


def _password_check_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def current_password_error(password: str, wrong: str) -> str | None:
    """Check the logged-in owner's password under the same back-off as logins (per
    account and per IP): a stolen session cannot guess it to take the account over.
    The error to show, or None when it is right."""
    subjects = (("account", str(current_user.id)), ("ip", get_remote_address()))
    lock = loginguard.locked(*subjects)
    if lock:
        return ngettext(
            "Too many wrong passwords. Try again in %(num)d minute.",
            "Too many wrong passwords. Try again in %(num)d minutes.",
            lock.minutes(),
        )
    if not current_user.check_password(password):
        loginguard.failed(*subjects)
        return wrong
    loginguard.clear("account", str(current_user.id))
    return None


def _account_page(status=200, **forms):
    return render(
        "settings/account.html",
        password_form=forms.get("password_form") or ChangePasswordForm(formdata=None),
        email_form=forms.get("email_form") or ChangeEmailForm(formdata=None),
        delete_form=forms.get("delete_form") or DeleteAccountForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None),
        status=status,
    )


@bp.route("/account")
@login_required
def account():
    return _account_page()


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit(_password_check_limit, key_func=_account_key)
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        error = current_password_error(form.current.data, _("This is not your current password."))
        if error:
            form.current.errors.append(error)
        else:
            current_user.set_password(form.password.data)
            # Other sessions (a lost phone, a stolen cookie…) are logged out; this one
            # continues with the new token.
            current_user.rotate_session()
            db.session.commit()
            login_user(current_user._get_current_object(), remember=True)
            flash(_("Password changed. Your other sessions are logged out."), "success")
            return redirect(url_for("settings.account"))
    return _account_page(status=422, password_form=form)


@bp.route("/account/email", methods=["POST"])
@login_required
@limiter.limit(_password_check_limit, key_func=_account_key)
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        email = Account.normalise_email(form.email.data)
        taken = db.session.scalar(
            select(Account.id).where(Account.email == email, Account.id != current_user.id)
        )
        error = current_password_error(form.current.data, _("This is not your current password."))
        if error:
            form.current.errors.append(error)
        elif taken:
            form.email.errors.append(_("Another account already uses this email."))
        elif email == current_user.email:
            flash(_("Your email address is already %(email)s.", email=email), "success")
            return redirect(url_for("settings.account"))
        else:
            # The account stays confirmed: re-confirming the new address would lock
            # out an owner who mistyped it (a password login of an unconfirmed
            # address answers like a wrong one). Proving the new address needs a
            # pending address kept until its link is followed: not built yet.
            account = current_user._get_current_object()
            account.email = email
            db.session.commit()
            flash(_("Email changed to %(email)s.", email=email), "success")
            return redirect(url_for("settings.account"))
    return _account_page(status=422, email_form=form)


@bp.route("/account/export", methods=["POST"])
@login_required
def export():
    if not ConfirmForm().validate_on_submit():
        return _account_page(status=400)
    data = export_zip(current_user)
    filename = f"relance-export-{clock.today(current_user.timezone).isoformat()}.zip"
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/account/delete", methods=["POST"])
@login_required
@limiter.limit(_password_check_limit, key_func=_account_key)
def delete():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        wrong = _("This is not your password: nothing was deleted.")
        error = current_password_error(form.current.data, wrong)
        if error is None:
            account = current_user._get_current_object()
            logout_user()
            delete_account(account)
            flash(_("Your account and all its data are deleted."), "info")
            return redirect(url_for("auth.login"))
        form.current.errors.append(error)
    return _account_page(status=422, delete_form=form)
