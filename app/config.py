"""Settings read from the environment (and ``instance/config.py``)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"

# Embedded defaults used by `make run`: a private redis-server and a local SMTP sink.
DEV_REDIS_PORT = 6390
DEV_SMTP_PORT = 8025


def _bool(value, default=False):
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environ(instance_path):
    """Build the configuration dict from environment variables."""
    env = os.environ
    relance_env = env.get("RELANCE_ENV", "development")
    db_default = "sqlite:///" + str(Path(instance_path) / "relance.db")
    production = relance_env == "production"
    return {
        "RELANCE_ENV": relance_env,
        "SECRET_KEY": env.get("SECRET_KEY", DEFAULT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL", db_default),
        "REDIS_URL": env.get("REDIS_URL", f"redis://127.0.0.1:{DEV_REDIS_PORT}/0"),
        "MAIL_SERVER": env.get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": int(env.get("MAIL_PORT", DEV_SMTP_PORT)),
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(env.get("MAIL_USE_SSL")),
        "MAIL_USERNAME": env.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD"),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "Relance <no-reply@relance.test>"),
        "MAIL_TIMEOUT": float(env.get("MAIL_TIMEOUT", 30)),
        # Every reminder email carries the invoice PDF (stamped when overdue). Off
        # only for tests and benchmarks about the send path itself (exactly-once
        # races, dispatch throughput), which then measure text + HTML emails.
        "REMINDER_PDF": _bool(env.get("REMINDER_PDF"), default=True),
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # Where people reach the web app; used for links in emails sent by the worker.
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000"),
        # How many reverse proxies in front of the app to trust for X-Forwarded-*
        # (client address, scheme, host). 0 = none: X-Forwarded-For is ignored.
        "RELANCE_PROXIES": int(env.get("RELANCE_PROXIES", "0") or 0),
        # Emails to clients per account and day (issue 14: no open relay). Unset:
        # 100 for an account younger than 7 days, 1,000 after; a number: that for
        # every account; 0: no limit (the benchmarks). app/reminders/limits.py.
        "RELANCE_DAILY_SEND_LIMIT": env.get("RELANCE_DAILY_SEND_LIMIT"),
    }


class Defaults:
    """Values that are not meant to come from the environment."""

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    LANGUAGES = ("en", "fr")
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # A Redis hiccup must not lock people out of logging in, nor switch the limits
    # off: while Redis does not answer, Flask-Limiter counts in this process's memory
    # (app/loginguard.py does the same for the password back-off).
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # A Redis that does not answer costs a login half a second, not a hang.
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    LOGIN_RATE_LIMIT = "10 per minute"
    # Emails sent to one address from the logged-out pages (registration, sign-in link,
    # password reset): app/views/auth.py's _mail_caps.
    AUTH_MAIL_RATE_LIMIT = "3 per hour"
    AUTH_MAIL_IP_RATE_LIMIT = "20 per hour"
    CONFIRM_LINK_MAX_AGE = 3 * 24 * 3600
    SIGNIN_LINK_MAX_AGE = 30 * 60
    PASSWORD_RESET_MAX_AGE = 3600
    # The /verify link (app/verification.py), mailed after a change of email in Settings
    # or by the banner's "Resend the link"; registration mails CONFIRM_LINK_MAX_AGE's.
    EMAIL_VERIFY_MAX_AGE = 3 * 24 * 3600
    INVOICES_PER_PAGE = 25
    MAX_CONTENT_LENGTH = 5 * 1024 * 1024
