"""Collection workflows (issue 5): reminder levels, manual reminders from the Overdue
tab, "Remind all" batches, the per-client reminder and the history timelines."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired

from .. import clock, invoicing
from ..auth_setup import get_client, get_invoice, valid_id
from ..extensions import db
from ..forms import ConfirmForm, RelanceForm, options, payment_method_choices
from ..models import PAYMENT_METHODS, Client, Invoice, ReminderBatch
from ..money import AmountError, parse_amount
from ..parsing import ascii_digits, parse_id
from ..reminders import workflows
from ..reminders.levels import LEVEL_NAMES, account_level, level_name, parse_custom
from ..reminders.schedule import parse_offsets
from ..reminders.sending import render_items
from ..reminders.timeline import REASON_TEXT, last_sent
from . import redirect_to, render
from .invoices import TABS, list_query
from .sendnotice import flash_waiting

bp = Blueprint("collect", __name__)


def level_choices():
    return options([(str(level), str(name)) for level, name in LEVEL_NAMES.items()])


class LevelForm(RelanceForm):
    level = SelectField(_l("Reminder level"), [InputRequired()], coerce=int, validate_choice=True)
    submit = SubmitField(_l("Save"))


@bp.app_context_processor
def collect_helpers():
    return {
        "level_name": level_name,
        "reminder_count": workflows.reminder_count,
        "last_reminder_per_client": workflows.last_reminder_per_client,
        "level_mapping": level_mapping,
    }


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


# --- Shared bits ------------------------------------------------------------------


def _int_arg(source, name, default, low, high, errors, message):
    """An integer from a query string or form, within [low, high]; a message otherwise."""
    raw = (source.get(name) or "").strip()
    if raw == "":
        return default
    if not ascii_digits(raw) or len(raw) > 6 or not low <= int(raw) <= high:
        errors[name] = message
        return default
    return int(raw)


def _mint_key() -> str:
    return uuid.uuid4().hex


def _valid_key(value) -> bool:
    return isinstance(value, str) and value.isascii() and value.isalnum() and 16 <= len(value) <= 64


def _owned_invoices(values) -> list[Invoice]:
    """Invoices named by ids in a form: every one must be the account's, or 404."""
    ids = []
    for value in values:
        if parse_id(value) is None:
            abort(404)
        if int(value) not in ids:
            ids.append(int(value))
    if len(ids) > workflows.MAX_SELECTION:
        abort(400)
    if not ids:
        return []
    found = db.session.scalars(
        select(Invoice)
        .options(joinedload(Invoice.client))
        .where(Invoice.id.in_(ids), Invoice.account_id == current_user.id)
    ).all()
    if len(found) != len(ids):
        abort(404)
    order = {invoice_id: position for position, invoice_id in enumerate(ids)}
    return sorted(found, key=lambda invoice: order[invoice.id])


def _queue(ids):
    from .reminders import queue_soon

    queue_soon(ids)


def _by_client(invoices):
    groups = {}
    for invoice in invoices:
        groups.setdefault(invoice.client_id, (invoice.client, []))[1].append(invoice)
    return list(groups.values())


# --- Overdue tab: filters and selection -------------------------------------------


def overdue_filters(source, errors):
    filters = {
        "level": _int_arg(source, "level", None, 0, 4, errors, _("Choose a level from the list.")),
        "method": source.get("method", "") if source.get("method", "") in PAYMENT_METHODS else "",
        "client": _int_arg(source, "client", None, 1, 2**31 - 1, errors, _("Choose a client from the list.")),
        "days": _int_arg(source, "days", None, 0, 36500, errors, _("Enter a number of days, e.g. 30.")),
        "amount": None,
    }
    raw_amount = (source.get("amount") or "").strip()[:30]
    if raw_amount:
        try:
            filters["amount"] = parse_amount(raw_amount)
        except AmountError:
            errors["amount"] = _("Enter an amount such as 100 or 1 250,50.")
    return filters


def overdue_invoices(account, search, filters):
    query = list_query(account, "overdue", search)
    query = query.where(Invoice.total_cents > Invoice.paid_cents)
    if filters["level"] is not None:
        query = query.where(Invoice.reminder_level == filters["level"])
    if filters["method"]:
        query = query.where(Invoice.payment_method == filters["method"])
    if filters["client"] is not None:
        query = query.where(Invoice.client_id == filters["client"])
    if filters["days"] is not None:
        today = clock.today(account.timezone)
        query = query.where(Invoice.due_on <= today - timedelta(days=filters["days"]))
    if filters["amount"] is not None:
        query = query.where(Invoice.total_cents - Invoice.paid_cents >= filters["amount"])
    return db.session.scalars(query.limit(workflows.MAX_SELECTION)).all()


def overdue_page(search):
    """The Overdue tab of the invoice list: filters, checkboxes, "Send reminder"."""
    errors = {}
    filters = overdue_filters(request.args, errors)
    invoices = overdue_invoices(current_user, search, filters) if not errors else []
    clients = db.session.scalars(
        select(Client).where(Client.account_id == current_user.id).order_by(func.lower(Client.name))
    ).all()
    return render(
        "invoices/index.html",
        "partials/invoice_list.html",
        status=422 if errors else 200,
        tab="overdue",
        tabs=TABS,
        search=search,
        overdue=invoices,
        filters=filters,
        filter_errors=errors,
        filter_args={
            k: v for k, v in request.args.items() if k in ("level", "method", "client", "days", "amount")
        },
        clients=clients,
        method_choices=payment_method_choices(),
        today=clock.today(current_user.timezone),
        last_reminders=last_sent([invoice.id for invoice in invoices]),
    )


# --- Compose: choose the type, preview, send -------------------------------------


def _compose_invoices(source):
    if source.get("all") == "1":
        errors = {}
        filters = overdue_filters(source, errors)
        if errors:
            abort(422)
        return list(overdue_invoices(current_user, (source.get("q") or "")[:100], filters))
    return _owned_invoices(source.getlist("invoice"))


def _compose_page(invoices, key, level, group, status=200, preview=None, message=None):
    selection = workflows.select_invoices(current_user, invoices, workflows.Options())
    return render(
        "collect/compose.html",
        status=status,
        selection=selection,
        groups=_by_client(selection.chosen),
        key=key,
        level=level,
        group=group,
        preview=preview,
        message=message,
        exclusions=workflows.EXCLUSIONS,
        levels=LEVEL_NAMES,
        confirm_form=ConfirmForm(formdata=None),
    )


@bp.route("/collect/compose", methods=["GET", "POST"])
@login_required
def compose():
    """Selected invoices → choose the message type → preview → send (sent once)."""
    if request.method == "GET":
        invoices = _compose_invoices(request.args)
        if not invoices:
            flash(_("Select at least one invoice to remind."), "error")
            return redirect(url_for("invoices.index", tab="overdue"))
        return _compose_page(invoices, _mint_key(), 0, current_user.group_reminders)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    invoices = _owned_invoices(request.form.getlist("invoice"))
    key = request.form.get("key", "")
    errors = {}
    level = _int_arg(request.form, "level", 0, 0, 4, errors, _("Choose a message type."))
    group = request.form.get("group") in ("1", "y", "on")
    if not _valid_key(key):
        return _compose_page(
            invoices, _mint_key(), level, group, 422, message=_("This form is too old: reload the page.")
        )
    if errors:
        return _compose_page(invoices, key, level, group, 422, message=errors["level"])
    if level == 4 and not (current_user.address or "").strip():  # issue 6: a formal notice names both parties
        message = _(
            "A formal notice must show your postal address: add it in Settings → Business profile first."
        )
        return _compose_page(invoices, key, level, group, 422, message=message)
    selection = workflows.select_invoices(current_user, invoices, workflows.Options())
    if not selection.chosen:
        return _compose_page(
            invoices,
            key,
            level,
            group,
            422,
            message=_("No invoice in this selection can be reminded by email."),
        )
    if request.form.get("action") == "preview":
        return _compose_page(invoices, key, level, group, preview=_preview(selection.chosen, level, group))
    ids = []
    if workflows.claim_form(current_user, f"manual:{key}"):  # a form goes once, whatever was ticked
        ids = workflows.write_reminders(
            current_user, selection.chosen, f"manual:{key}", "manual", group, level
        )
    db.session.commit()
    _queue(ids)
    if ids:
        flash(
            ngettext("%(num)d reminder is on its way.", "%(num)d reminders are on their way.", len(ids)),
            "success",
        )
        flash_waiting(current_user, len(ids))
    else:
        flash(_("These reminders were already sent."), "info")
    return redirect_to(url_for("invoices.index", tab="overdue"))


def _preview(invoices, level, group):
    """What the (first) client will read, rendered by the one text source."""
    covered = [i for i in invoices if i.client_id == invoices[0].client_id] if group else invoices[:1]
    draft = SimpleNamespace(
        client=covered[0].client,
        level=workflows.group_level(covered, level),
        invoice=None,
        kind="manual",
    )
    rendered = render_items(draft, covered)
    db.session.rollback()
    return rendered


# --- "Remind all" ----------------------------------------------------------------


def _batch_options(source, errors):
    throttle = _int_arg(
        source,
        "throttle",
        7,
        0,
        workflows.MAX_THROTTLE,
        errors,
        _("Enter a number of days from 0 to %(max)d.", max=workflows.MAX_THROTTLE),
    )
    include_no_due = source.get("include_no_due") in ("1", "y", "on")
    group = (
        source.get("group") in ("1", "y", "on") if source.get("submitted") else current_user.group_reminders
    )
    return throttle, include_no_due, group


@bp.route("/collect/batch", methods=["GET", "POST"])
@login_required
def batch():
    """The "Remind all" dialog: options, how many clients and invoices, then send on the worker."""
    errors = {}
    source = request.form if request.method == "POST" else request.args
    throttle, include_no_due, group = _batch_options(source, errors)
    key = source.get("key") or _mint_key()
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        if not _valid_key(key):
            errors["key"] = _("This form is too old: reload the page.")
            key = _mint_key()
    selection = None
    if not errors:
        draft = ReminderBatch(throttle_days=throttle, include_no_due=include_no_due)
        selection = workflows.batch_selection(current_user, draft)
    if request.method == "GET" or errors or not selection.chosen:
        status = 422 if errors or (request.method == "POST") else 200
        return render(
            "collect/batch.html",
            "collect/_batch_form.html",
            status=status,
            errors=errors,
            throttle=source.get("throttle", throttle) if errors else throttle,
            include_no_due=include_no_due,
            group=group,
            key=key,
            selection=selection,
            exclusions=workflows.EXCLUSIONS,
            empty=request.method == "POST" and not errors,
            confirm_form=ConfirmForm(formdata=None),
        )
    found = db.session.scalar(
        select(ReminderBatch).where(ReminderBatch.key == key, ReminderBatch.account_id == current_user.id)
    )
    if found is None:
        try:
            found = ReminderBatch(
                key=key,
                account_id=current_user.id,
                throttle_days=throttle,
                include_no_due=include_no_due,
                group=group,
            )
            db.session.add(found)
            db.session.commit()
        except IntegrityError:  # the same form submitted twice at once
            db.session.rollback()
            found = db.session.scalar(
                select(ReminderBatch).where(
                    ReminderBatch.key == key, ReminderBatch.account_id == current_user.id
                )
            )
            if found is None:
                abort(404)
        else:
            _enqueue_batch(found.id)
            flash_waiting(current_user, selection.clients if group else len(selection.chosen))
    return redirect_to(url_for("collect.batch_status", batch_id=found.id))


def _enqueue_batch(batch_id):
    try:
        workflows.enqueue_batch(batch_id)
    except RedisError:
        # The batch is saved (state "queued"): the worker's tick queues it again.
        flash(
            _(
                "The sending service is not reachable right now. Your reminders are saved "
                "and will go out automatically within a few minutes."
            ),
            "error",
        )


def _get_batch(batch_id) -> ReminderBatch:
    if not valid_id(batch_id):
        abort(404)
    found = db.session.get(ReminderBatch, batch_id)
    if found is None or found.account_id != current_user.id:
        abort(404)
    return found


@bp.route("/collect/batches/<int:batch_id>")
@login_required
def batch_status(batch_id):
    found = _get_batch(batch_id)
    return render(
        "collect/batch_status.html",
        "collect/_batch_progress.html",
        progress=workflows.batch_progress(found),
        exclusions=workflows.EXCLUSIONS,
        reason_text=REASON_TEXT,
    )


@bp.route("/collect/batches/<int:batch_id>/progress")
@login_required
def batch_progress(batch_id):
    found = _get_batch(batch_id)
    return render_template(
        "collect/_batch_progress.html",
        progress=workflows.batch_progress(found),
        exclusions=workflows.EXCLUSIONS,
        reason_text=REASON_TEXT,
    )


# --- One client: "Send reminder" -------------------------------------------------


def _client_options(source, errors):
    submitted = bool(source.get("submitted"))
    throttle = _int_arg(
        source,
        "throttle",
        7,
        0,
        workflows.MAX_THROTTLE,
        errors,
        _("Enter a number of days from 0 to %(max)d.", max=workflows.MAX_THROTTLE),
    )
    return workflows.Options(
        throttle_days=throttle,
        include_no_due=source.get("include_no_due") in ("1", "y", "on") if submitted else False,
        include_not_sent=source.get("include_not_sent") in ("1", "y", "on") if submitted else False,
    )


@bp.route("/clients/<int:client_id>/remind", methods=["GET", "POST"])
@login_required
def client_remind(client_id):
    """One email to the client listing the selected invoices."""
    client = get_client(client_id)
    errors = {}
    source = request.form if request.method == "POST" else request.args
    options = _client_options(source, errors)
    key = source.get("key") or _mint_key()
    invoices = workflows.open_invoices(current_user, client.id, include_not_sent=True)
    selection = workflows.select_invoices(current_user, invoices, options)
    message = None
    if request.method == "POST" and request.form.get("action") == "send" and not errors:
        if not ConfirmForm().validate_on_submit():
            abort(400)
        chosen_ids = _owned_invoices(request.form.getlist("invoice"))
        allowed = {invoice.id for invoice in selection.chosen}
        chosen = [invoice for invoice in chosen_ids if invoice.id in allowed]
        if any(invoice.client_id != client.id for invoice in chosen_ids):
            abort(404)
        if not _valid_key(key):
            message, key = _("This form is too old: reload the page."), _mint_key()
        elif not chosen:
            message = _("Select at least one invoice that can be reminded.")
        else:
            ids = workflows.write_reminders(current_user, chosen, f"client:{key}", "client", True, 0)
            db.session.commit()
            _queue(ids)
            if ids:
                flash(
                    _(
                        "A reminder listing %(num)d invoice(s) is on its way to %(name)s.",
                        num=len(chosen),
                        name=client.name,
                    ),
                    "success",
                )
                flash_waiting(current_user, len(ids))
            else:
                flash(_("This reminder was already sent."), "info")
            return redirect_to(url_for("clients.detail", client_id=client.id))
    status = 422 if errors or message else 200
    if request.method == "POST" and not ConfirmForm().validate_on_submit():
        abort(400)
    return render(
        "collect/client_remind.html",
        "collect/_client_remind_form.html",
        status=status,
        client=client,
        options=options,
        errors=errors,
        throttle=source.get("throttle", options.throttle_days) if errors else options.throttle_days,
        selection=selection,
        key=key,
        message=message,
        exclusions=workflows.EXCLUSIONS,
        confirm_form=ConfirmForm(formdata=None),
    )


# --- History ---------------------------------------------------------------------


@bp.route("/clients/<int:client_id>/history")
@login_required
def client_history(client_id):
    client = get_client(client_id)
    return render(
        "collect/history.html",
        client=client,
        invoice=None,
        entries=workflows.history(current_user, client=client),
        reason_text=REASON_TEXT,
    )


@bp.route("/invoices/<int:invoice_id>/history")
@login_required
def invoice_history(invoice_id):
    invoice = get_invoice(invoice_id)
    return render(
        "collect/history.html",
        client=invoice.client,
        invoice=invoice,
        entries=workflows.history(current_user, invoice=invoice),
        reason_text=REASON_TEXT,
    )


# --- Account option: "Group reminders per client" --------------------------------


@bp.route("/settings/reminders/grouping", methods=["POST"])
@login_required
def grouping():
    """Account options: group reminders per client, and the level of each after-due step."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    raw = (request.form.get("levels") or "").strip()[:100]
    try:
        custom = parse_custom(raw)
    except ValueError:
        message = _("Write each after-due day with its level from 1 to 4, e.g. 3:1, 7:2, 14:4.")
        return render(
            "collect/grouping.html",
            "collect/_grouping.html",
            status=422,
            levels_error=message,
            levels_value=raw,
        )
    current_user.group_reminders = request.form.get("group_reminders") in ("1", "y", "on")
    current_user.reminder_levels = ",".join(f"{offset}:{level}" for offset, level in sorted(custom.items()))
    workflows.relevel_waiting(current_user)  # what is planned and not sent takes the new levels
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("collect/_grouping.html", saved=True)
    flash(_("Reminder settings saved."), "success")
    return redirect(url_for("reminders.settings"))


def level_mapping(account) -> list[tuple[int, int]]:
    """(after-due day, level) of the account's schedule, as the planner applies it."""
    offsets = [o for o in parse_offsets(account.reminder_offsets) if o > 0]
    return [(o, account_level(account, o)) for o in offsets]
