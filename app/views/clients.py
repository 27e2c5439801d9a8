"""Clients: list with open balance, detail with their invoices, create/edit."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import case, func, select

from .. import clock
from ..auth_setup import get_client
from ..documents.messages import language_choices
from ..extensions import db
from ..forms import ClientForm, ConfirmForm
from ..models import Client, Invoice
from ..reminders import planning
from . import form_status, render
from .invoices import list_query

bp = Blueprint("clients", __name__, url_prefix="/clients")


def client_rows(account, search=""):
    """Clients with open balances per currency and overdue counts, in two queries."""
    today = clock.today(account.timezone)
    query = select(Client).where(Client.account_id == account.id).order_by(func.lower(Client.name), Client.id)
    search = (search or "").strip().lower()
    if search:
        pattern = "%" + search.replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(func.lower(Client.name).like(pattern, escape="\\"))
    clients = db.session.scalars(query).all()
    overdue = func.sum(case((Invoice.due_on < today, 1), else_=0))
    sums = db.session.execute(
        select(
            Invoice.client_id,
            Invoice.currency,
            func.sum(Invoice.total_cents - Invoice.paid_cents),
            overdue,
        )
        .where(Invoice.account_id == account.id, Invoice.status == "sent")
        .group_by(Invoice.client_id, Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    balances, overdue_counts = {}, {}
    for client_id, currency, balance, late in sums:
        balances.setdefault(client_id, []).append((currency, balance))
        overdue_counts[client_id] = overdue_counts.get(client_id, 0) + (late or 0)
    return [(client, balances.get(client.id, []), overdue_counts.get(client.id, 0)) for client in clients]


@bp.route("/")
@login_required
def index():
    search = request.args.get("q", "").replace("\x00", "")[:100]
    rows = client_rows(current_user, search)
    return render("clients/index.html", "partials/client_list.html", rows=rows, search=search)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = ClientForm()
    form.language.choices = language_choices(current_user)
    if request.method == "GET":
        form.language.data = current_user.language
        form.country.data = "CA" if current_user.currency == "CAD" else "FR"
    if form.validate_on_submit():
        client = Client(account_id=current_user.id)
        _apply(form, client)
        db.session.add(client)
        db.session.commit()
        flash(_("Client %(name)s added.", name=client.name), "success")
        return redirect(url_for("clients.detail", client_id=client.id))
    return render("clients/form.html", form=form, client=None, status=form_status(form))


def _apply(form, client):
    client.name = form.name.data.strip()
    client.email = (form.email.data or "").strip().lower() or None
    client.language = form.language.data
    client.country = form.country.data
    client.kind = form.kind.data
    client.address = (form.address.data or "").strip()
    client.notes = (form.notes.data or "").strip()
    client.reminders_paused = form.reminders_paused.data


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
@login_required
def edit(client_id):
    client = get_client(client_id)
    form = ClientForm(obj=client if request.method == "GET" else None)
    form.language.choices = language_choices(current_user)
    if form.validate_on_submit():
        _apply(form, client)
        for invoice in client.invoices:  # email or pause may have changed
            planning.replan(invoice)
        db.session.commit()
        flash(_("Client %(name)s saved.", name=client.name), "success")
        return redirect(url_for("clients.detail", client_id=client.id))
    return render("clients/form.html", form=form, client=client, status=form_status(form))


@bp.route("/<int:client_id>")
@login_required
def detail(client_id):
    client = get_client(client_id)
    invoices = db.session.scalars(list_query(current_user, client_id=client.id)).all()
    totals = {}
    for invoice in invoices:
        if invoice.status == "sent":
            totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.balance_cents
    return render(
        "clients/detail.html",
        client=client,
        invoices=invoices,
        totals=totals,
        today=clock.today(current_user.timezone),
        confirm_form=ConfirmForm(formdata=None),
    )


@bp.route("/<int:client_id>/delete", methods=["POST"])
@login_required
def delete(client_id):
    client = get_client(client_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    has_invoices = db.session.scalar(select(func.count(Invoice.id)).where(Invoice.client_id == client.id))
    if has_invoices:
        flash(_("This client has invoices: void or keep them; the client cannot be deleted."), "error")
        return redirect(url_for("clients.detail", client_id=client.id))
    db.session.delete(client)
    db.session.commit()
    flash(_("Client deleted."), "success")
    return redirect(url_for("clients.index"))
