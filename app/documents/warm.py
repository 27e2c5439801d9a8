"""Draw reminder PDFs ahead of the send, so that sending reads them from the cache.

Every reminder email carries the invoice PDF (stamped when overdue). Drawing one
takes ~200 ms, reading it from the ``pdf_cache`` table ~3 ms (DESIGN.md rule 8):
the tick queues :func:`warm_pdfs` on a queue of its own (``relance-documents``,
which the worker takes after the sends) for the invoices whose next reminder
comes within a day, and the job draws the PDF that reminder will carry when the
cache does not have it yet. A PDF still missing at send time is drawn by the
sender itself, with no transaction open (app/documents/outgoing.py).

Like every PDF path, a job here draws with no database transaction open: on
SQLite each transaction holds the write lock (``BEGIN IMMEDIATE``, app/__init__.py)
and other senders wait on it at most ``busy_timeout`` (10 s).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Invoice
from . import pdf

log = logging.getLogger(__name__)

DOCUMENTS_QUEUE = "relance-documents"
AHEAD = timedelta(days=1)
JOB_INVOICES = 20
MARKER_TTL = 2 * 24 * 3600  # seconds


def _level_at(invoice: Invoice, when) -> int:
    """The level of the invoice's next reminder at ``when`` (1 at least: pdf.stamp_for
    stamps only when the invoice is overdue then)."""
    from ..reminders.levels import account_level

    account = invoice.account
    if invoice.due_on is None:
        return 1
    offset = (when.astimezone(ZoneInfo(account.timezone)).date() - invoice.due_on).days
    return max(account_level(account, offset), 1)


def pending_for(invoice: Invoice) -> pdf.Pending | None:
    """The PDF the invoice's next reminder will carry, unless the cache has it."""
    when = invoice.next_reminder_at or clock.now()
    now = max(when, clock.now())
    pending = pdf.prepare(invoice, _level_at(invoice, now), now=now)
    return None if pending.data is not None else pending


def warm(invoice_ids) -> int:
    """Draw the missing PDFs of these invoices; returns how many were drawn.

    Read (one short transaction), draw (none open), store (one short transaction
    per PDF: an upsert, so a send drawing the same PDF meanwhile is harmless)."""
    pendings = []
    for invoice in db.session.scalars(select(Invoice).where(Invoice.id.in_(list(invoice_ids)))).all():
        if invoice.status != "sent" or invoice.balance_cents <= 0:
            continue
        pending = pending_for(invoice)
        if pending is not None:
            pendings.append(pending)
    db.session.commit()
    drawn = 0
    for pending in pendings:
        data = pending.finish()  # no transaction open while drawing
        pdf.store(pending.invoice_id, pending.variant, pending.digest, data)
        db.session.commit()
        drawn += 1
    return drawn


def warm_pdfs(invoice_ids):
    """The RQ job (see app/jobs.py for the pattern)."""
    if has_app_context():
        return _run(invoice_ids)
    from ..jobs import _application

    with _application().app_context():
        return _run(invoice_ids)


def _run(invoice_ids):
    try:
        return warm(invoice_ids)
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def enqueue_due(now=None) -> int:
    """Queue warm_pdfs for the invoices whose next reminder comes within the next day
    (once per invoice and planned time: a Redis marker). Returns how many were queued."""
    from rq import Queue

    from ..reminders.dispatch import redis_connection

    if not current_app.config.get("REMINDER_PDF", True):
        return 0
    now = now or clock.now()
    rows = db.session.execute(
        select(Invoice.id, Invoice.next_reminder_at).where(
            Invoice.status == "sent",
            Invoice.reminders_enabled.is_(True),
            # Not those due now: this very tick sends them (and draws what is missing).
            Invoice.next_reminder_at > now,
            Invoice.next_reminder_at <= now + AHEAD,
        )
    ).all()
    db.session.commit()
    if not rows:
        return 0
    connection = redis_connection()
    pipe = connection.pipeline(transaction=False)
    for invoice_id, when in rows:
        pipe.set(f"relance:pdf-warm:{invoice_id}:{int(when.timestamp())}", "1", nx=True, ex=MARKER_TTL)
    fresh = [invoice_id for (invoice_id, _when), ok in zip(rows, pipe.execute(), strict=True) if ok]
    if not fresh:
        return 0
    queue = Queue(DOCUMENTS_QUEUE, connection=connection)
    queue.enqueue_many(
        [
            Queue.prepare_data(
                "app.documents.warm.warm_pdfs",
                args=(fresh[i : i + JOB_INVOICES],),
                timeout=600,
                result_ttl=600,
                failure_ttl=24 * 3600,
            )
            for i in range(0, len(fresh), JOB_INVOICES)
        ]
    )
    return len(fresh)
