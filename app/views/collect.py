"""Collection workflows (issue 5): reminder levels, manual reminders from the Overdue
tab, "Remind all" batches, the per-client reminder and the history timelines."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired

from .. import invoicing
from ..auth_setup import get_invoice
from ..extensions import db
from ..forms import RelanceForm, options
from ..reminders import workflows
from ..reminders.levels import LEVEL_NAMES, level_name
from . import redirect_to, render

bp = Blueprint("collect", __name__)


def level_choices():
    return options([(str(level), str(name)) for level, name in LEVEL_NAMES.items()])


class LevelForm(RelanceForm):
    level = SelectField(_l("Reminder level"), [InputRequired()], coerce=int, validate_choice=True)
    submit = SubmitField(_l("Save"))


@bp.app_context_processor
def collect_helpers():
    return {"level_name": level_name, "reminder_count": workflows.reminder_count}


@bp.route("/invoices/<int:invoice_id>/level", methods=["GET", "POST"])
@login_required
def edit_level(invoice_id):
    """Pencil → choose → save: the owner sets the invoice's level by hand (recorded)."""
    invoice = get_invoice(invoice_id)
    form = LevelForm()
    form.level.choices = level_choices()
    if request.method == "GET":
        form.level.data = invoice.reminder_level
        return render("collect/level.html", "collect/_level_form.html", form=form, invoice=invoice)
    if not form.validate_on_submit():
        return render(
            "collect/level.html", "collect/_level_form.html", form=form, invoice=invoice, status=422
        )
    old, new = invoice.reminder_level, form.level.data
    if old != new:
        invoice.reminder_level = new
        invoicing.log(invoice, "level_changed", f"{old}:{new}")
        db.session.commit()
        flash(
            _("Reminder level of %(number)s: %(level)s.", number=invoice.number, level=level_name(new)),
            "success",
        )
    back = request.form.get("next", "")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("invoices.detail", invoice_id=invoice.id)
    if request.headers.get("HX-Request"):
        return render(
            "collect/level.html", "collect/_level_form.html", form=form, invoice=invoice, saved=True
        )
    return redirect_to(back) if request.headers.get("HX-Request") else redirect(back)
