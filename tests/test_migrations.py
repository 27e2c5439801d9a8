"""Migrations build the schema the models describe, on SQLite and PostgreSQL.

Alembic runs in a child process, as `make run` runs it: its logging set-up
(``fileConfig``) then cannot touch the test process's loggers.
"""

import subprocess
import sys
import textwrap

from app.config import ROOT

SCRIPT = textwrap.dedent(
    """
    import sys

    import flask_migrate
    from sqlalchemy import inspect

    from app import create_app
    from app.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": sys.argv[1],
            "SECRET_KEY": "migration-test",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with app.app_context():
        def tables():
            return set(inspect(db.engine).get_table_names()) - {"alembic_version"}

        assert tables() == set(), "the database is not fresh"
        flask_migrate.upgrade()
        expected = {table.name for table in db.metadata.sorted_tables}
        assert tables() == expected, (sorted(tables()), sorted(expected))
        # `alembic check`: autogenerate finds nothing between the models and the database.
        flask_migrate.check()
        print("upgrade: ok")
        flask_migrate.downgrade(revision="base")
        assert tables() == set(), sorted(tables())
        print("downgrade: ok")
        flask_migrate.upgrade()
        flask_migrate.check()
        print("upgrade again: ok")
    """
)


def migrate(url):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    steps = [line for line in result.stdout.splitlines() if line.endswith(": ok")]
    assert steps == ["upgrade: ok", "downgrade: ok", "upgrade again: ok"], report
    assert result.stdout.count("No new upgrade operations detected.") == 2, report


def test_migrations_on_a_fresh_sqlite_file(tmp_path):
    migrate(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_migrations_on_a_fresh_postgresql_database(postgres_server):
    migrate(postgres_server.create_database("relance_migrations"))
