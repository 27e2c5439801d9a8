"""Collection workflows (issue 5): which invoices a manual, batch or per-client
reminder may cover, writing those reminders (one per client when grouped), and
the history of a client or an invoice.

A reminder decided by a click is a ``reminder`` row (kind manual, batch, client or
group) with one ``reminder_item`` per invoice it covers; its UNIQUE key comes from
the form (DESIGN.md rule 3), so a second submit writes nothing more.
"""

from __future__ import annotations

from ..models import Invoice
from .timeline import last_sent


def reminder_count(invoice: Invoice) -> int:
    """How many reminders went out for this invoice ("Reminder (n)")."""
    found = last_sent([invoice.id]).get(invoice.id)
    return found[1] if found else 0
