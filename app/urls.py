"""Absolute links for emails, always on the configured site address.

Never built from the request's Host header: a forged Host would otherwise put an
attacker's domain into a password-reset link (host-header poisoning).
"""

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)
