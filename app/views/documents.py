"""Settings → Templates: the owner's texts per kind, channel and language, with a
live preview for a real invoice; and the invoice PDFs."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import select, update
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from .. import clock
from ..auth_setup import get_invoice
from ..documents import defaults, letters, pdf
from ..documents.messages import (
    CHANNEL_LABELS,
    KIND_LABELS,
    PLACEHOLDERS,
    languages_of,
    render_message,
    source,
    stored,
)
from ..documents.pdf import DocumentProblem
from ..documents.sandbox import TemplateProblem
from ..extensions import db
from ..forms import ConfirmForm, RelanceForm, options
from ..models import MESSAGE_CHANNELS, MESSAGE_KINDS, Invoice, MessageTemplate, Reminder
from ..parsing import parse_id
from ..reminders.planning import insert_reminder_once
from ..reminders.sending import sample_invoice
from . import render

bp = Blueprint("documents", __name__)


@bp.app_context_processor
def _new_key():
    # A fresh idempotency key for forms that create something (DESIGN.md rule 3).
    return {"new_key": lambda: uuid.uuid4().hex}


LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


class TemplateForm(RelanceForm):
    subject = StringField(_l("Subject"), [DataRequired(), Length(max=300)])
    body = TextAreaField(_l("Text"), [DataRequired(), Length(max=20_000)])
    submit = SubmitField(_l("Save"))


class LanguageForm(RelanceForm):
    code = StringField(_l("Language code (2 letters, e.g. nl)"), [DataRequired(), Length(min=2, max=2)])
    submit = SubmitField(_l("Add this language"))


class LetterForm(RelanceForm):
    key = HiddenField(validators=[DataRequired(), Length(min=8, max=64)])
    kind = SelectField(
        _l("Letter"),
        choices=options(
            [
                ("level1", _l("Reminder")),
                ("level2", _l("Second reminder")),
                ("level3", _l("Final reminder")),
                ("level4", _l("Formal notice")),
            ]
        ),
    )


class DocumentSettingsForm(RelanceForm):
    notice_days = IntegerField(
        _l("Days given to pay in a formal notice"), [InputRequired(), NumberRange(min=1, max=60)]
    )
    letter_window = RadioField(
        _l("Envelope window"),
        choices=options([("left", _l("Left")), ("right", _l("Right"))]),
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Save"))


def _check_slot(kind, channel, language):
    if kind not in MESSAGE_KINDS or channel not in MESSAGE_CHANNELS:
        abort(404)
    if language not in languages_of(current_user):
        abort(404)


def preview_invoices(account, kind):
    """A real invoice of the account (the latest sent one, else any), with the
    client's other open invoices for grouped texts; a sample when there is none."""
    invoice = db.session.scalar(
        select(Invoice)
        .where(Invoice.account_id == account.id, Invoice.status != "void")
        .order_by((Invoice.status == "sent").desc(), Invoice.due_on.desc().nulls_last(), Invoice.id.desc())
        .limit(1)
    )
    if invoice is None:
        invoice, client = sample_invoice(account)
        return client, [invoice], True
    invoices = [invoice]
    if kind in ("grouped", "level4"):
        others = db.session.scalars(
            select(Invoice)
            .where(
                Invoice.account_id == account.id,
                Invoice.client_id == invoice.client_id,
                Invoice.status == "sent",
                Invoice.id != invoice.id,
            )
            .order_by(Invoice.due_on, Invoice.id)
            .limit(9)
        ).all()
        invoices += [other for other in others if other.balance_cents > 0]
    return invoice.client, invoices, False


def _preview(kind, channel, language, subject, body):
    """Both channels rendered with this text: ({channel: Message}, error)."""
    client, invoices, sample = preview_invoices(current_user, kind)
    try:
        result = {
            each: render_message(
                current_user, client, invoices, kind, each, language=language, override=(subject, body)
            )
            for each in MESSAGE_CHANNELS
        }
    except TemplateProblem as problem:
        return None, problem.message, sample, invoices
    return result, None, sample, invoices


@bp.route("/settings/templates", methods=["GET", "POST"])
@login_required
def index():
    languages = languages_of(current_user)
    custom = {
        (row.kind, row.channel, row.language)
        for row in db.session.scalars(
            select(MessageTemplate).where(MessageTemplate.account_id == current_user.id)
        )
    }
    language_form = LanguageForm(formdata=None)
    settings_form = DocumentSettingsForm(formdata=None, obj=current_user)
    status = 200
    if request.method == "POST":
        if request.form.get("form") == "settings":
            settings_form = DocumentSettingsForm()
            if settings_form.validate_on_submit():
                current_user.notice_days = settings_form.notice_days.data
                current_user.letter_window = settings_form.letter_window.data
                db.session.commit()
                flash(_("Document settings saved."), "success")
                return redirect(url_for("documents.index"))
            status = 422
        else:
            language_form = LanguageForm()
            if language_form.validate_on_submit():
                code = language_form.code.data.strip().lower()
                if not LANGUAGE_CODE.match(code):
                    language_form.code.errors.append(_("Use two letters, e.g. nl or de."))
                elif code in languages:
                    language_form.code.errors.append(_("You already have texts in this language."))
                else:
                    # Start from the account's own language: the owner translates from there.
                    for kind in MESSAGE_KINDS:
                        for channel in MESSAGE_CHANNELS:
                            subject, body, _own = source(current_user, kind, channel, current_user.language)
                            db.session.add(
                                MessageTemplate(
                                    account_id=current_user.id,
                                    kind=kind,
                                    channel=channel,
                                    language=code,
                                    subject=subject,
                                    body=body,
                                )
                            )
                    db.session.commit()
                    flash(_("Language %(code)s added: translate its texts below.", code=code), "success")
                    return redirect(url_for("documents.index") + f"#lang-{code}")
            status = 422
    return render(
        "documents/index.html",
        languages=languages,
        custom=custom,
        kinds=MESSAGE_KINDS,
        channels=MESSAGE_CHANNELS,
        kind_labels=KIND_LABELS,
        channel_labels=CHANNEL_LABELS,
        language_form=language_form,
        settings_form=settings_form,
        builtin=defaults.LANGUAGES,
        status=status,
    )


def _editor(kind, channel, language, form, status=200, error=None, saved=False):
    preview, preview_error, sample, invoices = _preview(
        kind, channel, language, form.subject.data or "", form.body.data or ""
    )
    return render(
        "documents/edit.html",
        "partials/template_editor.html",
        form=form,
        kind=kind,
        channel=channel,
        language=language,
        kind_label=KIND_LABELS[kind],
        channel_label=CHANNEL_LABELS[channel],
        placeholders=PLACEHOLDERS,
        preview=preview,
        preview_error=error or preview_error,
        sample=sample,
        invoices=invoices,
        is_custom=stored(current_user, kind, channel, language) is not None,
        saved=saved,
        status=status,
    )


@bp.route("/settings/templates/<kind>/<channel>/<language>", methods=["GET", "POST"])
@login_required
def edit(kind, channel, language):
    _check_slot(kind, channel, language)
    if request.method == "GET":
        form = TemplateForm(formdata=None)
        form.subject.data, form.body.data, _own = source(current_user, kind, channel, language)
        return _editor(kind, channel, language, form)
    form = TemplateForm()
    if not form.validate_on_submit():
        return _editor(kind, channel, language, form, status=422)
    subject, body = form.subject.data.strip(), form.body.data.replace("\r\n", "\n")
    preview, problem, _sample, _invoices = _preview(kind, channel, language, subject, body)
    if problem:
        form.body.errors.append(problem)
        return _editor(kind, channel, language, form, status=422, error=problem)
    if request.form.get("action") == "preview":  # the no-JS preview: shown, not saved
        return _editor(kind, channel, language, form)
    row = stored(current_user, kind, channel, language)
    if row is None:
        row = MessageTemplate(account_id=current_user.id, kind=kind, channel=channel, language=language)
        db.session.add(row)
    row.subject, row.body = subject, body
    db.session.commit()
    flash(_("Template saved."), "success")
    return redirect(url_for("documents.edit", kind=kind, channel=channel, language=language))


@bp.route("/settings/templates/<kind>/<channel>/<language>/preview", methods=["POST"])
@login_required
def preview(kind, channel, language):
    """Live preview of the text being edited (htmx); nothing is saved."""
    _check_slot(kind, channel, language)
    form = TemplateForm()
    form.validate_on_submit()
    if "csrf_token" in form.errors:
        abort(400)
    result, problem, sample, invoices = _preview(
        kind, channel, language, form.subject.data or "", (form.body.data or "").replace("\r\n", "\n")
    )
    return render_template(
        "partials/template_preview.html",
        preview=result,
        preview_error=problem or (form.errors and _("Subject and text are both required.")),
        sample=sample,
        invoices=invoices,
    ), (422 if problem or form.errors else 200)


@bp.route("/settings/templates/<kind>/<channel>/<language>/reset", methods=["POST"])
@login_required
def reset(kind, channel, language):
    _check_slot(kind, channel, language)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    row = stored(current_user, kind, channel, language)
    if language not in defaults.LANGUAGES:
        # An added language has no built-in text: back to the account language's one.
        if row is not None:
            row.subject, row.body, _own = source(current_user, kind, channel, current_user.language)
        db.session.commit()
    elif row is not None:
        db.session.delete(row)
        db.session.commit()
    flash(_("Back to the built-in text."), "success")
    return redirect(url_for("documents.edit", kind=kind, channel=channel, language=language))


@bp.route("/invoices/<int:invoice_id>/pdf")
@login_required
def invoice_pdf_download(invoice_id):
    """The invoice PDF (from the cache when nothing printed changed); ``?level=N``
    gives the reminder's stamped copy when the invoice is overdue."""
    invoice = get_invoice(invoice_id)
    level = request.args.get("level", "")
    level = int(level) if level in ("1", "2", "3", "4") else None
    data = pdf.invoice_pdf(invoice, level=level)
    db.session.commit()  # keep what was just rendered for the next reader
    stamped = level is not None and pdf.stamp_for(invoice, level) is not None
    disposition = "attachment" if request.args.get("download") else "inline"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'{disposition}; filename="{pdf.pdf_filename(invoice, stamped)}"',
            "Cache-Control": "private, no-store",
        },
    )


# ------------------------------------------------------------------ letters

LETTER_KINDS = ("level1", "level2", "level3", "level4")


def _chosen_ids():
    values = request.form.getlist("reminder")
    if any(parse_id(v) is None for v in values):
        abort(400)
    return [int(v) for v in values]


def _owned_letters(ids):
    """The account's letters among ``ids``; another account's id is a 404."""
    if not ids:
        return []
    rows = db.session.scalars(
        select(Reminder).where(Reminder.id.in_(ids)).order_by(Reminder.client_id, Reminder.id)
    ).all()
    if len(rows) != len(set(ids)) or any(
        row.account_id != current_user.id or row.channel != "letter" for row in rows
    ):
        abort(404)
    return rows


def _settled_invoices():
    """The account's paid or void invoices: their letters are neither printed nor posted."""
    return select(Invoice.id).where(
        Invoice.account_id == current_user.id, Invoice.status.in_(("paid", "void"))
    )


def _ready_letters():
    return db.session.scalars(
        select(Reminder)
        .where(
            Reminder.account_id == current_user.id,
            Reminder.channel == "letter",
            Reminder.state == "ready_to_print",
            Reminder.invoice_id.not_in(_settled_invoices()),
        )
        .order_by(Reminder.created_at, Reminder.id)
    ).all()


@bp.route("/invoices/<int:invoice_id>/letter", methods=["POST"])
@login_required
def make_letter(invoice_id):
    """Prepare a reminder letter (or a formal notice by letter) for this invoice:
    it waits as "ready to print" until the owner confirms it was posted."""
    invoice = get_invoice(invoice_id)
    form = LetterForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _invoice_problem(invoice, _("Choose which letter to prepare."))
    kind = form.kind.data
    try:
        letter = letters.letter_parts(current_user, invoice.client, [invoice], kind)
    except (DocumentProblem, TemplateProblem) as problem:
        return _invoice_problem(invoice, problem.message)
    now = clock.now()
    insert_reminder_once(
        f"letter:{invoice.id}:{form.key.data}",
        now,
        account_id=current_user.id,
        client_id=invoice.client_id,
        invoice_id=invoice.id,
        kind="letter",
        channel="letter",
        state="ready_to_print",
        recipient="",
        subject=letter["message"].subject[:300],
        body=letter["message"].text,
        document_kind=kind,
    )
    db.session.commit()
    flash(_("The letter is ready to print."), "success")
    return redirect(url_for("documents.letters_index"))


def _invoice_problem(invoice, message):
    """A refusal on the invoice page: the message, nothing made (422)."""
    from .invoices import detail

    flash(message, "error")
    response = detail(invoice.id)
    body = response[0] if isinstance(response, tuple) else response
    return body, 422


@bp.route("/letters")
@login_required
def letters_index():
    return _letters_page()


def _letters_page(status=200):
    """The letters waiting to be printed, with a blank selection form."""
    return render(
        "documents/letters.html",
        letters=_ready_letters(),
        confirm_form=ConfirmForm(formdata=None),
        status=status,
    )


@bp.route("/letters/print", methods=["POST"])
@login_required
def letters_print():
    """One PDF with the selected letters, each starting on a new sheet."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    rows = _owned_letters(_chosen_ids())
    if not rows:
        flash(_("Select at least one letter."), "error")
        return _letters_page(status=422)
    settled = set(db.session.scalars(_settled_invoices()))
    rows = [row for row in rows if row.invoice_id not in settled]
    if not rows:
        flash(_("These invoices are paid or void: their letters are not printed."), "error")
        return _letters_page(status=422)
    try:
        data = letters.letters_pdf([letters.reminder_letter(row) for row in rows])
    except (DocumentProblem, TemplateProblem) as problem:
        flash(problem.message, "error")
        return _letters_page(status=422)
    db.session.commit()
    stamp = clock.today(current_user.timezone).isoformat()
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="letters-{stamp}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/letters/confirm", methods=["POST"])
@login_required
def letters_confirm():
    """The owner printed and posted them: those letters are sent, by post."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    rows = _owned_letters(_chosen_ids())
    if not rows:
        flash(_("Select at least one letter."), "error")
        return _letters_page(status=422)
    now = clock.now()
    done = db.session.execute(
        update(Reminder)
        .where(
            Reminder.id.in_([row.id for row in rows]),
            Reminder.state == "ready_to_print",
            Reminder.invoice_id.not_in(_settled_invoices()),
        )
        .values(state="sent", reason="post", sent_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    flash(
        ngettext("%(num)d letter marked as sent by post.", "%(num)d letters marked as sent by post.", done),
        "success",
    )
    return redirect(url_for("documents.letters_index"))
