"""Settings → Templates: the owner's texts per kind, channel and language, with a
live preview for a real invoice; and the invoice PDFs."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import IntegerField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from ..auth_setup import get_invoice
from ..documents import defaults, pdf
from ..documents.messages import (
    CHANNEL_LABELS,
    KIND_LABELS,
    PLACEHOLDERS,
    languages_of,
    render_message,
    source,
    stored,
)
from ..documents.sandbox import TemplateProblem
from ..extensions import db
from ..forms import ConfirmForm, RelanceForm, options
from ..models import MESSAGE_CHANNELS, MESSAGE_KINDS, Invoice, MessageTemplate
from ..reminders.sending import sample_invoice
from . import render

bp = Blueprint("documents", __name__)

LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


class TemplateForm(RelanceForm):
    subject = StringField(_l("Subject"), [DataRequired(), Length(max=300)])
    body = TextAreaField(_l("Text"), [DataRequired(), Length(max=20_000)])
    submit = SubmitField(_l("Save"))


class LanguageForm(RelanceForm):
    code = StringField(_l("Language code (2 letters, e.g. nl)"), [DataRequired(), Length(min=2, max=2)])
    submit = SubmitField(_l("Add this language"))


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
