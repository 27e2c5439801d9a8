"""A bank statement, from the stored upload to matched payments, in one transaction:
a statement that cannot be read entirely (another currency, a bad line) imports nothing."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Account, Event, ImportFile
from ..money import N_
from . import ImportRefused, matching
from . import statements as parse


def import_statement(account: Account, import_file: ImportFile) -> parse.StatementReport:
    """Parse, store the new lines, match them. The caller commits (or rolls back)."""
    content = import_file.content
    if parse.is_xml(content):
        entries = parse.camt_entries(content)
    else:
        entries, problems = parse.csv_entries(content, parse.load_mapping(import_file), account)
        if problems:
            first = problems[0]
            raise ImportRefused(
                N_("Line %(line)d: %(problem)s Nothing was imported."),
                line=first.line,
                problem=tuple(first.messages),
            )
    if not entries:
        raise ImportRefused(N_("The statement has no lines."))
    db.session.flush()
    try:
        new_ids = parse.store_entries(account, entries, import_file.id)
    except IntegrityError:
        # The same lines inserted meanwhile by another request (a double submit):
        # the UNIQUE (account, bank_id) refuses them; the caller rolls back.
        raise ImportRefused(
            N_("This statement is being imported by another request: wait a moment and look at the list.")
        ) from None
    counts = matching.match_lines(account, new_ids)
    report = parse.StatementReport(
        lines=len(entries),
        new=len(new_ids),
        already=len(entries) - len(new_ids),
        applied=counts["applied"],
        review=counts["review"],
        unmatched=counts["unmatched"],
    )
    import_file.state = "done"
    import_file.rows_total = import_file.rows_done = len(entries)
    import_file.created_count = len(new_ids)
    import_file.updated_count = counts["applied"]
    from .. import clock

    import_file.finished_at = clock.now()
    db.session.add(
        Event(account_id=account.id, kind="statement_imported", detail=f"{len(new_ids)}:{counts['applied']}")
    )
    return report


def last_statement_at(account_id: int):
    from sqlalchemy import func, select

    return db.session.scalar(
        select(func.max(ImportFile.finished_at)).where(
            ImportFile.account_id == account_id, ImportFile.kind == "statement", ImportFile.state == "done"
        )
    )
