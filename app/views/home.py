"""Home ("Today"): what is overdue, what is due this week, what needs attention."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, joinedload

from .. import clock, invoicing
from ..extensions import db
from ..models import Client, Event, Invoice, Reminder
from ..reminders import planning
from . import render

bp = Blueprint("home", __name__)


def totals_by_currency(account_id, *conditions):
    rows = db.session.execute(
        select(Invoice.currency, func.sum(Invoice.total_cents - Invoice.paid_cents))
        .where(Invoice.account_id == account_id, Invoice.status == "sent", *conditions)
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    ).all()
    return [(currency, cents) for currency, cents in rows if cents]


@bp.route("/")
def root():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    return redirect(url_for("auth.login"))


@bp.route("/today")
@login_required
def index():
    today = clock.today(current_user.timezone)
    week_end = today + timedelta(days=7)
    overdue = totals_by_currency(current_user.id, Invoice.due_on < today)
    due_week = totals_by_currency(current_user.id, Invoice.due_on >= today, Invoice.due_on < week_end)
    attention = db.session.scalars(
        select(Invoice)
        .join(Invoice.client)
        .options(contains_eager(Invoice.client))
        .where(
            Invoice.account_id == current_user.id,
            Invoice.status == "sent",
            Invoice.due_on.is_not(None),
            Invoice.due_on < week_end,
        )
        .order_by(Invoice.due_on, Invoice.id)
        .limit(10)
    ).all()
    drafts = db.session.scalar(
        select(func.count(Invoice.id)).where(Invoice.account_id == current_user.id, Invoice.status == "draft")
    )
    events = db.session.scalars(
        select(Event)
        .options(joinedload(Event.invoice))  # each line names its invoice: one query, not one each
        .where(Event.account_id == current_user.id)
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(8)
    ).all()
    has_clients = db.session.scalar(select(func.count(Client.id)).where(Client.account_id == current_user.id))
    return render(
        "home.html",
        overdue=overdue,
        due_week=due_week,
        attention=attention,
        drafts=drafts,
        events=events,
        has_clients=has_clients,
        today=today,
        reminders=reminders_today(current_user, today),
        bank=bank_status(current_user.id),
    )


def bank_status(account_id):
    from ..imports.reconcile import last_statement_at
    from .imports import review_count

    return {"last": last_statement_at(account_id), "to_review": review_count(account_id)}


def reminders_today(account, today):
    """What the engine did and will do today: sent, still to go, needing a decision."""
    zone = ZoneInfo(account.timezone)
    start = datetime.combine(today, time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    sent = db.session.scalars(
        select(Reminder)
        .options(joinedload(Reminder.invoice), joinedload(Reminder.client))
        .where(
            Reminder.account_id == account.id,
            Reminder.state == "sent",
            Reminder.sent_at >= start,
            Reminder.sent_at < end,
        )
        .order_by(Reminder.sent_at.desc())
        .limit(20)
    ).all()
    upcoming = db.session.scalar(
        select(func.count(Invoice.id)).where(
            Invoice.account_id == account.id,
            Invoice.status == "sent",
            Invoice.next_reminder_at >= clock.now(),
            Invoice.next_reminder_at < end,
        )
    )
    problems = db.session.scalars(
        select(Reminder)
        .options(joinedload(Reminder.invoice))
        .where(
            Reminder.account_id == account.id,
            planning.NEEDS_DECISION,
            Reminder.updated_at >= clock.now() - timedelta(days=30),
        )
        .order_by(Reminder.updated_at.desc())
        .limit(10)
    ).all()
    waiting = db.session.scalar(
        select(func.count(Reminder.id)).where(
            Reminder.account_id == account.id, Reminder.state == "awaiting_approval"
        )
    )
    last_payment = invoicing.last_payment_on(account.id)
    # Something will go out and no payment was recorded for 3 days: reconcile first.
    reconcile = (
        account.reminders_enabled
        and (waiting or upcoming)
        and (last_payment is None or (today - last_payment).days > 3)
    )
    return {
        "sent": sent,
        "upcoming": upcoming,
        "problems": problems,
        "enabled": account.reminders_enabled,
        "waiting": waiting,
        "last_payment": last_payment,
        "reconcile": reconcile,
    }
