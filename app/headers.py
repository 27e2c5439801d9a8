"""Security headers on every response, and Secure cookies on every HTTPS request.

The pages load only the app's own files: no inline script, handler or style
(``static/js/app.js`` wires the behaviour, ``static/css`` the looks), so the
Content-Security-Policy needs no ``'unsafe-inline'`` and an injected tag or
attribute does nothing. tests/test_security_headers.py checks every page.
"""

from flask import request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'self'",
    )
)

# Powerful browser features the app never uses, off for the page and any frame.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
    )
)


def _headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.headers.get("HX-Request"):
        headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


def _secure(cookie: str) -> str:
    attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    return cookie if "secure" in attributes else cookie + "; Secure"


class SecureCookies:
    """WSGI middleware: every cookie set in answer to an HTTPS request is ``Secure``
    (the session, the remember-me cookie and any other), whatever RELANCE_ENV says.
    It sits inside ProxyFix, so behind the trusted proxy ``X-Forwarded-Proto: https``
    counts; plain HTTP (``make run``) keeps working. Done here because Flask writes the
    session cookie after every ``after_request`` function has run."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def start(status, headers, exc_info=None):
            headers = [(k, _secure(v) if k.lower() == "set-cookie" else v) for k, v in headers]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app):
    """Before ProxyFix wraps ``app.wsgi_app``, so the middleware sees the proxied scheme."""
    app.wsgi_app = SecureCookies(app.wsgi_app)
    app.after_request(_headers)
