"""Installable app: manifest, service worker (served from the root scope), offline page."""

import hashlib
import os

from flask import Blueprint, current_app, render_template, send_from_directory, url_for

bp = Blueprint("pwa", __name__)


def static_version():
    """A hash of the static files, so a new release gets a new service-worker cache."""
    cached = current_app.extensions.get("relance_static_version")
    if cached:
        return cached
    digest = hashlib.sha256()
    root = current_app.static_folder

    for folder, _dirs, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(path[len(root) :].encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    version = digest.hexdigest()[:12]
    current_app.extensions["relance_static_version"] = version
    return version


def cache_version(precache):
    """The service worker's cache name: from the precached URLs (each carries its file's
    hash) and the offline page's templates, so any change to them installs a new cache."""
    digest = hashlib.sha256("\n".join(precache).encode())
    env = current_app.jinja_env
    for name in ("pwa/offline.html", "base.html"):
        digest.update(env.loader.get_source(env, name)[0].encode())
    return digest.hexdigest()[:12]


@bp.app_context_processor
def _inject_version():
    return {"static_version": static_version}


@bp.route("/manifest.webmanifest")
def manifest():
    response = current_app.response_class(
        render_template("pwa/manifest.webmanifest"), mimetype="application/manifest+json"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/sw.js")
def service_worker():
    precache = [
        url_for("pwa.offline"),
        url_for("static", filename="css/app.css"),
        url_for("static", filename="vendor/htmx/htmx-2.0.11.min.js"),
        url_for("static", filename="js/app.js"),
        url_for("static", filename="icons/icon.svg"),
        url_for("static", filename="icons/icon-192.png"),
    ]
    response = current_app.response_class(
        render_template("pwa/sw.js", version=cache_version(precache), precache=precache),
        mimetype="text/javascript",
    )
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/offline")
def offline():
    return render_template("pwa/offline.html")


@bp.route("/favicon.ico")
def favicon():
    return send_from_directory(current_app.static_folder, "icons/favicon-48.png")
