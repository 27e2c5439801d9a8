"""One pass of the engine — sweep, plan, hand out, digest — as the worker's
periodic tick and ``flask reminders tick`` both run it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from redis import Redis
from sqlalchemy import select, update

from .. import clock, mailer
from ..documents import warm
from ..extensions import db
from ..models import Account, Reminder
from ..urls import external_url
from . import planning
from .sending import send_batch
from .workflows import group_due, requeue_stale_batches

log = logging.getLogger(__name__)

QUEUE = "relance"
JOB_BATCH = 50
JOB_TIMEOUT = 600  # seconds; SMTP timeouts (MAIL_TIMEOUT) stay well below it


@dataclass
class TickReport:
    lost: int = 0
    planned: int = 0
    skipped: int = 0
    enqueued: int = 0
    outcomes: dict = field(default_factory=dict)
    digests: int = 0
    pdfs_queued: int = 0
    batches: int = 0


def redis_connection() -> Redis:
    connection = current_app.extensions.get("relance_redis")
    if connection is None:
        connection = Redis.from_url(current_app.config["REDIS_URL"])
        current_app.extensions["relance_redis"] = connection
    return connection


QUEUED_PREFIX = "relance:queued:"

# SET <prefix><id> 1 NX EX ttl for every id, in one round trip; answers the fresh
# ids. The ids go as one comma-separated argument and come back the same way:
# a pipeline of one SET per id cost ~20 µs of client-side encoding each, and
# 1,000 keys and 1,000 flags as separate arguments still ~2.5 ms a tick. (The
# keys are not declared in KEYS: fine on one Redis server, not on a cluster,
# which RQ does not support either.)
_MARK_QUEUED = """
local fresh = {}
for id in string.gmatch(ARGV[3], '[^,]+') do
  if redis.call('SET', ARGV[2] .. id, '1', 'NX', 'EX', ARGV[1]) then fresh[#fresh + 1] = id end
end
return table.concat(fresh, ',')
"""
MARKERS_PER_CALL = 1000


def _mark_queued(connection: Redis):
    script = current_app.extensions.get("relance_mark_queued")
    if script is None or script.registered_client is not connection:
        script = connection.register_script(_MARK_QUEUED)
        current_app.extensions["relance_mark_queued"] = script
    return script


def enqueue_ready(ids: list[int]) -> int:
    """Put ready reminder ids on the RQ queue, in batches, unless already queued.

    A marker per id (SET NX with a TTL) keeps two ticks from queueing the same id;
    if Redis loses everything, the markers go too and the next tick re-queues.
    """
    if not ids:
        return 0
    with planning.collector_paused():
        return _enqueue(ids)


def _enqueue(ids: list[int]) -> int:
    from rq import Queue

    connection = redis_connection()
    fresh = []
    for start in range(0, len(ids), MARKERS_PER_CALL):
        chunk = ids[start : start + MARKERS_PER_CALL]
        answer = _mark_queued(connection)(
            args=[planning.QUEUED_MARKER_TTL, QUEUED_PREFIX, ",".join(str(int(i)) for i in chunk)],
        )
        if isinstance(answer, bytes):
            answer = answer.decode()
        if answer:
            fresh.extend(int(i) for i in answer.split(","))
    if not fresh:
        return 0
    queue = Queue(QUEUE, connection=connection)
    jobs = [
        Queue.prepare_data(
            "app.jobs.send_reminders",
            args=(fresh[i : i + JOB_BATCH],),
            timeout=JOB_TIMEOUT,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
        for i in range(0, len(fresh), JOB_BATCH)
    ]
    queue.enqueue_many(jobs)
    return len(fresh)


def release(ids) -> None:
    """A worker has handled these ids: a later retry may queue them again."""
    if ids:
        redis_connection().delete(*(f"{QUEUED_PREFIX}{i}" for i in ids))


def tick(inline: bool = False) -> TickReport:
    """Sweep lost sends, plan what has come, then send it (inline) or queue it."""
    report = TickReport()
    now = clock.now()
    report.lost = planning.sweep_lost(now)
    plan = planning.plan_due(now)
    group_due(now)  # "Group reminders per client" (issue 5)
    report.planned, report.skipped = plan.scheduled, plan.skipped
    ids = planning.ready_ids(now)
    if inline:
        for i in range(0, len(ids), JOB_BATCH):
            for outcome, count in send_batch(ids[i : i + JOB_BATCH]).items():
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + count
    else:
        report.enqueued = enqueue_ready(ids)
        # The PDFs of the reminders coming within a day, drawn ahead (issue 6).
        report.pdfs_queued = warm.enqueue_due(now)
    report.batches = requeue_stale_batches(now, inline=inline)  # lost "Remind all" jobs (issue 5)
    report.digests = send_digests()
    return report


def send_digests() -> int:
    """Once a day, tell each owner which reminders failed or have an unknown outcome."""
    now = clock.now()
    since = now - timedelta(days=1)
    account_ids = db.session.scalars(
        select(Reminder.account_id).where(planning.NEEDS_DECISION, Reminder.updated_at >= since).distinct()
    ).all()
    sent = 0
    for account_id in account_ids:
        account = db.session.get(Account, account_id)
        today = clock.today(account.timezone)
        if account.digest_sent_on is not None and account.digest_sent_on >= today:
            continue
        problems = db.session.scalars(
            select(Reminder)
            .where(Reminder.account_id == account_id, planning.NEEDS_DECISION, Reminder.updated_at >= since)
            .order_by(Reminder.updated_at)
        ).all()
        with force_locale(account.language):
            links = {
                r.id: external_url("invoices.detail", invoice_id=r.invoice_id)
                for r in problems
                if r.invoice_id
            }
            text = render_template("emails/digest.txt", account=account, problems=problems, links=links)
            subject = _("Relance: %(num)d reminder(s) need your attention", num=len(problems))
        # Sent by the tick, nobody clicked for it: auto-generated (RFC 3834).
        message = mailer.compose(subject, [account.email], text, auto_submitted=True)
        db.session.commit()  # hold no transaction (no SQLite write lock) during SMTP
        try:
            mailer.send(message)
        except mailer.BadAddress:
            log.warning("account %s: digest not sent, its address cannot be written", account_id)
            continue
        except mailer.SEND_ERRORS:
            continue  # the mail server is down: tomorrow's tick tries again
        db.session.execute(update(Account).where(Account.id == account_id).values(digest_sent_on=today))
        db.session.commit()
        sent += 1
    return sent
