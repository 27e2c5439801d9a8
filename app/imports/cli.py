"""`flask import invoices FILE.csv --account EMAIL [--dry-run] [--already-emailed]`
and `flask import statement FILE --account EMAIL`: the same code as the screens."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask_babel import force_locale

from . import MAX_UPLOAD_BYTES, ImportRefused


def init_app(app):
    @app.cli.group("import")
    def import_group():
        """Import invoices (CSV) or a bank statement (CSV or CAMT.053)."""

    def load(path, email):
        from ..extensions import db
        from ..models import Account

        account = db.session.scalar(db.select(Account).where(Account.email == Account.normalise_email(email)))
        if account is None:
            raise click.BadParameter(f"no account with the email {email}", param_hint="--account")
        data = Path(path).read_bytes()
        if len(data) > MAX_UPLOAD_BYTES:
            raise click.ClickException(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return account, data

    def fail(error: ImportRefused, account):
        from ..extensions import db

        db.session.rollback()
        with force_locale(account.language):
            raise click.ClickException(error.translated())

    @import_group.command("invoices")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--account", "email", required=True, help="The owner's email address.")
    @click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
    @click.option("--already-emailed", is_flag=True, help="The invoices were emailed to the clients already.")
    @click.option("--valid-only", is_flag=True, help="Import the valid rows even if some are wrong.")
    def import_invoices(path, email, dry_run, already_emailed, valid_only):
        """Import invoices and clients from a CSV file (matched by invoice number)."""
        from ..extensions import db
        from . import invoices
        from .csvread import decode, reader

        account, data = load(path, email)
        mapping = None
        try:
            header, _rows = reader(decode(data))
            mapping = invoices.guess_mapping(header)
            missing = invoices.missing_fields(mapping)
            if missing:
                raise click.ClickException("no column found for: " + ", ".join(missing))
            if dry_run:
                report = invoices.dry_run(data, mapping, account, already_emailed)
            else:
                import_file = invoices.store(account, Path(path).name, data)
                import_file.mapping = json.dumps(mapping)
                import_file.already_emailed = already_emailed
                import_file.valid_only = valid_only
                db.session.flush()
                report = invoices.run(import_file)
                import_file.state = "done"
                import_file.rows_total = import_file.rows_done = report.rows
                import_file.created_count, import_file.updated_count = report.created, report.updated
                db.session.commit()
        except ImportRefused as error:
            db.session.rollback()
            if mapping is not None and not invoices.missing_fields(mapping):
                try:
                    for wrong in invoices.dry_run(data, mapping, account).errors[:20]:
                        click.echo(f"line {wrong.line}: {' '.join(wrong.messages)}", err=True)
                except ImportRefused:
                    pass
            fail(error, account)
        prefix = "dry run: would " if dry_run else ""
        click.echo(
            f"{prefix}create {report.created}, update {report.updated}, unchanged {report.unchanged}, "
            f"wrong rows {report.invalid}"
        )
        for error in report.errors[:20]:
            click.echo(f"line {error.line}: {' '.join(error.messages)}", err=True)

    @import_group.command("statement")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--account", "email", required=True, help="The owner's email address.")
    def import_statement_command(path, email):
        """Import a bank statement (CSV or CAMT.053 XML) and match the payments."""
        from ..extensions import db
        from . import reconcile, statements
        from .csvread import decode, reader
        from .invoices import store

        account, data = load(path, email)
        try:
            import_file = store(account, Path(path).name, data, "statement")
            if not statements.is_xml(data):
                header, _rows = reader(decode(data))
                mapping = statements.guess_mapping(header)
                if statements.missing_fields(mapping):
                    raise click.ClickException("no date or amount column found")
                import_file.mapping = json.dumps(mapping)
            db.session.flush()
            report = reconcile.import_statement(account, import_file)
            db.session.commit()
        except ImportRefused as error:
            fail(error, account)
        click.echo(
            f"lines {report.lines}, new {report.new}, already known {report.already}, "
            f"payments recorded {report.applied}, to review {report.review}, unmatched {report.unmatched}"
        )
