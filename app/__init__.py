"""Relance: payment reminders for freelancers."""

import logging
import sqlite3
from pathlib import Path

from flask import Flask, g, request
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import DEFAULT_SECRET_KEY, ROOT, Defaults, from_environ
from .extensions import babel, csrf, db, htmx, limiter, login_manager, mail, migrate


def select_locale():
    """The user's language, else the browser's; ``None`` outside requests."""
    if not request:
        return None
    forced = getattr(g, "locale", None)
    if forced:
        return forced
    if current_user and current_user.is_authenticated:
        return current_user.language
    return request.accept_languages.best_match(("fr", "en"), default="fr")


def select_timezone():
    if request and current_user and current_user.is_authenticated:
        return current_user.timezone
    return None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        # We issue BEGIN ourselves (below): pysqlite's implicit one is deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(connection):
    # A deferred transaction that reads and then writes fails at once with
    # "database is locked" when another process wrote in between; IMMEDIATE takes
    # the write lock up front and waits for it (busy_timeout) instead.
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_app(config=None):
    """Build the Flask application; ``config`` (a dict) overrides the environment."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    from .parsing import AsciiIntConverter

    app.url_map.converters["int"] = AsciiIntConverter
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_object(Defaults)
    app.config.update(from_environ(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    if config:
        app.config.update(config)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])

    from .reminders.limits import parse_limit

    try:
        app.config["RELANCE_DAILY_SEND_LIMIT"] = parse_limit(app.config.get("RELANCE_DAILY_SEND_LIMIT"))
    except ValueError as error:
        raise RuntimeError(str(error)) from error

    from . import headers

    headers.init_app(app)  # before ProxyFix: its cookie rule reads the proxied scheme
    proxies = int(app.config.get("RELANCE_PROXIES") or 0)
    if proxies < 0:
        raise RuntimeError("RELANCE_PROXIES must be 0 or a positive number of proxies.")
    if proxies:
        # Behind a TLS proxy the socket address is the proxy's: trust that many
        # X-Forwarded-* hops so rate limits and URLs see the real client.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    if app.config["RELANCE_ENV"] == "production" and app.config["SECRET_KEY"] in (
        DEFAULT_SECRET_KEY,
        "",
        None,
    ):
        raise RuntimeError(
            "RELANCE_ENV=production refuses to start with the default SECRET_KEY: "
            "set SECRET_KEY to a long random value."
        )

    if str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        # A file on this machine: no connection to go stale, so no "SELECT 1" before
        # every checkout (two per reminder sent).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options["pool_pre_ping"] = False
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    mail.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    # One Limiter object serves every app of the process (tests, CLI): an outage seen
    # by an earlier app is not this app's.
    limiter._storage_dead = False

    from . import assets, auth_setup, errors, filters

    assets.init_app(app)

    auth_setup.init_app(app)
    filters.init_app(app)
    errors.init_app(app)

    from .views import auth, clients, collect, dev, home, imports, invoices, pay, pwa, reminders, settings

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(clients.bp)
    app.register_blueprint(invoices.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(reminders.bp)
    app.register_blueprint(collect.bp)
    app.register_blueprint(pwa.bp)
    from .views import documents

    app.register_blueprint(documents.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(pay.bp)
    from .views import verify

    app.register_blueprint(verify.bp)
    if app.config["RELANCE_ENV"] != "production":
        app.register_blueprint(dev.bp)

    from . import cli

    cli.init_app(app)

    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    return app
