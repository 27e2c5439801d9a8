"""No fetch from user content (issue 14, point 1): WeasyPrint reads nothing but the
app's own assets, whatever an account writes in its letters, names, addresses,
invoice lines and notes — no file of the server, no internal port, no data: URI, no
attachment embedded in the PDF."""

from __future__ import annotations

import base64
import io
import logging
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject
from sqlalchemy import select

from app import clock, payinfo
from app.config import ROOT
from app.documents import fetcher
from app.documents.fetcher import FetchRefused, RenderImages, resolve
from app.documents.pdf import html_to_pdf, prepare
from app.extensions import db
from app.models import Account, Invoice, InvoiceLine, MessageTemplate, Reminder

from .factories import make_client, make_invoice

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

# A 1×1 GIF: an image any renderer would draw if it read data: URIs.
GIF = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


# --------------------------------------------------------------- the attacker's kit


@dataclass
class Listener:
    """A listening socket on 127.0.0.1 that records every connection it gets (and
    closes it at once, so that a renderer that does connect fails fast)."""

    server: socket.socket
    seen: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def serve(self):
        while True:
            try:
                conn, peer = self.server.accept()
            except TimeoutError:
                # Only leave once the queue was seen empty after stop: a connection
                # made before the test asked is always counted.
                if self.stop.is_set():
                    return
                continue
            self.seen.append(peer)
            conn.close()

    def connections(self) -> list:
        self.stop.set()
        self.thread.join()
        return self.seen


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    spy = Listener(server)
    spy.thread = threading.Thread(target=spy.serve, daemon=True)
    spy.thread.start()
    yield spy
    spy.connections()
    server.close()


@dataclass
class Secrets:
    """Files of "the server" a hostile account would like to read, each carrying
    ``marker``; a PDF that holds the marker anywhere has read one of them."""

    marker: str
    dir: str
    txt: str
    css: str
    svg: str
    png: str


@pytest.fixture(scope="module")
def server_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("s")  # short: vectors fit a 200-character name
    marker = "RMK" + secrets.token_hex(6)
    (folder / "sub").mkdir()
    (folder / "m.txt").write_text(f"SECRET_KEY={marker}\n")
    (folder / "m.css").write_text(f'body::after {{ content: "{marker}" }}')
    (folder / "m.svg").write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="80" height="20"><text y="15">{marker}</text></svg>'
    )
    image = Image.new("RGB", (4, 4), "red")
    image.save(folder / "m.png", pnginfo=_png_text(marker))
    return Secrets(
        marker,
        str(folder),
        str(folder / "m.txt"),
        str(folder / "m.css"),
        str(folder / "m.svg"),
        str(folder / "m.png"),
    )


def _png_text(marker):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", marker)
    return info


def vectors(s: Secrets, port: int) -> dict[str, str]:
    """Every way we know for HTML to make WeasyPrint read something, by name."""
    b64 = base64.b64encode(s.marker.encode()).decode()
    css64 = base64.b64encode(f'body::after{{content:"{s.marker}"}}'.encode()).decode()
    http = f"http://127.0.0.1:{port}"
    return {
        "img file": f'<img src="file://{s.png}">',
        "img svg file": f'<img src="file://{s.svg}">',
        "link attachment file": f'<link rel="attachment" href="file://{s.txt}">',
        "link attachment environ": '<link rel="attachment" href="file:///proc/self/environ">',
        "a attachment file": f'<a rel="attachment" href="file://{s.txt}">invoice.txt</a>',
        "a attachment own asset": '<a rel="attachment" href="relance-asset:static/css/app.css">x</a>',
        "link attachment own asset": '<link rel="attachment" href="relance-asset:static/js/app.js">',
        "css url file": f'<p style="background:url(file://{s.png});height:9mm">.</p>',
        "css import file": f'<style>@import url("file://{s.css}");</style>',
        "link stylesheet file": f'<link rel="stylesheet" href="file://{s.css}">',
        "font face file": f"<style>@font-face{{font-family:X;src:url(file://{s.txt})}}p{{font-family:X}}</style>",
        "object file": f'<object data="file://{s.png}"></object>',
        "embed file": f'<embed src="file://{s.png}">',
        "svg image file": (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
            f'<image href="file://{s.png}" width="9" height="9"/></svg>'
        ),
        "img http": f'<img src="{http}/qr.png">',
        "img https": f'<img src="https://127.0.0.1:{port}/qr.png">',
        "img ftp": f'<img src="ftp://127.0.0.1:{port}/qr.png">',
        "css import http": f'<style>@import url("{http}/a.css");</style>',
        "link attachment http": f'<link rel="attachment" href="{http}/a">',
        "a attachment http": f'<a rel="attachment" href="{http}/b">b</a>',
        "font face http": f"<style>@font-face{{font-family:Y;src:url({http}/f)}}p{{font-family:Y}}</style>",
        "img data": f'<img src="data:image/gif;base64,{GIF}">',
        "link attachment data": f'<link rel="attachment" href="data:text/plain;base64,{b64}">',
        "a attachment data": f'<a rel="attachment" href="data:text/plain;base64,{b64}">d</a>',
        "link stylesheet data": f'<link rel="stylesheet" href="data:text/css;base64,{css64}">',
        "base then relative": (
            f'<base href="file://{s.dir}/sub/"><img src="../m.png">'
            '<link rel="attachment" href="../m.txt"><link rel="stylesheet" href="../m.css">'
        ),
        "relative dot dot": (
            f'<img src="../../../../..{s.png}"><link rel="attachment" href="../../../../..{s.txt}">'
        ),
        "relative static escape": '<img src="relance-asset:static/../../../../etc/passwd">',
    }


# ------------------------------------------------------------------------ the checks


def _objects(reader: PdfReader):
    """Every object of the PDF (pages, resources, streams, name trees…)."""
    seen, todo = set(), [reader.trailer]
    while todo:
        obj = todo.pop()
        if isinstance(obj, IndirectObject):
            if obj.idnum in seen:
                continue
            seen.add(obj.idnum)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            yield obj
            todo.extend(v for k, v in obj.items() if k != "/Parent")
        elif isinstance(obj, ArrayObject):
            todo.extend(obj)


def problems_in(data: bytes, marker: str, images: int = 0) -> list[str]:
    """What is wrong with this PDF for a document made from hostile text."""
    found = []
    reader = PdfReader(io.BytesIO(data))
    if reader.attachments:
        found.append(f"attachments {list(reader.attachments)}")
    image_count = 0
    for obj in _objects(reader):
        kind = (obj.get("/Type"), obj.get("/Subtype"))
        if "/EmbeddedFile" in kind or "/Filespec" in kind or "/FileAttachment" in kind or "/AF" in obj:
            found.append(f"embedded file object {kind}")
        if "/Image" in kind:
            image_count += 1
        if isinstance(obj, StreamObject) and marker.encode() in obj.get_data():
            found.append(f"marker in a {kind} stream")
    if image_count != images:
        found.append(f"{image_count} images instead of {images}")
    if marker.encode() in data:
        found.append("marker in the file")
    if marker in "".join(page.extract_text() for page in reader.pages):
        found.append("marker in the text")
    return found


# --------------------------------------------------------- the fetcher, URL by URL


def _static_bytes(path):
    return (ROOT / "static" / path).read_bytes()


def test_the_fetcher_serves_the_apps_static_files_and_this_renders_images():
    images = RenderImages()
    qr = images.add(b"\x89PNG the QR code of this render")
    assert qr.startswith("relance-asset:qr/")
    assert resolve(qr, images) == (b"\x89PNG the QR code of this render", "image/png")
    assert resolve("relance-asset:static/icons/favicon-48.png") == (
        _static_bytes("icons/favicon-48.png"),
        "image/png",
    )
    data, mime = resolve(fetcher.static_url("css/app.css"))
    assert data == _static_bytes("css/app.css") and mime == "text/css"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file:///proc/self/environ",
        "FILE:///etc/passwd",
        "file://localhost/etc/passwd",
        "http://127.0.0.1:6379/",
        "https://example.com/logo.png",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "data:text/plain;base64,U0VDUkVU",
        "data:image/gif;base64," + GIF,
        "/etc/passwd",
        "../../etc/passwd",
        "m.txt",
        "relance-asset:",
        "relance-asset:static",
        "relance-asset:static/",
        "relance-asset:static/css",
        "relance-asset:static/missing.png",
        "relance-asset:static/../app/config.py",
        "relance-asset:static/css/../../app/config.py",
        "relance-asset:static/%2e%2e/app/config.py",
        "relance-asset:static//etc/passwd",
        "relance-asset:static/css/app.css\x00.png",
        "relance-asset:static/css\\..\\..\\app\\config.py",
        "relance-asset:static/~/.ssh/id_rsa",
        "relance-asset://static/css/app.css",
        "relance-asset:qr/",
        "relance-asset:qr/" + "0" * 64,
        "relance-asset:qr/../static/css/app.css",
        "relance-asset:templates/documents/_letter.html",
        "relance-asset:file:///etc/passwd",
        "RELANCE-ASSET:static/../../etc/passwd",
    ],
)
def test_the_fetcher_refuses_everything_else(url):
    with pytest.raises(FetchRefused):
        resolve(url, RenderImages())


def test_an_image_of_another_render_cannot_be_named():
    other = RenderImages()
    url = other.add(b"\x89PNG another document's QR code")
    with pytest.raises(FetchRefused):
        resolve(url, RenderImages())
    with pytest.raises(FetchRefused):
        resolve(url)


def test_a_symlink_in_static_cannot_lead_out_of_it(tmp_path, monkeypatch, server_files):
    static = tmp_path / "static"
    static.mkdir()
    (static / "ok.css").write_text("p { color: red }")
    (static / "leak.css").symlink_to(server_files.css)
    monkeypatch.setattr(fetcher, "STATIC_ROOT", static.resolve())
    fetcher._static_file.cache_clear()
    try:
        assert resolve("relance-asset:static/ok.css")[0] == b"p { color: red }"
        with pytest.raises(FetchRefused):
            resolve("relance-asset:static/leak.css")
    finally:
        fetcher._static_file.cache_clear()


def test_each_refused_url_is_logged_once_per_render_at_warning(caplog):
    url = f"file:///nowhere/{secrets.token_hex(4)}.png"
    html = f'<img src="{url}"><p style="background:url({url})">x</p><link rel="attachment" href="{url}">'
    with caplog.at_level(logging.DEBUG):
        html_to_pdf(html)
    ours = [r for r in caplog.records if r.name == "app.documents.fetcher"]
    assert [(r.levelno, url in r.getMessage()) for r in ours] == [(logging.WARNING, True)]
    # WeasyPrint's own ERROR lines about the same refusals are not repeated
    assert not [r for r in caplog.records if r.name.startswith("weasyprint") and r.levelno >= logging.ERROR]


def test_the_apps_own_images_are_drawn(server_files):
    """What the fetcher allows does reach the PDF: a QR code made for this render and
    a static image (an unregistered digest, a file: image next to them are not)."""
    from app import payment

    images = RenderImages()
    qr = images.add(payment.qr_png(payment.segno.make("BCD"), 2))
    html = (
        f'<img src="{qr}"><img src="relance-asset:static/icons/favicon-48.png">'
        f'<img src="relance-asset:qr/{"1" * 64}"><img src="file://{server_files.png}">'
    )
    # three: the QR code, the icon and the icon's alpha channel (a soft mask is an image too)
    assert problems_in(html_to_pdf(html, images), server_files.marker, images=3) == []


# ----------------------------------------------------- hostile HTML, straight in


def test_html_to_pdf_is_the_only_way_into_weasyprint():
    """Letters, invoices, reminders and the client's page all go through
    app/documents/pdf.py:html_to_pdf (which passes the fetcher): no other module may
    call WeasyPrint on its own."""
    users = {
        str(path.relative_to(ROOT))
        for path in [*(ROOT / "app").rglob("*.py"), ROOT / "worker.py"]
        if "weasyprint" in path.read_text()
    }
    assert users == {"app/documents/pdf.py", "app/documents/fetcher.py"}


def test_hostile_html_reads_nothing(server_files, listener):
    failures = {}
    for name, vector in vectors(server_files, listener.port).items():
        html = f"<!doctype html><html><head>{vector}</head><body><p>Hello</p>{vector}</body></html>"
        problems = problems_in(html_to_pdf(html), server_files.marker)
        if problems:
            failures[name] = problems
    assert failures == {}
    assert listener.connections() == []


# ------------------------------------- hostile text in every field of real documents

# What is under test is the renderer: one database is enough for these.
SQLITE_ONLY = pytest.mark.parametrize("app", ["sqlite"], indirect=True)

# Fields a stranger's account writes, and how long each may be.
FIELDS = {
    "business name": 200,
    "business address": None,
    "client name": 200,
    "client address": None,
    "line description": 500,
    "invoice notes": None,
    "letter subject": 300,
    "letter text": None,
}


@pytest.fixture
def owner(app, client, auth):
    """A registered owner with an overdue invoice (with lines) for a client with a
    postal address, and their own letter text in both languages."""
    clock.set_now(NOW)
    auth.register()
    with app.app_context():
        account = db.session.scalar(select(Account))
        account.language = "en"
        customer = make_client(account, name="Maple Leaf Design", language="en", address="5 Strand")
        invoice = make_invoice(account, customer, number="F-1", issued_on=date(2026, 9, 1))
        invoice.lines = [
            InvoiceLine(
                position=0, description="Design", quantity_milli=1000, unit_price_cents=10000, vat_rate_bp=0
            )
        ]
        for language in ("en", "fr"):
            db.session.add(
                MessageTemplate(
                    account_id=account.id, kind="level1", channel="letter", language=language, body="x"
                )
            )
        db.session.commit()
        ids = {"account": account.id, "invoice": invoice.id, "token": invoice.public_token}
    yield ids
    clock.set_now(None)


def _write_everywhere(app, ids, vector):
    """Put ``vector`` in every field the account controls (where it fits)."""
    with app.app_context():
        account = db.session.get(Account, ids["account"])
        invoice = db.session.get(Invoice, ids["invoice"])

        def fit(name, prefix):
            text = f"{prefix} {vector}"
            assert FIELDS[name] is None or len(text) <= FIELDS[name], name
            return text

        account.business_name = fit("business name", "Studio")
        account.address = fit("business address", "12 rue des Lilas\n75011 Paris")
        invoice.client.name = fit("client name", "Maple")
        invoice.client.address = fit("client address", "5 Strand\nLondon")
        invoice.lines[0].description = fit("line description", "Design")
        invoice.notes = fit("invoice notes", "Thanks")
        for template in db.session.scalars(select(MessageTemplate)):
            template.subject = fit("letter subject", "Reminder")
            template.body = fit("letter text", "Dear client,\n\n")
        # a new page link each time: the client's PDF is rate-limited per link
        invoice.public_token = payinfo.new_token()
        ids["token"] = invoice.public_token
        db.session.commit()


def packed(named: dict[str, str], size: int = 185) -> dict[str, str]:
    """The vectors in as few groups as fit a 200-character name (after its prefix):
    fewer documents to render, each field still gets every vector."""
    groups: list[tuple[list[str], str]] = []
    for name, vector in named.items():
        if groups and len(groups[-1][1]) + len(vector) <= size:
            groups[-1][0].append(name)
            groups[-1] = (groups[-1][0], groups[-1][1] + vector)
        else:
            groups.append(([name], vector))
    return {" + ".join(names): text for names, text in groups}


def _hostile_documents(app, ids, server_files, listener, documents):
    """{document and vectors: problems} for every vector written everywhere, for every
    document ``documents()`` makes; the listening socket must stay silent throughout."""
    failures = {}
    for name, vector in packed(vectors(server_files, listener.port)).items():
        _write_everywhere(app, ids, vector)
        for document, data in documents().items():
            problems = problems_in(data, server_files.marker)
            if problems:
                failures[f"{document}: {name}"] = problems
    if connections := listener.connections():
        failures["socket"] = connections
    return failures


def _get_pdf(client, url, **kwargs):
    response = client.get(url, **kwargs)
    assert response.status_code == 200 and response.mimetype == "application/pdf", url
    return response.data


@SQLITE_ONLY
def test_a_letter_reads_nothing_whatever_the_account_writes(app, client, owner, server_files, listener):
    response = client.form(f"/invoices/{owner['invoice']}/letter", {"kind": "level1", "key": "k" * 12})
    assert response.status_code == 302
    with app.app_context():
        reminder_id = db.session.scalar(select(Reminder.id))

    def documents():
        response = client.form("/letters/print", {"reminder": [str(reminder_id)]})
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        return {"letter": response.data}

    assert _hostile_documents(app, owner, server_files, listener, documents) == {}


@SQLITE_ONLY
def test_invoice_and_reminder_pdfs_read_nothing_whatever_the_account_writes(
    app, client, owner, server_files, listener
):
    def documents():
        with app.app_context():
            # the stamped reminder PDF as the worker makes it for an email
            reminder = prepare(db.session.get(Invoice, owner["invoice"]), level=2).finish()
        assert "SECOND REMINDER" in PdfReader(io.BytesIO(reminder)).pages[0].extract_text()
        return {"invoice": _get_pdf(client, f"/invoices/{owner['invoice']}/pdf"), "reminder": reminder}

    assert _hostile_documents(app, owner, server_files, listener, documents) == {}


@SQLITE_ONLY
def test_the_clients_page_pdf_reads_nothing_whatever_the_account_writes(
    app, client, owner, server_files, listener
):
    client.form("/logout")  # the client is a stranger to the app: no session

    def documents():
        return {"client page": _get_pdf(client, f"/p/{owner['token']}/invoice.pdf")}

    assert _hostile_documents(app, owner, server_files, listener, documents) == {}
