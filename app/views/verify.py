"""The owner confirms their address (the link mailed at registration) or asks for
the link again (the banner on every page while unconfirmed). app/verification.py."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, logout_user

from .. import verification
from ..extensions import limiter
from ..forms import ConfirmForm
from .keys import account_key

bp = Blueprint("verify", __name__, url_prefix="/verify")

# (HTTP status, what the page says) per reason a link is refused.
_REFUSED = {
    verification.INVALID: 400,
    verification.EXPIRED: 410,
    verification.USED: 409,
}


def _refused(problem):
    return render_template("verify/refused.html", problem=problem), _REFUSED[problem]


def _resend_key():
    return account_key("verify-resend")


@bp.route("/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def confirm(token):
    # A GET only shows the button: mail scanners that open every link must not
    # confirm the address for its owner.
    outcome = verification.read_token(token)
    if outcome.problem:
        return _refused(outcome.problem)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("verify/confirm.html", form=form, account=outcome.account)
    if current_user.is_authenticated and current_user.id != outcome.account.id:
        # Another account's link: whoever is signed in here is not who it confirms,
        # and must not read "your address is confirmed" about their own.
        logout_user()
    released = verification.confirm_and_release(outcome.account)
    if released:
        flash(
            ngettext(
                "Address confirmed: %(num)d email to your clients that was waiting is on its way.",
                "Address confirmed: %(num)d emails to your clients that were waiting are on their way.",
                len(released),
            ),
            "success",
        )
    else:
        flash(_("Your address is confirmed: Relance can now email your clients."), "success")
    return redirect(url_for("home.index") if current_user.is_authenticated else url_for("auth.login"))


@bp.route("/resend", methods=["POST"])
@login_required
@limiter.limit("3 per hour", key_func=_resend_key)
def resend():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if current_user.email_verified_at is not None:
        flash(_("Your address is already confirmed."), "info")
    elif verification.send_verification(current_user):
        flash(_("A new link is on its way to %(email)s.", email=current_user.email), "success")
    else:
        flash(_("The mail server could not be reached. Try again in a moment."), "error")
    return redirect(url_for("home.index"))
