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

        # A list of row messages (msgids) is translated too, not pasted in English.
        params = {
            name: " ".join(translate(m) for m in value) if isinstance(value, (list, tuple)) else value
            for name, value in self.params.items()
        }
        return gettext(self.message, **params)


class FieldProblem(str):
    """What is wrong with one cell of a row: ``template`` ("Issue date: %(reason)s")
    and ``reason`` are msgids, translated together by :func:`translate`. As a plain
    string it is the English text (the CLI prints it)."""

    def __new__(cls, template: str, reason: str = ""):
        self = super().__new__(cls, template % {"reason": reason} if reason else template)
        self.template, self.reason = template, reason
        return self

    def __getnewargs__(self):
        return (self.template, self.reason)


def translate(message) -> str:
    """A row message (a msgid or a :class:`FieldProblem`) in the reader's language."""
    from flask_babel import gettext

    if isinstance(message, FieldProblem) and message.reason:
        return gettext(message.template, reason=gettext(message.reason))
    return gettext(message)
