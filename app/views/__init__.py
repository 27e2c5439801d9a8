"""Blueprints, one per noun."""

from flask import render_template, request


def render(template, partial=None, status=200, **context):
    """Full page for a normal request; the partial it includes for an htmx request."""
    if partial and request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return render_template(partial, **context), status
    return render_template(template, **context), status


def form_status(form):
    """422 when a submitted form has errors, 200 otherwise."""
    return 422 if form.errors else 200


def redirect_to(url):
    """Redirect; an htmx request gets ``HX-Redirect`` so the whole page changes."""
    from flask import redirect

    if request.headers.get("HX-Request"):
        return "", 204, {"HX-Redirect": url}
    return redirect(url)
