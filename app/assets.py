"""Static assets: fingerprinted URLs, long cache headers, compressed responses.

Every ``url_for("static", filename=...)`` gets ``?v=<hash of that file>`` (a URL
default, so templates need nothing special). A request whose ``v`` is the file's
current hash is cached for a year as immutable: a new release changes the hash,
hence the URL. Any other request for a static file (no ``v``, an old one) must be
revalidated. HTML, CSS, JS, JSON and SVG answers are gzip-compressed
(Flask-Compress).
"""

from __future__ import annotations

import hashlib
import os

from flask import current_app, request
from flask_compress import Compress

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "no-cache"
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "image/svg+xml",
]

compress = Compress()
_hashes: dict[str, tuple[float, int, str]] = {}


def file_hash(filename: str) -> str | None:
    """The first 10 hex digits of the file's SHA-256, ``None`` when it does not exist.

    Memoised per (path, mtime, size): a file changed on disk (debug) gets a new hash.
    """
    root = current_app.static_folder
    path = os.path.realpath(os.path.join(root, filename))
    if not path.startswith(os.path.realpath(root) + os.sep):
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    known = _hashes.get(path)
    if known and known[:2] == (stat.st_mtime, stat.st_size):
        return known[2]
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:10]
    _hashes[path] = (stat.st_mtime, stat.st_size, digest)
    return digest


def static_url(filename: str, **values) -> str:
    """The fingerprinted URL of a static file (what ``url_for('static', ...)`` gives)."""
    from flask import url_for

    return url_for("static", filename=filename, **values)


def _fingerprint(endpoint, values):
    if endpoint == "static" and "filename" in values:
        digest = file_hash(values["filename"])
        if digest:
            values["v"] = digest


def _cache_headers(response):
    if request.endpoint == "static" and response.status_code in (200, 304):
        filename = (request.view_args or {}).get("filename", "")
        wanted = request.args.get("v")
        if wanted and wanted == file_hash(filename):
            response.headers["Cache-Control"] = LONG_CACHE
            response.expires = None
        else:
            response.headers["Cache-Control"] = SHORT_CACHE
    return response


def _materialise_static(response):
    """Read a static file into memory so Flask-Compress compresses it whole.

    Its streaming path would drop the file's close() (a leaked file handle each
    request); our static files are small.
    """
    if request.endpoint == "static" and response.direct_passthrough and response.mimetype in COMPRESSED_TYPES:
        response.direct_passthrough = False
        response.get_data()  # keeps the file's close() for the end of the response
    return response


def init_app(app):
    app.config.setdefault("COMPRESS_ALGORITHM", ["gzip"])
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.url_defaults(_fingerprint)
    app.after_request(_cache_headers)
    compress.init_app(app)
    # After-request functions run last-registered first: this one runs before Flask-Compress.
    app.after_request(_materialise_static)
    app.jinja_env.globals["static_url"] = static_url
