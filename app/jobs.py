"""Thin RQ entry points: they take ids, open an app context and call app/reminders.

No automatic RQ retry around a send: exactly-once lives in the database.
"""

from flask import has_app_context

_app = None


def _application():
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def send_reminders(reminder_ids):
    if has_app_context():
        return _send(reminder_ids)
    with _application().app_context():
        return _send(reminder_ids)


def _send(reminder_ids):
    from .extensions import db
    from .reminders.dispatch import release
    from .reminders.sending import send_batch

    try:
        return send_batch(reminder_ids)
    except Exception:
        db.session.rollback()  # a worker lives long: never keep an aborted transaction
        raise
    finally:
        db.session.remove()
        release(reminder_ids)


def run_tick():
    from .reminders.dispatch import tick

    if has_app_context():
        report = tick()
    else:
        with _application().app_context():
            report = tick()
    return report.__dict__


def run_import(import_id):
    from .extensions import db
    from .imports.tasks import execute

    if has_app_context():
        return execute(import_id)
    with _application().app_context():
        try:
            return execute(import_id)
        finally:
            db.session.remove()


def run_batch(batch_id):
    """A "Remind all" batch (issue 5): write its reminders, then send them."""
    if has_app_context():
        return _run_batch(batch_id)
    with _application().app_context():
        return _run_batch(batch_id)


def _run_batch(batch_id):
    from .extensions import db
    from .reminders.workflows import run_batch as run

    try:
        return run(batch_id)
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def notify_client_answer(answer_id):
    """Email the owner about a client's answer on the invoice page (issue 7)."""
    if has_app_context():
        return _notify_client_answer(answer_id)
    with _application().app_context():
        return _notify_client_answer(answer_id)


def _notify_client_answer(answer_id):
    from .extensions import db
    from .models import ClientAnswer
    from .payinfo import notify_owner

    try:
        answer = db.session.get(ClientAnswer, answer_id)
        if answer is None:
            return False
        return notify_owner(answer.invoice, answer)
    finally:
        db.session.rollback()
        db.session.remove()
