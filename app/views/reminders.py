"""Payment reminders: account settings and preview, the per-invoice switch and
timeline, and "Send by email"."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from .. import clock, invoicing, mailer
from ..auth_setup import get_invoice
from ..extensions import db, limiter
from ..forms import ConfirmForm, InvoiceEmailForm, ReminderSettingsForm
from ..models import Reminder
from ..parsing import parse_id
from ..reminders import planning
from ..reminders import schedule as rules
from ..reminders.dispatch import enqueue_ready
from ..reminders.planning import insert_reminder_once
from ..reminders.sending import default_invoice_email, send_preview
from ..reminders.timeline import REASON_TEXT, invoice_email, invoice_timeline, step_label
from ..reminders.workflows import group_due, relevel_waiting
from . import redirect_to, render
from .keys import account_key
from .sendnotice import flash_waiting

bp = Blueprint("reminders", __name__)


def queue_soon(ids) -> None:
    """Hand ids to the workers now; if Redis is away, the next tick queues them from
    the database, so nothing is lost."""
    try:
        enqueue_ready(list(ids))
    except RedisError:
        pass


def preset_of(offsets: tuple[int, ...]) -> str:
    for name, values in rules.PRESETS.items():
        if values == offsets:
            return name
    return "custom"


def example_for(offsets, send_time, skip_weekends, timezone):
    """What the schedule means for an invoice due next Friday: [(label, day)]."""
    today = clock.today(timezone)
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    return friday, [(step_label(o), rules.step_day(friday, o, skip_weekends)) for o in sorted(offsets)]


def _settings_context(form, offsets, saved=False):
    friday, example = example_for(
        offsets, form.send_time.data, form.skip_weekends.data, current_user.timezone
    )
    return {
        "form": form,
        "offsets": offsets,
        "saved": saved,
        "friday": friday,
        "example": example,
        "step_label": step_label,
        "limits": (rules.MIN_OFFSET, rules.MAX_OFFSET, rules.MAX_STEPS),
    }


@bp.route("/settings/reminders", methods=["GET", "POST"])
@login_required
def settings():
    account = current_user
    current = rules.parse_offsets(account.reminder_offsets)
    if request.method == "GET":
        form = ReminderSettingsForm(formdata=None)
        form.enabled.data = account.reminders_enabled
        form.mode.data = account.reminder_mode
        form.preset.data = preset_of(current)
        form.offsets.data = ",".join(str(o) for o in current)
        form.send_time.data = account.reminder_send_time
        form.skip_weekends.data = account.reminder_skip_weekends
        return render(
            "reminders/settings.html", "partials/reminder_settings.html", **_settings_context(form, current)
        )

    form = ReminderSettingsForm()
    offsets = current
    if form.validate_on_submit():
        offsets, error = _offsets_from(form, request.form.get("action", "save"))
        if error:
            form.add_offset.errors.append(error)
    if form.errors:
        return render(
            "reminders/settings.html",
            "partials/reminder_settings.html",
            status=422,
            **_settings_context(form, offsets),
        )
    account.reminders_enabled = form.enabled.data
    switch_mode(account, form.mode.data or account.reminder_mode)
    account.reminder_offsets = ",".join(str(o) for o in offsets)
    account.reminder_send_time = form.send_time.data
    account.reminder_skip_weekends = form.skip_weekends.data
    planning.replan_account(account)
    relevel_waiting(account)  # issue 5: a step's level follows the new schedule
    db.session.commit()
    if not request.headers.get("HX-Request"):
        flash(_("Reminder settings saved."), "success")
        return redirect(url_for("reminders.settings"))
    form.preset.data = preset_of(offsets)
    form.offsets.data = ",".join(str(o) for o in offsets)
    form.add_offset.data = None
    return render(
        "reminders/settings.html",
        "partials/reminder_settings.html",
        **_settings_context(form, offsets, saved=True),
    )


def switch_mode(account, mode):
    """Automatic ↔ ask-me-first: what waits for a worker now waits for the owner, and
    the other way round (a conditional UPDATE: a claimed reminder is left alone)."""
    if mode == account.reminder_mode:
        return
    now = clock.now()
    if mode == "ask":
        source, values = "scheduled", {"state": "awaiting_approval", "next_attempt_at": None}
    else:
        source, values = "awaiting_approval", {"state": "scheduled", "next_attempt_at": now}
    db.session.execute(
        update(Reminder)
        .where(
            Reminder.account_id == account.id,
            Reminder.kind == "step",
            Reminder.state == source,
            Reminder.attempts == 0,
        )
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    account.reminder_mode = mode


def _offsets_from(form, action):
    """The offsets the form asks for, or (current, message) when they are refused."""
    if form.preset.data != "custom":
        return rules.PRESETS[form.preset.data], None
    try:
        values = [int(v) for v in (form.offsets.data or "").split(",") if v.strip()]
    except ValueError:
        return rules.DEFAULT_OFFSETS, _("The list of days is not valid.")
    if not values:
        values = list(rules.DEFAULT_OFFSETS)
    if action.startswith("remove:"):
        try:
            values.remove(int(action.partition(":")[2]))
        except ValueError:
            pass
        if not values:
            return tuple(sorted(set(values or rules.DEFAULT_OFFSETS))), _("Keep at least one day.")
    elif action == "add" or form.add_offset.data is not None:
        new = form.add_offset.data
        if new is None:
            return tuple(sorted(values)), _("Enter a number of days, e.g. -5 or 10.")
        if new in values:
            return tuple(sorted(values)), _("This day is already in your schedule.")
        if not rules.MIN_OFFSET <= new <= rules.MAX_OFFSET:
            return tuple(sorted(values)), _(
                "Choose a day between %(low)d and +%(high)d.",
                low=rules.MIN_OFFSET,
                high=rules.MAX_OFFSET,
            )
        if len(values) >= rules.MAX_STEPS:
            return tuple(sorted(values)), _("At most %(num)d reminders per invoice.", num=rules.MAX_STEPS)
        values.append(new)
    try:
        return rules.validate_offsets(values), None
    except ValueError:
        return tuple(sorted(set(values)))[: rules.MAX_STEPS], _(
            "Days go from %(low)d to +%(high)d, at most %(num)d, each once.",
            low=rules.MIN_OFFSET,
            high=rules.MAX_OFFSET,
            num=rules.MAX_STEPS,
        )


def _preview_key():
    return account_key("preview")


@bp.route("/settings/reminders/preview", methods=["POST"])
@login_required
@limiter.limit("5 per hour", key_func=_preview_key)
def preview():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        send_preview(current_user)
    except mailer.BadAddress:
        message, status = _("Your address cannot receive this email: check it in Settings."), 422
    except mailer.SEND_ERRORS:
        message, status = _("The mail server could not be reached. Try again in a moment."), 503
    else:
        message = _("Preview sent to %(email)s", email=current_user.email)
        status = 200
    if request.headers.get("HX-Request"):
        return render_template("partials/preview_result.html", message=message, ok=status == 200), status
    flash(message, "success" if status == 200 else "error")
    return redirect(url_for("reminders.settings"))


def reminders_context(invoice):
    entries, why = invoice_timeline(invoice)
    return {
        "invoice": invoice,
        "entries": entries,
        "why": why,
        "reason_text": REASON_TEXT,
        "toggle_form": ConfirmForm(formdata=None),
        "email": invoice_email(invoice),
    }


@bp.route("/invoices/<int:invoice_id>/reminders", methods=["POST"])
@login_required
def toggle(invoice_id):
    invoice = get_invoice(invoice_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    invoice.reminders_enabled = request.form.get("enabled") in ("1", "on", "y", "true")
    planning.replan(invoice)
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("partials/invoice_reminders.html", **reminders_context(invoice), saved=True)
    flash(
        _("Payment reminders are on for this invoice.")
        if invoice.reminders_enabled
        else _("Payment reminders are off for this invoice."),
        "success",
    )
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


@bp.route("/invoices/<int:invoice_id>/email", methods=["GET", "POST"])
@login_required
def send_email(invoice_id):
    invoice = get_invoice(invoice_id)
    if invoice.status == "void":
        flash(_("A void invoice cannot be sent."), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    if request.method == "GET":
        form = InvoiceEmailForm(formdata=None)
        form.key.data = uuid.uuid4().hex
        form.to.data = invoice.client.email or ""
        form.subject.data, form.message.data = default_invoice_email(invoice, current_user)
        return render("invoices/email.html", form=form, invoice=invoice)
    form = InvoiceEmailForm()
    if not form.validate_on_submit():
        return render("invoices/email.html", form=form, invoice=invoice, status=422)
    now = clock.now()
    to = form.to.data.strip().lower()
    known = (invoice.client.email or "").strip().lower()
    if known and to != known and (request.form.get("confirm_to") or "").strip().lower() != to:
        # Not the client's address: Relance is no relay to any address (issue 14),
        # so the owner says it once more, for this very address.
        return render("invoices/email.html", form=form, invoice=invoice, confirm_to=to)
    if not invoice.client.email:
        invoice.client.email = to  # the address typed here is the client's from now on
    reminder_id = insert_reminder_once(
        f"invoice:{invoice.id}:{form.key.data}",
        now,
        account_id=current_user.id,
        client_id=invoice.client_id,
        invoice_id=invoice.id,
        kind="invoice",
        channel="email",
        state="scheduled",
        recipient=to,
        subject=form.subject.data.strip(),
        body=form.message.data.strip(),
        next_attempt_at=now,
    )
    db.session.commit()
    if reminder_id is not None:
        queue_soon([reminder_id])
    flash(_("Sending invoice %(number)s to %(to)s…", number=invoice.number, to=to), "info")
    flash_waiting(current_user, 1 if reminder_id is not None else 0)
    return redirect_to(url_for("invoices.detail", invoice_id=invoice.id) + "#email-status")


@bp.route("/invoices/<int:invoice_id>/email/status")
@login_required
def email_status(invoice_id):
    invoice = get_invoice(invoice_id)
    return render_template(
        "partials/invoice_email_status.html", invoice=invoice, email=invoice_email(invoice)
    )


@bp.route("/invoices/<int:invoice_id>/reminders/<int:reminder_id>/resend", methods=["POST"])
@login_required
def resend(invoice_id, reminder_id):
    """The owner decides to send again a reminder that failed or whose outcome is unknown."""
    invoice = get_invoice(invoice_id)
    reminder = db.session.get(Reminder, reminder_id) if reminder_id < 2**31 else None
    if reminder is None or reminder.invoice_id != invoice.id:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    now = clock.now()
    done = db.session.execute(
        update(Reminder)
        .where(
            Reminder.id == reminder.id,
            planning.NEEDS_DECISION,
        )
        .values(
            state="scheduled", reason="resent_by_owner", next_attempt_at=now, lease_until=None, updated_at=now
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not done:
        flash(_("This reminder cannot be sent again: it is not failed or unknown."), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    queue_soon([reminder.id])
    flash(_("The reminder will be sent again in a moment."), "success")
    flash_waiting(current_user, 1)
    return redirect_to(url_for("invoices.detail", invoice_id=invoice.id) + "#invoice-reminders")


def awaiting(account):
    """Reminders prepared in ask-me-first mode, grouped per client: [(client, [reminders])]."""
    rows = db.session.scalars(
        select(Reminder)
        .options(joinedload(Reminder.invoice), joinedload(Reminder.client))
        .where(Reminder.account_id == account.id, Reminder.state == "awaiting_approval")
        .order_by(Reminder.client_id, Reminder.step_on, Reminder.id)
    ).all()
    groups = {}
    for reminder in rows:
        groups.setdefault(reminder.client_id, (reminder.client, []))[1].append(reminder)
    return list(groups.values())


@bp.route("/reminders/ready", methods=["GET", "POST"])
@login_required
def ready():
    """Ask-me-first mode: what is due waits here; one button sends it (or a selection)."""
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        chosen = [int(v) for v in request.form.getlist("reminder") if parse_id(v) is not None]
        if not chosen:
            flash(_("Select at least one reminder to send."), "error")
            return render(
                "reminders/ready.html",
                groups=awaiting(current_user),
                last_payment=invoicing.last_payment_on(current_user.id),
                confirm_form=ConfirmForm(formdata=None),
                status=422,
            )
        now = clock.now()
        ids = db.session.scalars(
            update(Reminder)
            .where(
                Reminder.account_id == current_user.id,
                Reminder.id.in_(chosen),
                Reminder.state == "awaiting_approval",
            )
            .values(state="scheduled", next_attempt_at=now, updated_at=now)
            .returning(Reminder.id)
        ).all()
        db.session.commit()
        if ids and current_user.group_reminders:  # issue 5: one email per client
            groups = group_due(now, approved=list(ids))
            ids = list(groups) + list(
                db.session.scalars(
                    select(Reminder.id).where(Reminder.id.in_(ids), Reminder.state == "scheduled")
                )
            )
            db.session.commit()
        queue_soon(list(ids))
        if ids:
            flash(
                ngettext("%(num)d reminder is on its way.", "%(num)d reminders are on their way.", len(ids)),
                "success",
            )
            flash_waiting(current_user, len(ids))
        else:
            flash(_("These reminders were already sent or are no longer due."), "info")
        return redirect_to(url_for("reminders.ready"))
    return render(
        "reminders/ready.html",
        groups=awaiting(current_user),
        last_payment=invoicing.last_payment_on(current_user.id),
        confirm_form=ConfirmForm(formdata=None),
    )
