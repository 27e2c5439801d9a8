"""`flask` commands: demo data and translations."""

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from .config import ROOT


def init_app(app):
    init_reminders_cli(app)
    from .imports import cli as imports_cli

    imports_cli.init_app(app)

    @app.cli.command("demo")
    @click.option("--email", default="demo@relance.test", show_default=True)
    @click.option("--password", default="demo-password", show_default=True)
    def demo_command(email, password):
        """Create the demo account with clients and invoices in every state (idempotent)."""
        from .demo import create_demo

        created = create_demo(email, password)
        if created:
            click.echo(f"Demo account created. Log in at http://127.0.0.1:5000 with {email} / {password}")
        else:
            click.echo(f"Demo account already there: {email} / {password}")

    @app.cli.group("translate")
    def translate():
        """Extract, update and compile the French and English catalogues."""

    def pybabel(*args):
        binary = Path(sys.executable).parent / "pybabel"
        subprocess.run([str(binary), *args], check=True, cwd=ROOT)

    @contextmanager
    def template():
        """messages.pot, extracted from app/ and templates/ (see babel.cfg), removed afterwards."""
        try:
            pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", "messages.pot", ".")
            yield
        finally:
            (ROOT / "messages.pot").unlink(missing_ok=True)

    @translate.command("update")
    def translate_update():
        """Extract strings into messages.pot and merge them into each catalogue."""
        with template():
            pybabel("update", "-i", "messages.pot", "-d", "translations", "--no-fuzzy-matching")

    @translate.command("compile")
    def translate_compile():
        """Compile the catalogues (.po → .mo) and print how much of each is translated."""
        pybabel("compile", "-d", "translations", "--statistics")

    @translate.command("init")
    @click.argument("language")
    def translate_init(language):
        """Start a catalogue for a new language."""
        with template():
            pybabel("init", "-i", "messages.pot", "-d", "translations", "-l", language)


def init_reminders_cli(app):
    @app.cli.group("reminders")
    def reminders():
        """The reminder engine: one tick, or the counts per state."""

    @reminders.command("tick")
    @click.option(
        "--now", "now_text", default=None, help="Run as if it were this moment (ISO 8601 with offset)."
    )
    @click.option("--queue", is_flag=True, help="Queue the sends for the workers instead of sending here.")
    def tick_command(now_text, queue):
        """Plan and send what is due, in this process (no worker needed)."""
        from datetime import datetime

        from . import clock
        from .reminders.dispatch import tick

        if now_text:
            try:
                moment = datetime.fromisoformat(now_text)
            except ValueError:
                raise click.BadParameter("use ISO 8601, e.g. 2026-12-01T09:00:00+01:00") from None
            if moment.tzinfo is None:
                raise click.BadParameter("give a time zone offset, e.g. +01:00")
            clock.set_now(moment)
        try:
            report = tick(inline=not queue)
        finally:
            if now_text:
                clock.set_now(None)
        click.echo(
            f"planned {report.planned}, skipped {report.skipped}, lost {report.lost}, "
            f"enqueued {report.enqueued}, outcomes {report.outcomes or '{}'}, "
            f"digests {report.digests}"
        )

    @reminders.command("status")
    def status_command():
        """Print how many reminders are in each state."""
        from sqlalchemy import func, select

        from .extensions import db
        from .models import REMINDER_STATES, Reminder

        counts = dict(db.session.execute(select(Reminder.state, func.count()).group_by(Reminder.state)).all())
        for state in REMINDER_STATES:
            click.echo(f"{state:18} {counts.get(state, 0)}")
