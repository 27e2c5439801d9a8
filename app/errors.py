"""Error pages: a clear message and the right status, never a stack trace."""

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def _render(status, title, message):
    template = "partials/error.html" if request.headers.get("HX-Request") else "error.html"
    return render_template(template, status=status, title=title, message=message), status


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _render(
            400,
            _("Your session has expired"),
            _("The form was too old or came from elsewhere. Go back, reload the page and try again."),
        )

    @app.errorhandler(429)
    def too_many(error):
        if request.endpoint == "auth.login":
            from .views.auth import locked_login_page

            return locked_login_page()  # offers the sign-in link by email
        return _render(
            429,
            _("Slow down a little"),
            _("Too many attempts in a short time. Wait a minute and try again."),
        )

    @app.errorhandler(404)
    def not_found(error):
        return _render(404, _("Page not found"), _("This page does not exist or is not yours."))

    @app.errorhandler(HTTPException)
    def http_error(error):
        return _render(error.code, error.name, _("The request could not be handled."))

    @app.errorhandler(500)
    def server_error(error):
        return _render(
            500,
            _("Something went wrong"),
            _("We could not do that. Nothing you had saved was lost; try again in a moment."),
        )
