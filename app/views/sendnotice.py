"""Tell the owner, when they click send, what the gate will hold back (issue 14:
no open relay). The worker decides (app/reminders/gate.py); this only reads the
same rule to say it at once."""

from flask import flash
from flask_babel import ngettext

from ..reminders import gate, limits


def flash_waiting(account, queued: int) -> None:
    """``queued``: emails to clients just handed to the workers."""
    if queued <= 0:
        return
    reason, waiting = gate.waiting_after(account, queued)
    if reason == limits.UNVERIFIED:
        flash(
            ngettext(
                "Confirm your email address first (see the banner above): this email waits until you do.",
                "Confirm your email address first (see the banner above): %(num)d emails wait until you do.",
                waiting,
            ),
            "error",
        )
    elif reason == limits.DAILY_LIMIT:
        limit = gate.check(account).limit
        flash(
            ngettext(
                "Daily limit of %(limit)d emails to clients reached: %(num)d email waits until tomorrow.",
                "Daily limit of %(limit)d emails to clients reached: %(num)d emails wait until tomorrow.",
                waiting,
                limit=limit,
            ),
            "error",
        )
