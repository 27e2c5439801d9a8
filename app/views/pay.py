"""Pay and stop (issue 7): the invoice's public page for the client (no login), the
owner's controls of that page and of the answers, and the late-fee settings."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from sqlalchemy import delete, select

from .. import clock, fees, payinfo
from ..auth_setup import get_invoice
from ..extensions import db, limiter
from ..filters import money
from ..models import FeeCost, RateOverride
from ..payforms import AnswerForm, FeeSettingsForm, RateForm, half_year_choices
from ..reminders.holds import HOLD_REASONS
from . import render

bp = Blueprint("pay", __name__)

CLIENT_HOLDS = tuple(r for r in HOLD_REASONS if r.startswith("client_"))
LEVELS = 3  # costs for the 1st, 2nd and 3rd-and-later overdue reminders


def _answer_limit_key():
    # Per link and per client address: one client's retries never use up another's.
    return f"answer:{request.view_args.get('token', '')}:{get_remote_address()}"


def _pdf_limit_key():
    return f"pdf:{request.view_args.get('token', '')}:{get_remote_address()}"


def _public_invoice(token):
    invoice = payinfo.invoice_by_token(token)
    if invoice is None:
        abort(404)
    client = invoice.client
    g.locale = payinfo_language(client, invoice.account)
    return invoice


def payinfo_language(client, account):
    from ..reminders.sending import language_of

    return language_of(client, account)


def _public_page(invoice, form=None, status=200, answered=None):
    account = invoice.account
    today = clock.today(account.timezone)
    form = form or AnswerForm(formdata=None, today=today)
    response = render(
        "pay/page.html",
        invoice=invoice,
        account=account,
        client=invoice.client,
        today=today,
        form=form,
        payment=payinfo.payment_for(invoice),
        fees=payinfo.describe(payinfo.fees_for(invoice, today), invoice.currency),
        answers=payinfo.answers_of(invoice, limit=3),
        answered=answered,
        max_promise=today + timedelta(days=payinfo.MAX_PROMISE_DAYS),
        status=status,
    )
    return response


PUBLIC_ENDPOINTS = {"pay.page", "pay.invoice_pdf", "pay.answer"}


@bp.after_request
def _public_headers(response):
    # The client's page (a 404 for a wrong link too): never cached, indexed, or named
    # in a Referer, since its URL is the key to the invoice.
    if request.endpoint in PUBLIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/p/<token>", methods=["GET"])
def page(token):
    invoice = _public_invoice(token)
    return _public_page(invoice, answered=request.args.get("answered"))


@bp.route("/p/<token>/invoice.pdf")
@limiter.limit("20 per minute", key_func=_pdf_limit_key)
def invoice_pdf(token):
    """The invoice PDF for the client (the same cached file the owner downloads)."""
    from ..documents import pdf

    invoice = _public_invoice(token)
    data = pdf.invoice_pdf(invoice)
    db.session.commit()  # keep what was just rendered for the next reader
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{pdf.pdf_filename(invoice)}"',
        },
    )


@bp.route("/p/<token>", methods=["POST"])
@limiter.limit("5 per minute;30 per day", key_func=_answer_limit_key)
def answer(token):
    invoice = _public_invoice(token)
    today = clock.today(invoice.account.timezone)
    form = AnswerForm(today=today)
    if invoice.status != "sent" or invoice.balance_cents <= 0:
        return redirect(url_for("pay.page", token=token))
    if not form.validate_on_submit():
        if form.csrf_token.errors or form.kind.errors:
            abort(400)
        return _public_page(invoice, form=form, status=422)
    payinfo.record_answer(
        invoice,
        form.kind.data,
        message=form.message.data or "",
        promised_on=form.promised_day if form.kind.data == "promise" else None,
    )
    return redirect(url_for("pay.page", token=token, answered=form.kind.data) + "#answer")


# --- The owner's side --------------------------------------------------------------


@bp.route("/invoices/<int:invoice_id>/page-link", methods=["POST"])
@login_required
def page_link(invoice_id):
    invoice = get_invoice(invoice_id)
    from ..forms import ConfirmForm

    if not ConfirmForm().validate_on_submit():
        abort(400)
    action = request.form.get("action")
    if action == "revoke":
        invoice.public_token = None
        flash(_("The client's page is switched off: its link no longer works."), "success")
    elif action in ("create", "renew"):
        invoice.public_token = payinfo.new_token()
        flash(
            _("A new link to the client's page is ready; the old one no longer works.")
            if action == "renew"
            else _("The client's page is ready."),
            "success",
        )
    else:
        abort(400)
    db.session.commit()
    return redirect(url_for("invoices.detail", invoice_id=invoice.id) + "#client-page")


@bp.route("/invoices/<int:invoice_id>/resume", methods=["POST"])
@login_required
def resume(invoice_id):
    invoice = get_invoice(invoice_id)
    from ..forms import ConfirmForm

    if not ConfirmForm().validate_on_submit():
        abort(400)
    payinfo.resume(invoice)
    flash(_("Reminders for %(number)s resumed.", number=invoice.number), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id) + "#client-page")


@bp.app_template_global()
def open_client_answers():
    if not current_user or not current_user.is_authenticated:
        return []
    return payinfo.open_answers(current_user.id)


@bp.app_template_global()
def client_page_context(invoice):
    """What the invoice page shows of the client's page and answers."""
    return {
        "answers": payinfo.answers_of(invoice),
        "held_by_client": invoice.hold_reason in CLIENT_HOLDS,
        "url": url_for("pay.page", token=invoice.public_token, _external=True)
        if invoice.public_token
        else "",
        "fees": payinfo.describe(payinfo.fees_for(invoice), invoice.currency),
        "structured_ref": payinfo.payment_for(invoice).reference
        if invoice.account.iban and payinfo.is_belgian(invoice.account)
        else "",
    }


# --- Late-fee settings ------------------------------------------------------------


def _fee_form(account):
    form = FeeSettingsForm(formdata=None)
    form.legal.data = account.fees_legal
    rows = {c.level: c for c in db.session.scalars(select(FeeCost).where(FeeCost.account_id == account.id))}
    for level, entry in enumerate(form.costs, start=1):
        row = rows.get(level)
        entry.form.fixed.data = row.fixed_cents if row and row.fixed_cents else None
        entry.form.percent.data = row.percent_bp if row else 0
    return form


def _rate_form(today):
    form = RateForm()
    form.starts_on.choices = half_year_choices(today)
    return form


def _fees_page(fee_form=None, rate_form=None, status=200):
    account = current_user
    today = clock.today(account.timezone)
    settings = payinfo.fee_settings(account)
    if rate_form is None:
        rate_form = RateForm(formdata=None)
        rate_form.starts_on.choices = half_year_choices(today)
        rate_form.starts_on.data = fees.half_year_start(today).isoformat()
    tables = []
    for series in fees.SERIES:
        overrides = {d for d, _bp in settings.rate_overrides.get(series, ())}
        rows = [(rate, rate.starts_on in overrides) for rate in settings.table(series)]
        current = fees.rate_on(settings.table(series), today)
        tables.append((series, rows, current))
    return render(
        "pay/fees.html",
        fee_form=fee_form or _fee_form(account),
        rate_form=rate_form,
        tables=tables,
        today=today,
        money=money,
        rate_text=payinfo.rate_text,
        status=status,
    )


@bp.route("/settings/fees", methods=["GET", "POST"])
@login_required
def fee_settings():
    if request.method == "GET":
        return _fees_page()
    form = FeeSettingsForm()
    if not form.validate_on_submit():
        return _fees_page(fee_form=form, status=422)
    account = current_user
    account.fees_legal = bool(form.legal.data)
    db.session.execute(delete(FeeCost).where(FeeCost.account_id == account.id))
    for level, entry in enumerate(form.costs, start=1):
        fixed = entry.form.fixed.data or 0
        percent = entry.form.percent.data or 0
        if fixed or percent:
            db.session.add(FeeCost(account_id=account.id, level=level, fixed_cents=fixed, percent_bp=percent))
    db.session.commit()
    flash(_("Late fees saved."), "success")
    return redirect(url_for("pay.fee_settings"))


@bp.route("/settings/fees/rates", methods=["POST"])
@login_required
def rate_override():
    account = current_user
    today = clock.today(account.timezone)
    form = _rate_form(today)
    if request.form.get("action") == "reset":
        if not form.csrf_token.validate(form):
            abort(400)
        series, starts_on = request.form.get("series"), request.form.get("starts_on", "")
        try:
            day = date.fromisoformat(starts_on)
        except ValueError:
            abort(400)
        db.session.execute(
            delete(RateOverride).where(
                RateOverride.account_id == account.id,
                RateOverride.series == series,
                RateOverride.starts_on == day,
            )
        )
        db.session.commit()
        flash(_("The shipped rate is used again."), "success")
        return redirect(url_for("pay.fee_settings") + "#rates")
    if not form.validate_on_submit():
        return _fees_page(rate_form=form, status=422)
    day = date.fromisoformat(form.starts_on.data)
    row = db.session.scalar(
        select(RateOverride).where(
            RateOverride.account_id == account.id,
            RateOverride.series == form.series.data,
            RateOverride.starts_on == day,
        )
    )
    if row is None:
        row = RateOverride(account_id=account.id, series=form.series.data, starts_on=day, rate_bp=0)
        db.session.add(row)
    row.rate_bp = form.rate.data or 0
    db.session.commit()
    flash(_("Rate saved."), "success")
    return redirect(url_for("pay.fee_settings") + "#rates")
