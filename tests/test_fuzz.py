"""No 500 on any input (issue 14, point 4): every route of ``url_map``, driven by
Hypothesis with hostile path arguments, query strings and form fields.

One SQLite application per module, seeded with the demo account (clients, invoices,
reminders, payments, a statement import…) and a second account whose ids the first
must never reach. For every rule and method, Hypothesis generates path arguments
(real ids of both accounts, unicode digits, huge and negative numbers, blanks…),
query strings and form fields (the names every page of the app uses, with values
that are blanks, whitespace, ``²``/``٣``, NaN/inf, huge and negative numbers,
over-long text, template syntax, dates out of range…). Every answer must be 2xx, 3xx
or 4xx, and a refused request (4xx) must leave the database exactly as it was.

The number of examples per route is bounded for CI (``RELANCE_FUZZ_EXAMPLES``,
default 40); set it higher for a long run, e.g. ``RELANCE_FUZZ_EXAMPLES=500``.
"""

from __future__ import annotations

import hashlib
import os
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from app import clock
from app.demo import create_demo
from app.extensions import db, limiter
from app.models import MESSAGE_CHANNELS, MESSAGE_KINDS, Account, Client, Invoice

from .conftest import PASSWORD, _make_app
from .factories import make_account, make_client, make_invoice

EXAMPLES = int(os.environ.get("RELANCE_FUZZ_EXAMPLES", "40"))
DEMO_EMAIL = "fuzz@example.com"

# Not fuzzed: logging out ends the session every other example needs (it takes no
# input but the CSRF token, which tests/test_security.py covers).
SKIPPED = {"auth.logout"}

NASTY = [
    "",
    " ",
    "   \t ",
    "\n",
    "0",
    "-1",
    "1",
    "2",
    "-0",
    "²",
    "٣",
    "１２",
    "½",
    "1e309",
    "-1e309",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1,5",
    "1.5",
    "0.001",
    "12 345,67",
    "99999999999999999999999999",
    "-99999999999999999999999999",
    "9223372036854775808",
    "2147483648",
    "1" * 400,
    "x" * 5000,
    "2026-13-45",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "31/12/2026",
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "{{" + "(" * 300 + "1" + ")" * 300 + "}}",
    "<script>alert(1)</script>",
    "'; DROP TABLE account; --",
    "../../etc/passwd",
    "\x00",
    "\ud7ff\ufeff\u202e",
    "on",
    "true",
    "fr",
    "en",
    "email",
    "letter",
    "FR7630006000011234567890189",
    "owner@example.com",
    "a@b",
    "@",
]

# Every name the views read from request.args (grep "request.args" app/).
QUERY_NAMES = ("answered", "client_id", "download", "kind", "level", "next", "page", "q", "tab", "v")

# Mostly the known-hostile values, sometimes any text.
values = st.one_of(st.sampled_from(NASTY), st.sampled_from(NASTY), st.text(max_size=40))


def _snapshot() -> str:
    """A digest of every row of every table (what a refused request must not change)."""
    digest = hashlib.sha256()
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(table.name.encode())
            digest.update(repr(rows).encode())
    return digest.hexdigest()


class _Forms(HTMLParser):
    """The forms of a page (action, method, fields with the values the page gives) and
    the query strings of its links, as a browser would submit them."""

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[tuple[str, str, dict]] = []
        self.links: list[str] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "hx-get"):
            if a.get(key) and "?" in a[key]:
                self.links.append(a[key])
        if tag == "form":
            fields: dict = {}
            self._form = fields
            method = (a.get("method") or "get").upper()
            self.forms.append((a.get("action") or self.page_url, method, fields))
            if a.get("hx-post"):
                self.forms.append((a["hx-post"], "POST", fields))
        elif self._form is not None and a.get("name") and tag in ("input", "select", "textarea", "button"):
            fields = self._form
            name = a["name"]
            kind = a.get("type", "text")
            if tag == "select":
                self._select = name
                fields.setdefault(name, "")
            elif tag == "textarea":
                self._textarea = name
                fields[name] = ""
            elif kind in ("checkbox", "radio"):
                if "checked" in a or name not in fields:
                    fields[name] = a.get("value", "on")
            elif kind != "file":
                fields.setdefault(name, a.get("value", ""))
        elif tag == "option" and self._form is not None and self._select:
            if not self._form.get(self._select) or "selected" in a:
                self._form[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


@pytest.fixture(scope="module")
def fuzz_app(redis_server, mail_sink, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    application = _make_app(f"sqlite:///{tmp / 'fuzz.db'}", redis_server, mail_sink, tmp)
    # Rate limits would answer 429 before the view runs and hide its bugs; they are
    # tested in test_security.py. ``enabled`` lives on the shared extension object.
    application.config["RATELIMIT_ENABLED"] = False
    limiter.enabled = False
    with application.app_context():
        db.create_all()
        create_demo(DEMO_EMAIL, PASSWORD)
        stranger = make_account("stranger@example.com")
        other = make_client(stranger, name="Someone else's client")
        make_invoice(stranger, other, number="S-001")
        db.session.commit()
    yield application
    limiter.enabled = True
    clock.set_now(None)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def world(fuzz_app):
    """Ids and tokens of both accounts, and the form field names the pages use."""
    client = fuzz_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.form("/login", {"email": DEMO_EMAIL, "password": PASSWORD})
    assert response.status_code in (302, 303), response.status_code
    ids: dict[str, list[str]] = {}
    with fuzz_app.app_context():
        for table in db.metadata.sorted_tables:
            if "id" in table.c:
                found = db.session.execute(select(table.c.id).order_by(table.c.id).limit(5)).scalars()
                ids[table.name] = [str(i) for i in found]
        tokens = [t for t in db.session.scalars(select(Invoice.public_token)) if t]
        own = db.session.scalar(select(Account.id).where(Account.email == DEMO_EMAIL))
        own_clients = [str(c) for c in db.session.scalars(select(Client.id).where(Client.account_id == own))]
    numbers = sorted({i for group in ids.values() for i in group}, key=int)
    # Every form and link the logged-in owner sees, by the endpoint it reaches.
    adapter = fuzz_app.url_map.bind("relance.localhost")
    forms: dict[tuple[str, str], list[dict]] = {}
    queries: dict[str, list[dict]] = {}
    stranger = fuzz_app.test_client()  # the logged-out pages' forms (login, register…)
    pages = [(client, rule) for rule in fuzz_app.url_map.iter_rules()]
    pages += [(stranger, rule) for rule in fuzz_app.url_map.iter_rules() if rule.endpoint.startswith("auth.")]
    for browser, rule in pages:
        if "GET" not in rule.methods or rule.endpoint in SKIPPED:
            continue
        url = _build(rule.rule, lambda name: own_clients[0] if "client" in name else numbers[0], tokens)
        page = browser.get(url)
        if page.mimetype == "text/html":
            parser = _Forms(url)
            parser.feed(page.get_data(as_text=True))
            for action, method, fields in parser.forms:
                parts = urlsplit(action)
                try:
                    endpoint, _ = adapter.match(parts.path, method=method)
                except Exception:  # a form to another site, or to a route without that method
                    continue
                fields = {k: v for k, v in fields.items() if k != "csrf_token"}
                fields.update(dict(parse_qsl(parts.query)))
                forms.setdefault((endpoint, method), []).append(fields)
            for link in parser.links:
                parts = urlsplit(link)
                try:
                    endpoint, _ = adapter.match(parts.path or urlsplit(url).path, method="GET")
                except Exception:
                    continue
                queries.setdefault(endpoint, []).append(dict(parse_qsl(parts.query)))
        page.close()
    names = {name for group in forms.values() for fields in group for name in fields}
    names |= {name for group in queries.values() for query in group for name in query}
    # The query arguments the views read (request.args), whether or not a link shows them.
    names |= set(QUERY_NAMES)
    return {
        "client": client,
        "stranger": stranger,
        "numbers": numbers,
        "tokens": tokens,
        "names": sorted(names),
        "forms": forms,
        "queries": queries,
        "endpoints": {rule.rule: rule.endpoint for rule in fuzz_app.url_map.iter_rules()},
    }


_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _build(rule: str, pick, tokens) -> str:
    def replace(match):
        converter, name = match.group(1), match.group(2)
        if converter == "path":
            return "css/app.css"
        if name == "token":
            return tokens[0]
        if name in ("kind", "channel", "language"):
            return {"kind": "level1", "channel": "email", "language": "fr"}[name]
        return pick(name)

    return _ARG.sub(replace, rule)


def _all_rules():
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIPPED or rule.endpoint.startswith("dev."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append(pytest.param(rule.rule, method, id=f"{method} {rule.rule}"))
    return found


def _path_value(world):
    return st.one_of(
        st.sampled_from(world["numbers"]),
        st.sampled_from(world["numbers"]),
        st.sampled_from(["0", "-1", "²", "٣", "１", "99999999999999999999", " ", "1.5", "a"]),
        st.text(min_size=1, max_size=12),
    )


def _mutated(bases: list[dict], names: list[str]):
    """A real submission of one of the page's forms (or a link's query) with some
    fields replaced by hostile values, some dropped, and perhaps a few foreign ones."""

    @st.composite
    def build(draw):
        base = dict(draw(st.sampled_from(bases))) if bases else {}
        for key in list(base):
            choice = draw(st.integers(0, 9))
            if choice < 3:
                base[key] = draw(values)
            elif choice == 3:
                del base[key]
        if draw(st.integers(0, 4)) == 0:
            base.update(draw(st.dictionaries(st.sampled_from(names), values, max_size=3)))
        return base

    return build()


def _visitor(world, endpoint):
    """Login, registration and password pages are for visitors: a logged-in owner is
    only redirected from them, so a logged-out client drives those."""
    return world["stranger"] if endpoint.startswith("auth.") else world["client"]


@pytest.mark.parametrize(("rule", "method"), _all_rules())
def test_no_500_and_nothing_changes_when_refused(fuzz_app, world, rule, method):
    names = world["names"]
    endpoint = world["endpoints"][rule]
    client = _visitor(world, endpoint)
    token_values = st.one_of(
        st.sampled_from(world["tokens"]), st.text(min_size=1, max_size=70), st.sampled_from(NASTY[:12])
    )
    form_values = _mutated(world["forms"].get((endpoint, method), []), names)
    query_bases = world["queries"].get(endpoint, []) + world["forms"].get((endpoint, "GET"), [])
    query_values = st.one_of(
        _mutated(query_bases, names),
        st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=3),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data(), form=form_values, query=query_values)
    def run(data, form, query):
        def replace(match):
            converter, name = match.group(1), match.group(2)
            if converter == "path":
                raw = data.draw(st.sampled_from(["css/app.css", "../app/__init__.py", "x", "%2e%2e/"]))
            elif name == "token":
                raw = data.draw(token_values, label="token")
            elif name in ("kind", "channel", "language"):
                raw = data.draw(
                    st.sampled_from([*MESSAGE_KINDS, *MESSAGE_CHANNELS, "fr", "en", "x", "²"]), label=name
                )
            else:
                raw = data.draw(_path_value(world), label=name)
            return quote(raw, safe="") or "%20"

        url = _ARG.sub(replace, rule)
        htmx = method != "GET" and data.draw(st.booleans(), label="htmx")
        _check(fuzz_app, client, method, url, form, query, htmx=htmx)

    run()


# The values that broke views before (issue 14): each tried in every field, one at a time.
SWEEP = ["", "   ", "²", "٣", "nan", "inf", "-1", "99999999999999999999", "1e309", "x" * 5000, None]


def _check(fuzz_app, client, method, url, form, query, htmx=False):
    with fuzz_app.app_context():
        before = _snapshot()
    if method == "GET":
        response = client.get(url, query_string=query)
    else:
        response = client.form(url, form, htmx=htmx)
    status = response.status_code
    response.close()
    assert status < 500, f"{method} {url} query={query!r} form={form!r} -> {status}"
    if 400 <= status < 500:
        with fuzz_app.app_context():
            after = _snapshot()
        assert after == before, f"{method} {url} -> {status} changed the database (form={form!r})"
    return status


@pytest.mark.parametrize(("rule", "method"), _all_rules())
def test_every_field_with_every_hostile_value(fuzz_app, world, rule, method):
    """Systematic, next to the random search above: the page's own form (or link),
    one field at a time replaced by each value of SWEEP (None: the field left out)."""
    endpoint = world["endpoints"][rule]
    client = _visitor(world, endpoint)
    url = _build(rule, lambda name: world["numbers"][0], world["tokens"])
    if method == "GET":
        bases = world["queries"].get(endpoint, []) + world["forms"].get((endpoint, "GET"), [])
        bases = bases or [{}]
        keys = {key for base in bases for key in base} | set(QUERY_NAMES)
    else:
        bases = world["forms"].get((endpoint, method)) or [{}]
        keys = {key for base in bases for key in base}
    for base in bases[:3]:
        for key in sorted(keys):
            for value in SWEEP:
                fields = dict(base)
                if value is None:
                    fields.pop(key, None)
                else:
                    fields[key] = value
                if method == "GET":
                    _check(fuzz_app, client, method, url, None, fields)
                else:
                    _check(fuzz_app, client, method, url, fields, None)


def test_the_fuzzer_reaches_the_views(fuzz_app, world):
    """The fuzz above is only worth something if its requests get past login and
    CSRF: a logged-in page answers 200 and the vocabulary holds the real field names."""
    client = world["client"]
    assert client.get("/invoices/").status_code == 200
    for name in ("amount", "email", "name", "due_on", "body", "page", "offsets"):
        assert any(name in n for n in world["names"]), name
    # Most POST routes have a real form to start from.
    posts = [key for key in world["forms"] if key[1] == "POST"]
    assert len(posts) >= 30, sorted(posts)
    with fuzz_app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM invoice")).scalar() > 5


def test_ids_in_urls_are_ascii_digits(fuzz_app, world):
    """``/invoices/٣`` is no route (Werkzeug's ``\\d`` would read it as invoice 3),
    and neither is an id wider than the INTEGER columns."""
    client = world["client"]
    with fuzz_app.app_context():
        own = db.session.scalar(select(Account.id).where(Account.email == DEMO_EMAIL))
        invoice_id = db.session.scalar(select(Invoice.id).where(Invoice.account_id == own))
    assert client.get(f"/invoices/{invoice_id}").status_code == 200
    arabic = str(invoice_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert client.get(f"/invoices/{arabic}").status_code == 404
    assert client.get("/invoices/" + "9" * 30).status_code == 404
