"""Invoices: list with tabs and search, create/edit, detail, payments, sent, void."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from .. import clock, invoicing
from ..auth_setup import get_client, get_invoice, get_payment
from ..extensions import db
from ..forms import ConfirmForm, InvoiceForm, MarkSentForm, PaymentForm, options
from ..invoicing import InvoiceRuleError, LineInput
from ..models import Client, Event, Invoice
from ..money import MAX_CENTS
from ..parsing import ascii_digits, parse_id
from ..reminders import planning
from ..reminders.timeline import last_sent
from . import form_status, redirect_to, render
from .reminders import reminders_context

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

TABS = ("all", "draft", "sent", "overdue", "paid")


def tab_filter(query, tab, today):
    if tab == "draft":
        return query.where(Invoice.status == "draft")
    if tab == "sent":
        return query.where(Invoice.status == "sent")
    if tab == "overdue":
        return query.where(Invoice.status == "sent", Invoice.due_on.is_not(None), Invoice.due_on < today)
    if tab == "paid":
        return query.where(Invoice.status == "paid")
    return query


def list_query(account, tab="all", search="", client_id=None):
    """Invoices of the account for a tab and a search, with their client, in one SELECT."""
    today = clock.today(account.timezone)
    query = (
        select(Invoice)
        .join(Invoice.client)
        .options(contains_eager(Invoice.client))
        .where(Invoice.account_id == account.id)
    )
    query = tab_filter(query, tab, today)
    if client_id is not None:
        query = query.where(Invoice.client_id == client_id)
    search = (search or "").strip()
    if search:
        pattern = "%" + search.lower().replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(
            or_(
                func.lower(Invoice.number).like(pattern, escape="\\"),
                func.lower(Client.name).like(pattern, escape="\\"),
            )
        )
    if tab == "overdue":
        return query.order_by(Invoice.due_on.asc(), Invoice.id.desc())
    return query.order_by(Invoice.issued_on.desc(), Invoice.id.desc())


def _page_arg():
    page = request.args.get("page", "1")
    if not ascii_digits(page) or not 1 <= int(page) <= 100000:
        abort(400)
    return int(page)


@bp.route("/")
@login_required
def index():
    tab = request.args.get("tab", "all")
    if tab not in TABS:
        tab = "all"
    search = request.args.get("q", "").replace("\x00", "")[:100]
    if tab == "overdue":  # filters, selection and "Send reminder" (issue 5)
        from .collect import overdue_page

        return overdue_page(search)
    page = db.paginate(
        list_query(current_user, tab, search),
        page=_page_arg(),
        per_page=current_app.config["INVOICES_PER_PAGE"],
        error_out=False,
    )
    if page.page > 1 and not page.items:
        abort(404)  # past the last page: a stale or typed link
    return render(
        "invoices/index.html",
        "partials/invoice_list.html",
        page=page,
        tab=tab,
        tabs=TABS,
        search=search,
        today=clock.today(current_user.timezone),
        last_reminders=last_sent([invoice.id for invoice in page.items]),
    )


def _client_choices(form):
    clients = db.session.scalars(
        select(Client).where(Client.account_id == current_user.id).order_by(Client.name)
    ).all()
    form.client_id.choices = options(
        [("", _("Choose a client…")), *((str(c.id), c.name) for c in clients), ("new", _("+ New client"))]
    )
    return clients


def _apply_form(form, invoice):
    """Copy a validated form onto the invoice; field errors are added on the form.

    Returns True when everything was accepted.
    """
    ok = True
    choice = form.client_id.data or ""
    client = None
    if choice == "new":
        name = (form.new_client_name.data or "").strip()
        if not name:
            form.new_client_name.errors.append(_("Give the new client a name."))
            ok = False
        else:
            client = Client(
                account_id=current_user.id,
                name=name,
                email=(form.new_client_email.data or "").strip().lower() or None,
                language=current_user.language,
            )
    elif parse_id(choice) is not None:
        client = db.session.get(Client, parse_id(choice))
        if client is None or client.account_id != current_user.id:
            client = None
    if client is None and ok:
        form.client_id.errors.append(_("Choose a client."))
        ok = False

    number = (form.number.data or "").strip()
    if number and invoicing.number_taken(current_user.id, number, exclude_id=invoice.id):
        form.number.errors.append(_("Another invoice already has this number."))
        ok = False

    lines = []
    for entry in form.filled_lines():
        line = entry.form
        if line.unit_price.data is None:
            line.unit_price.errors.append(_("Enter a unit price."))
            ok = False
            continue
        lines.append(
            LineInput(
                description=line.description.data.strip(),
                quantity_milli=line.quantity.data if line.quantity.data is not None else 1000,
                unit_price_cents=line.unit_price.data,
                vat_rate_bp=getattr(line, "vat_rate_bp", 0),
            )
        )
    if not lines and form.amount.data is None and not form.amount.errors:
        form.amount.errors.append(_("Enter the amount, or add line items."))
        ok = False
    if lines and invoicing.lines_totals(lines)[2] > MAX_CENTS:
        form.amount.errors.append(_("This amount is too large."))
        ok = False
    if not ok:
        return False

    if client.id is None:
        db.session.add(client)
    invoice.client = client
    invoice.account_id = current_user.id
    invoice.number = number
    invoice.currency = form.currency.data
    invoice.issued_on = form.issued_on.data
    due_on, terms = form.due_on.data, form.terms_days.data
    if due_on is None and terms is not None:
        due_on = invoice.issued_on + timedelta(days=terms)
    elif due_on is not None:
        terms = (due_on - invoice.issued_on).days
    invoice.due_on, invoice.terms_days = due_on, terms
    invoicing.set_lines(invoice, lines)
    if not lines:
        invoice.total_cents = form.amount.data
    invoice.payment_method = form.payment_method.data
    invoice.instalment_plan = form.instalment_plan.data
    invoice.reminders_enabled = form.reminders_enabled.data
    invoice.notes = form.notes.data or ""
    try:
        invoicing.check_total(invoice)
    except InvoiceRuleError as error:
        form.amount.errors.append(str(error))
        return False
    invoicing.refresh_status(invoice)
    planning.replan(invoice)  # due date, switch or total may have changed
    return True


def _commit_or_number_taken(form):
    """Commit; when another request took the same number meanwhile (two tabs, a double
    submit), the unique constraint refuses it: say so next to the number, not with a 500."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        form.number.errors.append(_("Another invoice already has this number."))
        return False
    return True


def _form_page(form, invoice, status=None):
    status = status if status is not None else form_status(form)
    return render("invoices/form.html", form=form, invoice=invoice, has_errors=status == 422, status=status)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = InvoiceForm()
    _client_choices(form)
    if request.method == "GET":
        today = clock.today(current_user.timezone)
        form.number.data = invoicing.suggest_number(current_user.id, today.year)
        form.issued_on.data = today
        form.terms_days.data = 30
        form.due_on.data = today + timedelta(days=30)
        form.currency.data = current_user.currency
        preset = request.args.get("client_id", "")
        if ascii_digits(preset):
            form.client_id.data = str(get_client(int(preset)).id)
    elif form.add_line.data:
        form.lines.append_entry()
        return _form_page(form, None, status=200)
    elif form.validate_on_submit():
        invoice = Invoice(status="draft")
        accepted = _apply_form(form, invoice)
        if accepted:
            db.session.add(invoice)
            invoicing.log(invoice, "invoice_created")
        if accepted and _commit_or_number_taken(form):
            flash(_("Invoice %(number)s created.", number=invoice.number), "success")
            return redirect(url_for("invoices.detail", invoice_id=invoice.id))
        db.session.rollback()
        # Errors found by the rules (line items, number taken…) are not in form.errors.
        return _form_page(form, None, status=422)
    return _form_page(form, None)


@bp.route("/<int:invoice_id>/edit", methods=["GET", "POST"])
@login_required
def edit(invoice_id):
    invoice = get_invoice(invoice_id)
    if invoice.status == "void":
        flash(_("A void invoice cannot be edited."), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    form = InvoiceForm(obj=None)
    _client_choices(form)
    if request.method == "GET":
        form.client_id.data = str(invoice.client_id)
        form.number.data = invoice.number
        form.currency.data = invoice.currency
        form.issued_on.data = invoice.issued_on
        form.due_on.data = invoice.due_on
        form.terms_days.data = invoice.terms_days
        form.amount.data = None if invoice.lines else invoice.total_cents
        form.payment_method.data = invoice.payment_method
        form.instalment_plan.data = invoice.instalment_plan
        form.reminders_enabled.data = invoice.reminders_enabled
        form.notes.data = invoice.notes
        while len(form.lines.entries):
            form.lines.pop_entry()
        for line in invoice.lines:
            entry = form.lines.append_entry()
            entry.form.description.data = line.description
            entry.form.quantity.data = line.quantity_milli
            entry.form.unit_price.data = line.unit_price_cents
            entry.form.vat_rate.data = f"{line.vat_rate_bp / 100:g}"
        if not invoice.lines:
            form.lines.append_entry()
    elif form.add_line.data:
        form.lines.append_entry()
        return _form_page(form, invoice, status=200)
    elif form.validate_on_submit():
        with db.session.no_autoflush:
            accepted = _apply_form(form, invoice)
        if accepted:
            invoicing.log(invoice, "invoice_edited")
        if accepted and _commit_or_number_taken(form):
            flash(_("Invoice %(number)s saved.", number=invoice.number), "success")
            return redirect(url_for("invoices.detail", invoice_id=invoice.id))
        db.session.rollback()
        return _form_page(form, invoice, status=422)
    return _form_page(form, invoice)


def _detail_context(invoice, **forms):
    today = clock.today(current_user.timezone)
    payment_form = forms.get("payment_form") or PaymentForm(formdata=None)
    if payment_form.paid_on.data is None:
        payment_form.paid_on.data = today
    if payment_form.amount.data is None and not payment_form.errors:
        payment_form.amount.data = invoice.balance_cents or None
    sent_form = forms.get("sent_form") or MarkSentForm(formdata=None)
    if sent_form.sent_on.data is None:
        sent_form.sent_on.data = today
    events = db.session.scalars(
        select(Event)
        .where(Event.invoice_id == invoice.id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(20)
    ).all()
    return {
        **reminders_context(invoice),
        "payment_form": payment_form,
        "sent_form": sent_form,
        "confirm_form": ConfirmForm(formdata=None),
        "events": events,
        "today": today,
    }


@bp.route("/<int:invoice_id>")
@login_required
def detail(invoice_id):
    invoice = get_invoice(invoice_id)
    return render("invoices/detail.html", **_detail_context(invoice))


@bp.route("/<int:invoice_id>/payments", methods=["POST"])
@login_required
def add_payment(invoice_id):
    invoice = get_invoice(invoice_id)
    form = PaymentForm()
    if form.validate_on_submit():
        try:
            invoicing.record_payment(
                invoice,
                form.amount.data,
                form.paid_on.data,
                form.method.data,
                (form.reference.data or "").strip(),
            )
        except InvoiceRuleError as error:
            form.amount.errors.append(str(error))
        else:
            db.session.commit()
            if invoice.status == "paid":
                flash(_("Payment recorded: the invoice is paid in full."), "success")
            else:
                flash(_("Payment recorded."), "success")
            return redirect_to(url_for("invoices.detail", invoice_id=invoice.id))
    db.session.rollback()
    invoice = get_invoice(invoice_id)
    return render(
        "invoices/detail.html",
        "partials/payment_form.html",
        status=422,
        **_detail_context(invoice, payment_form=form),
    )


@bp.route("/<int:invoice_id>/payments/<int:payment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_payment(invoice_id, payment_id):
    invoice = get_invoice(invoice_id)
    payment = get_payment(invoice, payment_id)
    form = PaymentForm()
    if request.method == "GET":
        form.amount.data = payment.amount_cents
        form.paid_on.data = payment.paid_on
        form.method.data = payment.method
        form.reference.data = payment.reference
    elif form.validate_on_submit():
        try:
            invoicing.update_payment(
                invoice,
                payment,
                form.amount.data,
                form.paid_on.data,
                form.method.data,
                (form.reference.data or "").strip(),
            )
        except InvoiceRuleError as error:
            form.amount.errors.append(str(error))
            db.session.rollback()
        else:
            db.session.commit()
            flash(_("Payment saved."), "success")
            return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    return render(
        "invoices/payment_edit.html",
        invoice=invoice,
        payment=payment,
        form=form,
        confirm_form=ConfirmForm(formdata=None),
        status=form_status(form),
    )


@bp.route("/<int:invoice_id>/payments/<int:payment_id>/delete", methods=["POST"])
@login_required
def delete_payment(invoice_id, payment_id):
    invoice = get_invoice(invoice_id)
    payment = get_payment(invoice, payment_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    invoicing.delete_payment(invoice, payment)
    db.session.commit()
    flash(_("Payment deleted."), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))


@bp.route("/<int:invoice_id>/sent", methods=["POST"])
@login_required
def mark_sent(invoice_id):
    invoice = get_invoice(invoice_id)
    form = MarkSentForm()
    if form.validate_on_submit():
        today = clock.today(current_user.timezone)
        if form.sent_on.data > today:
            form.sent_on.errors.append(_("The date cannot be in the future."))
        elif form.sent_on.data < invoice.issued_on:
            form.sent_on.errors.append(_("The date cannot be before the issue date."))
        else:
            sent_at = None
            if form.sent_on.data != today:
                sent_at = _morning_of(form.sent_on.data, current_user.timezone)
            try:
                invoicing.mark_sent(invoice, form.via.data, sent_at)
            except InvoiceRuleError as error:
                form.via.errors.append(str(error))
            else:
                db.session.commit()
                flash(_("Invoice marked as sent."), "success")
                return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    db.session.rollback()
    invoice = get_invoice(invoice_id)
    return render("invoices/detail.html", status=422, **_detail_context(invoice, sent_form=form))


def _morning_of(day, timezone):
    """A send date typed by the owner, as 09:00 that day in their time zone."""
    return datetime.combine(day, time(9, 0), tzinfo=ZoneInfo(timezone))


@bp.route("/<int:invoice_id>/void", methods=["POST"])
@login_required
def void(invoice_id):
    invoice = get_invoice(invoice_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        invoicing.void(invoice)
    except InvoiceRuleError as error:
        flash(str(error), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id))
    db.session.commit()
    flash(_("Invoice %(number)s is void.", number=invoice.number), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id))
