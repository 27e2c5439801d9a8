"""What the PDF renderer may read: the app's own assets, nothing of the outside world.

Account text (letter templates, business and client names and addresses, invoice
lines and notes) ends up in the HTML that WeasyPrint renders, and WeasyPrint's
default fetcher follows every ``file:``, ``http(s):``, ``ftp:`` and ``data:`` URL it
finds there — ``<link rel="attachment">`` even embeds the bytes in the PDF (the
server's ``/proc/self/environ``, its database…) and ``http://127.0.0.1:<port>/``
reaches internal services. Every render gets a :class:`Fetcher` instead, which
serves only URLs of the app's own scheme:

- ``relance-asset:static/<path>``: a file of the app's ``static/`` folder (the files
  the web server publishes anyway), by path, never outside that folder;
- ``relance-asset:qr/<digest>``: an image the app made for this very render,
  registered in :class:`RenderImages` before rendering (a QR code). A digest that
  was not registered for the render is refused, so account text cannot name one.

Anything else raises :class:`FetchRefused` — WeasyPrint then skips the image, stylesheet,
font or attachment — and is logged once per URL and render at WARNING.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from functools import lru_cache

from ..config import ROOT

SCHEME = "relance-asset"
STATIC_ROOT = (ROOT / "static").resolve()

log = logging.getLogger(__name__)

# A static path: plain file-name characters only (no "%", "\", NUL, "~"); ".." is
# refused below and the resolved path must still be inside static/.
_STATIC_PATH = re.compile(r"[A-Za-z0-9_./-]+")
_LOGGED_URL = 200  # characters of a refused URL kept in the log (data: URIs are long)


class FetchRefused(ValueError):
    """A URL the PDF renderer may not read."""


class RenderImages:
    """The images the app made for one render (QR codes), each reachable from that
    render's HTML as ``relance-asset:qr/<sha256 of the bytes>``."""

    def __init__(self):
        self._images: dict[str, tuple[bytes, str]] = {}

    def add(self, data: bytes, mime_type: str = "image/png") -> str:
        """Register ``data`` for this render; returns the URL to put in the HTML."""
        digest = hashlib.sha256(data).hexdigest()
        self._images[digest] = (data, mime_type)
        return f"{SCHEME}:qr/{digest}"

    def get(self, digest: str) -> tuple[bytes, str] | None:
        return self._images.get(digest)


def static_url(path: str) -> str:
    """The URL of a file of ``static/`` for a PDF template (``css/pdf.css``…)."""
    return f"{SCHEME}:static/{path}"


@lru_cache(maxsize=32)
def _static_file(path: str) -> tuple[bytes, str]:
    # Cached: a batch of letters reads the same few assets for every document.
    if not _STATIC_PATH.fullmatch(path) or ".." in path.split("/"):
        raise FetchRefused("not a static file path")
    target = (STATIC_ROOT / path).resolve()
    if not target.is_relative_to(STATIC_ROOT) or not target.is_file():
        raise FetchRefused("no such static file")
    mime_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return target.read_bytes(), mime_type


def resolve(url: str, images: RenderImages | None = None) -> tuple[bytes, str]:
    """The bytes and MIME type behind ``url``, or :class:`FetchRefused`."""
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() != SCHEME:
        raise FetchRefused("not an app asset")
    kind, slash, name = rest.partition("/")
    if slash and kind == "static":
        return _static_file(name)
    if slash and kind == "qr":
        image = images.get(name) if images is not None else None
        if image is None:
            raise FetchRefused("not an image of this document")
        return image
    raise FetchRefused("unknown app asset")


def url_fetcher(images: RenderImages | None = None):
    """A WeasyPrint fetcher for one render: :func:`resolve`, logging each refused URL once."""
    # Imported here: WeasyPrint loads pango at import, which the web pages never need.
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class Fetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=(SCHEME,), allow_redirects=False)
            self._refused: set[str] = set()

        def fetch(self, url, headers=None):
            try:
                data, mime_type = resolve(url, images)
            except FetchRefused as refused:
                if url not in self._refused:
                    self._refused.add(url)
                    log.warning("PDF: refused to fetch %r (%s)", url[:_LOGGED_URL], refused)
                raise
            return URLFetcherResponse(url, data, {"Content-Type": mime_type})

    return Fetcher()


class _QuietRefusals(logging.Filter):
    """WeasyPrint logs each failed fetch again at ERROR, with the whole URL (a data:
    URI can be megabytes): our own WARNING above already says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{FetchRefused.__name__}:" not in record.getMessage()


def quiet_weasyprint_refusals() -> None:
    logger = logging.getLogger("weasyprint")
    if not any(isinstance(f, _QuietRefusals) for f in logger.filters):
        logger.addFilter(_QuietRefusals())


__all__ = ["SCHEME", "FetchRefused", "RenderImages", "resolve", "static_url", "url_fetcher"]
