"""Import and reconcile (issue 9): invoices from a CSV, bank statements (CSV or
CAMT.053), matching of payments, and the hold on reminders while a possible
payment waits for review. No HTTP here: views and the CLI call these modules."""

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB: about 200,000 invoice rows
WORKER_THRESHOLD = 2000  # rows; above it the import runs on the RQ worker
CHUNK = 2000  # rows per transaction (and per progress update)


class ImportRefused(ValueError):
    """A file that cannot be imported at all: ``message`` (to translate) and its ``params``."""

    def __init__(self, message, **params):
        super().__init__(message)
        self.message = message
        self.params = params

    def translated(self) -> str:
        from flask_babel import gettext

        return gettext(self.message, **self.params)
