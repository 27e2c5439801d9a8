"""Import: invoices from a CSV (mapping → dry run → import), bank statements (CSV or
CAMT.053) and the "To review" list of possible payments."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import RequestEntityTooLarge

from .. import clock
from ..auth_setup import valid_id
from ..extensions import csrf, db
from ..imports import MAX_UPLOAD_BYTES, WORKER_THRESHOLD, ImportRefused, matching, reconcile, tasks
from ..imports import invoices as invoice_import
from ..imports import statements as statement_import
from ..imports import translate as translate_row_message
from ..imports.csvread import count_rows, decode, reader
from ..invoicing import InvoiceRuleError
from ..models import ImportFile, Invoice, StatementLine
from ..parsing import ascii_digits
from . import redirect_to, render

bp = Blueprint("imports", __name__, url_prefix="/imports")
KINDS = ("invoices", "statement")


def _owned(model, object_id):
    if not valid_id(object_id):
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or obj.account_id != current_user.id:
        abort(404)
    return obj


def _check_csrf():
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    try:
        validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
    except ValidationError:
        abort(400)


def review_count(account_id: int) -> int:
    return db.session.scalar(
        select(func.count(StatementLine.id)).where(
            StatementLine.account_id == account_id, StatementLine.state.in_(matching.PENDING_STATES)
        )
    )


def _index_page(status=200, errors=None, kind=None):
    recent = db.session.scalars(
        select(ImportFile)
        .where(ImportFile.account_id == current_user.id)
        .order_by(ImportFile.created_at.desc(), ImportFile.id.desc())
        .limit(10)
    ).all()
    return render(
        "imports/index.html",
        status=status,
        recent=recent,
        errors=errors or {},
        to_review=review_count(current_user.id),
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        kind=kind,
    )


@bp.route("/")
@login_required
def index():
    return _index_page()


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    db.session.rollback()
    kind = request.args.get("kind", "invoices")
    message = _(
        "The file is larger than %(mb)d MB: split it, or export fewer rows.",
        mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    )
    return _index_page(status=413, errors={kind: message}, kind=kind)


@bp.route("/upload", methods=["POST"])
@csrf.exempt  # checked below, once the larger upload limit is set
@login_required
def upload():
    kind = request.args.get("kind", "invoices")
    if kind not in KINDS:
        abort(400)
    limit = MAX_UPLOAD_BYTES + 64 * 1024
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()  # refused before reading the body
    request.max_content_length = limit
    _check_csrf()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _index_page(422, {kind: _("Choose a file.")}, kind)
    content = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise RequestEntityTooLarge()
    try:
        if kind == "statement" and statement_import.is_xml(content):
            import_file = invoice_import.store(current_user, upload.filename, content, kind)
            import_file.mapping = json.dumps({"format": "camt053"})
            db.session.flush()
            report = reconcile.import_statement(current_user, import_file)
            db.session.commit()
            flash(_summary(report), "success")
            return redirect(url_for("imports.detail", import_id=import_file.id))
        header, _rows = reader(decode(content))
    except ImportRefused as error:
        db.session.rollback()
        return _index_page(422, {kind: error.translated()}, kind)
    module = invoice_import if kind == "invoices" else statement_import
    import_file = invoice_import.store(current_user, upload.filename, content, kind)
    import_file.mapping = json.dumps(module.guess_mapping(header))
    import_file.rows_total = count_rows(content)
    db.session.add(import_file)
    db.session.commit()
    return redirect(url_for("imports.mapping", import_id=import_file.id))


def _summary(report) -> str:
    return _(
        "Statement imported: %(new)d new line(s), %(already)d already known; "
        "%(applied)d payment(s) recorded, %(review)d to review.",
        new=report.new,
        already=report.already,
        applied=report.applied,
        review=report.review,
    )


def _header_of(import_file):
    try:
        header, _rows = reader(decode(import_file.content))
    except ImportRefused:
        abort(404)
    return header


@bp.route("/<int:import_id>/mapping", methods=["GET", "POST"])
@login_required
def mapping(import_id):
    import_file = _owned(ImportFile, import_id)
    if import_file.state != "uploaded":
        return redirect(url_for("imports.detail", import_id=import_file.id))
    module = invoice_import if import_file.kind == "invoices" else statement_import
    header = _header_of(import_file)
    chosen = module.load_mapping(import_file)
    error = None
    status = 200
    if request.method == "POST":
        chosen = {}
        for name in module.FIELDS:
            value = request.form.get(f"col_{name}", "")
            if ascii_digits(value) and int(value) < len(header):
                chosen[name] = int(value)
            elif value in ("", "none"):
                chosen[name] = None
            else:
                abort(400)
        used = [v for v in chosen.values() if v is not None]
        missing = module.missing_fields(chosen)
        if missing:
            error = _(
                "Choose a column for: %(fields)s.",
                fields=", ".join(_(module.FIELD_LABELS[f]) for f in missing),
            )
        elif len(used) != len(set(used)):
            error = _("A column is chosen for two fields: each column can be used once.")
        if error:
            status = 422
        else:
            import_file.mapping = json.dumps(chosen)
            import_file.already_emailed = request.form.get("already_emailed") == "y"
            if import_file.kind == "statement":
                try:
                    report = reconcile.import_statement(current_user, import_file)
                except ImportRefused as refused:
                    db.session.rollback()
                    import_file = _owned(ImportFile, import_id)
                    error, status = refused.translated(), 422
                else:
                    db.session.commit()
                    flash(_summary(report), "success")
                    return redirect(url_for("imports.detail", import_id=import_file.id))
            else:
                db.session.commit()
                return redirect(url_for("imports.preview", import_id=import_file.id))
    return render(
        "imports/mapping.html",
        status=status,
        import_file=import_file,
        header=header,
        fields=module.FIELDS,
        labels=module.FIELD_LABELS,
        required=getattr(module, "REQUIRED", ("booked_on", "amount")),
        chosen=chosen,
        error=error,
    )


@bp.route("/<int:import_id>/preview")
@login_required
def preview(import_id):
    import_file = _owned(ImportFile, import_id)
    if import_file.kind != "invoices":
        abort(404)
    return _preview_page(import_file)


def _preview_page(import_file, status=200, error=None):
    try:
        report = invoice_import.dry_run(
            import_file.content,
            invoice_import.load_mapping(import_file),
            current_user,
            import_file.already_emailed,
        )
    except ImportRefused as refused:
        report, error, status = None, refused.translated(), 422
    return render(
        "imports/preview.html",
        status=status,
        import_file=import_file,
        report=report,
        error=error,
        labels=invoice_import.FIELD_LABELS,
        on_worker=import_file.rows_total > WORKER_THRESHOLD,
        import_message=translate_row_message,
    )


@bp.route("/<int:import_id>/run", methods=["POST"])
@login_required
def run(import_id):
    import_file = _owned(ImportFile, import_id)
    if import_file.kind != "invoices":
        abort(404)
    if import_file.state != "uploaded":
        return redirect(url_for("imports.detail", import_id=import_file.id))
    # Claim the import in one conditional UPDATE: a double click (or a second tab)
    # finds it no longer "uploaded" and only sees the result.
    claimed = db.session.execute(
        update(ImportFile)
        .where(ImportFile.id == import_file.id, ImportFile.state == "uploaded")
        .values(state="queued")
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return redirect(url_for("imports.detail", import_id=import_id))
    import_file.state = "queued"
    import_file.valid_only = request.form.get("valid_only") == "y"
    if import_file.rows_total > WORKER_THRESHOLD:
        db.session.commit()
        tasks.enqueue(import_file)
        return redirect(url_for("imports.detail", import_id=import_file.id))
    try:
        report = invoice_import.run(import_file)
        import_file.state = "done"
        import_file.rows_done = import_file.rows_total = report.rows
        import_file.created_count, import_file.updated_count = report.created, report.updated
        import_file.finished_at = clock.now()
        db.session.commit()
    except (ImportRefused, InvoiceRuleError, IntegrityError) as refused:
        db.session.rollback()
        import_file = _owned(ImportFile, import_id)
        message = (
            refused.translated()
            if isinstance(refused, ImportRefused)
            else _("The import could not be completed; nothing was imported. Try again.")
        )
        return _preview_page(import_file, 422, message)
    flash(
        _(
            "Import done: %(created)d invoice(s) created, %(updated)d updated, %(unchanged)d unchanged.",
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
        ),
        "success",
    )
    return redirect(url_for("imports.detail", import_id=import_file.id))


@bp.route("/<int:import_id>")
@login_required
def detail(import_id):
    import_file = _owned(ImportFile, import_id)
    lines = []
    if import_file.kind == "statement":
        lines = db.session.scalars(
            select(StatementLine)
            .where(StatementLine.import_id == import_file.id, StatementLine.amount_cents > 0)
            .order_by(StatementLine.booked_on, StatementLine.id)
            .limit(200)
        ).all()
    return render(
        "imports/detail.html",
        "partials/import_progress.html",
        import_file=import_file,
        lines=lines,
        to_review=review_count(current_user.id),
    )


@bp.route("/review")
@login_required
def review():
    lines = db.session.scalars(
        select(StatementLine)
        .where(StatementLine.account_id == current_user.id, StatementLine.state.in_(matching.PENDING_STATES))
        .options(joinedload(StatementLine.invoice).joinedload(Invoice.client))  # one query, not 400
        .order_by(StatementLine.state, StatementLine.booked_on.desc(), StatementLine.id)
        .limit(200)
    ).all()
    return render("imports/review.html", lines=lines)


def _line_action(line_id, action):
    line = _owned(StatementLine, line_id)
    message = None
    if line.state not in matching.PENDING_STATES:
        message = _("This line was already handled.")
    elif action == "confirm":
        if line.invoice is None:
            abort(400)
        try:
            invoice = matching.confirm(line)
        except matching.AlreadyHandled:
            db.session.rollback()
            line = _owned(StatementLine, line_id)
            message = _("This line was already handled.")
        except InvoiceRuleError:
            db.session.rollback()
            line = _owned(StatementLine, line_id)
            message = _("This invoice has nothing left to pay: dismiss the line instead.")
            return render(
                "imports/review.html",
                "partials/review_line.html",
                status=422,
                line=line,
                message=message,
                lines=[line],
            )
        else:
            db.session.commit()
            message = _("Payment recorded on %(number)s.", number=invoice.number)
    else:
        try:
            matching.dismiss(line)
            db.session.commit()
            message = _("Dismissed: not a payment of your invoices.")
        except matching.AlreadyHandled:
            db.session.rollback()
            line = _owned(StatementLine, line_id)
            message = _("This line was already handled.")
    if request.headers.get("HX-Request"):
        return render(
            "imports/review.html", "partials/review_line.html", line=line, message=message, lines=[line]
        )
    flash(message, "success")
    return redirect_to(url_for("imports.review"))


@bp.route("/lines/<int:line_id>/confirm", methods=["POST"])
@login_required
def confirm(line_id):
    return _line_action(line_id, "confirm")


@bp.route("/lines/<int:line_id>/dismiss", methods=["POST"])
@login_required
def dismiss(line_id):
    return _line_action(line_id, "dismiss")
