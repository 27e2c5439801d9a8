"""'Export my data': a ZIP of CSV files of everything the account owns."""

import csv
import io
import zipfile

from sqlalchemy import delete, select

from . import clock
from .extensions import db
from .models import Account, Client, Event, Invoice, InvoiceLine, Payment, Reminder


def _csv(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _cents(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def export_zip(account: Account) -> bytes:
    clients = db.session.scalars(
        select(Client).where(Client.account_id == account.id).order_by(Client.id)
    ).all()
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.account_id == account.id).order_by(Invoice.id)
    ).all()
    lines = db.session.scalars(
        select(InvoiceLine)
        .join(Invoice)
        .where(Invoice.account_id == account.id)
        .order_by(InvoiceLine.invoice_id, InvoiceLine.position)
    ).all()
    payments = db.session.scalars(
        select(Payment).where(Payment.account_id == account.id).order_by(Payment.id)
    ).all()
    files = {
        "account.csv": _csv(
            [
                "email",
                "business_name",
                "address",
                "company_number",
                "vat_number",
                "reply_to_email",
                "language",
                "timezone",
                "currency",
                "iban",
                "bic",
            ],
            [
                [
                    account.email,
                    account.business_name,
                    account.address,
                    account.company_number,
                    account.vat_number,
                    account.reply_to_email,
                    account.language,
                    account.timezone,
                    account.currency,
                    account.iban,
                    account.bic,
                ]
            ],
        ),
        "clients.csv": _csv(
            [
                "id",
                "name",
                "email",
                "language",
                "country",
                "kind",
                "address",
                "notes",
                "reminders_paused",
            ],
            [
                [
                    c.id,
                    c.name,
                    c.email or "",
                    c.language,
                    c.country,
                    c.kind,
                    c.address,
                    c.notes,
                    int(c.reminders_paused),
                ]
                for c in clients
            ],
        ),
        "invoices.csv": _csv(
            [
                "id",
                "number",
                "client_id",
                "issued_on",
                "due_on",
                "terms_days",
                "currency",
                "total",
                "paid",
                "balance",
                "status",
                "sent_via",
                "sent_at",
                "reminders_enabled",
                "payment_method",
                "instalment_plan",
            ],
            [
                [
                    i.id,
                    i.number,
                    i.client_id,
                    i.issued_on.isoformat(),
                    i.due_on.isoformat() if i.due_on else "",
                    "" if i.terms_days is None else i.terms_days,
                    i.currency,
                    _cents(i.total_cents),
                    _cents(i.paid_cents),
                    _cents(i.balance_cents),
                    i.status,
                    i.sent_via or "",
                    i.sent_at.isoformat() if i.sent_at else "",
                    int(i.reminders_enabled),
                    i.payment_method,
                    int(i.instalment_plan),
                ]
                for i in invoices
            ],
        ),
        "invoice_lines.csv": _csv(
            ["invoice_id", "position", "description", "quantity", "unit_price", "vat_rate"],
            [
                [
                    li.invoice_id,
                    li.position,
                    li.description,
                    f"{li.quantity_milli / 1000:g}",
                    _cents(li.unit_price_cents),
                    f"{li.vat_rate_bp / 100:g}",
                ]
                for li in lines
            ],
        ),
        "payments.csv": _csv(
            ["id", "invoice_id", "amount", "paid_on", "method", "reference"],
            [
                [
                    p.id,
                    p.invoice_id,
                    _cents(p.amount_cents),
                    p.paid_on.isoformat(),
                    p.method,
                    p.reference,
                ]
                for p in payments
            ],
        ),
        "reminders.csv": _csv(
            [
                "id",
                "invoice_id",
                "client_id",
                "kind",
                "step_offset",
                "step_on",
                "state",
                "reason",
                "recipient",
                "subject",
                "sent_at",
                "message_id",
            ],
            [
                [
                    r.id,
                    r.invoice_id or "",
                    r.client_id,
                    r.kind,
                    "" if r.step_offset is None else r.step_offset,
                    r.step_on.isoformat() if r.step_on else "",
                    r.state,
                    r.reason,
                    r.recipient,
                    r.subject,
                    r.sent_at.isoformat() if r.sent_at else "",
                    r.message_id,
                ]
                for r in db.session.scalars(
                    select(Reminder).where(Reminder.account_id == account.id).order_by(Reminder.id)
                )
            ],
        ),
    }
    out = io.BytesIO()
    stamp = clock.now().timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("utf-8-sig"))
    return out.getvalue()


def delete_account(account: Account) -> None:
    """Remove the account and everything it owns, children first."""
    account_id = account.id
    invoice_ids = select(Invoice.id).where(Invoice.account_id == account_id)
    db.session.execute(delete(Reminder).where(Reminder.account_id == account_id))
    db.session.execute(delete(Event).where(Event.account_id == account_id))
    db.session.execute(delete(Payment).where(Payment.account_id == account_id))
    db.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id.in_(invoice_ids)))
    db.session.execute(delete(Invoice).where(Invoice.account_id == account_id))
    db.session.execute(delete(Client).where(Client.account_id == account_id))
    db.session.execute(delete(Account).where(Account.id == account_id))
    db.session.commit()
