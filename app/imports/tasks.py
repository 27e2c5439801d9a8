"""Running an invoice import: here (small files) or on the RQ worker (large ones)."""

from __future__ import annotations

import logging

from flask_babel import force_locale
from flask_babel import gettext as _

from .. import clock
from ..extensions import db
from ..models import Account, ImportFile
from . import ImportRefused
from . import invoices as invoice_import

log = logging.getLogger(__name__)
JOB_TIMEOUT = 3600


def execute(import_id: int) -> str:
    """Import one stored file; its state ends "done" or "failed" (with the reason)."""
    import_file = db.session.get(ImportFile, import_id)
    if import_file is None or import_file.state not in ("queued", "uploaded"):
        return "skipped"
    import_file.state = "running"
    db.session.commit()
    language = db.session.get(Account, import_file.account_id).language
    try:
        report = invoice_import.run(import_file, progress=True)
    except ImportRefused as error:
        db.session.rollback()
        with force_locale(language):
            message = error.translated()
        _finish(import_id, "failed", message)
        return "failed"
    except Exception:
        db.session.rollback()
        log.exception("import %s failed", import_id)
        with force_locale(language):
            message = _(
                "The import stopped on an unexpected error. Rows already imported are kept; "
                "importing the same file again completes it."
            )
        _finish(import_id, "failed", message)
        raise
    db.session.commit()
    import_file = db.session.get(ImportFile, import_id)
    import_file.rows_done = report.rows
    import_file.created_count = report.created
    import_file.updated_count = report.updated
    _finish(import_id, "done", "")
    return "done"


def _finish(import_id, state, message):
    import_file = db.session.get(ImportFile, import_id)
    import_file.state = state
    import_file.error = message
    import_file.finished_at = clock.now()
    db.session.commit()


def enqueue(import_file: ImportFile) -> None:
    from rq import Queue

    from ..reminders.dispatch import QUEUE, redis_connection

    Queue(QUEUE, connection=redis_connection()).enqueue(
        "app.jobs.run_import", import_file.id, job_timeout=JOB_TIMEOUT, result_ttl=3600
    )
