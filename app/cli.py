"""`flask` commands: demo data and translations."""

import subprocess
import sys
from pathlib import Path

import click

from .config import ROOT


def init_app(app):
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

    @translate.command("update")
    def translate_update():
        """Extract strings into messages.pot and merge them into each catalogue."""
        pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", "messages.pot", ".")
        pybabel("update", "-i", "messages.pot", "-d", "translations", "--no-fuzzy-matching")
        Path(ROOT / "messages.pot").unlink()

    @translate.command("compile")
    def translate_compile():
        """Compile the catalogues (.po → .mo)."""
        pybabel("compile", "-d", "translations")

    @translate.command("init")
    @click.argument("language")
    def translate_init(language):
        """Start a catalogue for a new language."""
        pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", "messages.pot", ".")
        pybabel("init", "-i", "messages.pot", "-d", "translations", "-l", language)
        Path(ROOT / "messages.pot").unlink()
