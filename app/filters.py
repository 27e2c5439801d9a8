"""Jinja filters and globals: money, dates and due states in the reader's language."""

import re
from datetime import date
from functools import lru_cache

from babel.dates import format_date as babel_format_date
from flask_babel import format_date, format_datetime, format_timedelta, get_locale, ngettext
from flask_babel import gettext as _

from . import clock
from .money import format_money


def _locale():
    return str(get_locale() or "en")


def money(cents, currency="EUR"):
    return format_money(cents or 0, currency, _locale())


def due_words(invoice, today=None):
    """ "due in 3 days", "due today", "5 days overdue", "no due date", "paid"…"""
    if invoice.status == "void":
        return _("void")
    if invoice.status == "paid":
        return _("paid")
    if invoice.due_on is None:
        return _("no due date")
    today = today or clock.today(invoice.account.timezone)
    days = (invoice.due_on - today).days
    if days == 0:
        return _("due today")
    if days == 1:
        return _("due tomorrow")
    if days > 0:
        return ngettext("due in %(num)d day", "due in %(num)d days", days)
    return ngettext("%(num)d day overdue", "%(num)d days overdue", -days)


def due_tone(invoice, today=None):
    """A CSS modifier for the due state: ok, soon, today, late, done."""
    if invoice.status == "void":
        return "void"
    if invoice.status == "paid":
        return "done"
    if invoice.due_on is None:
        return "ok"
    today = today or clock.today(invoice.account.timezone)
    days = (invoice.due_on - today).days
    if days < 0:
        return "late"
    if days == 0:
        return "today"
    return "soon" if days <= 7 else "ok"


def date_filter(value, fmt="medium"):
    if value is None:
        return ""
    if type(value) is date:  # a calendar day: no time zone to apply, the same text every time
        return _day_text(value, fmt, _locale())
    return _premier(format_date(value, fmt), _locale())


@lru_cache(maxsize=4096)
def _day_text(day: date, fmt: str, locale: str) -> str:
    # Emails and pages format the same few days over and over (a worker sends
    # hundreds of reminders a second); Babel parses the pattern every time.
    return _premier(babel_format_date(day, fmt, locale=locale), locale)


_FIRST = re.compile(r"(?<![\d/.:])1(?= [^\W\d_]{3})")


def _premier(text: str, locale: str) -> str:
    """French writes the first of the month as an ordinal: « 1er décembre 2026 »
    (a lone 1 before the month's name: never part of 11, 21 or a year)."""
    if locale.startswith("fr"):
        return _FIRST.sub("1er", text, count=1)
    return text


def datetime_filter(value, fmt="medium"):
    if value is None:
        return ""
    return _premier(format_datetime(value, fmt), _locale())


def ago(moment):
    """ "3 days ago", "2 hours ago" in the reader's language."""
    if moment is None:
        return ""
    return format_timedelta(moment - clock.now(), add_direction=True, threshold=1.1)


def init_app(app):
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["date"] = date_filter
    app.jinja_env.filters["datetime"] = datetime_filter
    app.jinja_env.filters["due_words"] = due_words
    app.jinja_env.filters["due_tone"] = due_tone
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["upper_first"] = upper_first
    app.jinja_env.globals["current_locale"] = _locale


def upper_first(text) -> str:
    """The first letter in upper case, the rest untouched (Jinja's ``capitalize``
    lowers the rest: "Relance", "SEPA" or "F-12" would lose their capitals)."""
    text = str(text if text is not None else "")
    return text[:1].upper() + text[1:]
