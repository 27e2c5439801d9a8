"""Issue 14, points 2 and 7: the owner's templates are hostile.

What the owner types is text: any HTML in it is shown as text in the editor's
preview, in the email's HTML part and in letters; the values placeholders put in
(client names…) are escaped too. Pathological templates (deep nesting, recursion,
huge literals) are a 422 with a message, never a 500; nothing grows without bound
(padding, replace, format…), at save time nor in the worker."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from flask import render_template
from sqlalchemy import func, select

from app import clock
from app.documents import letters, sandbox
from app.documents.messages import render_message
from app.documents.sandbox import TemplateProblem
from app.extensions import db
from app.models import Account, Client, MessageTemplate

from .factories import make_client, make_invoice
from .test_engine import CLIENT, at, engine_case, subjects, tick_and_work

URL = "/settings/templates/level1/email/en"
OWNER = "owner@example.com"

# What an owner could type to run script or restyle the page in a mail reader or the editor.
HOSTILE_TEXT = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">pay here</a>',
    "<style>body{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<scr<script>ipt>alert(1)</script>",
    "<!-- <p>hidden</p> -->",
    "<svg/onload=alert(1)>",
    '"><iframe src="https://evil.example">',
    "<p>Hello</p><b>old-style</b>",
]
HOSTILE_NAME = '<img src=x onerror=alert(1)> **Big** https://evil.example & "Co"'
ALLOWED_TAGS = {"p", "br", "strong", "a"}


class _Tags(HTMLParser):
    """Every tag with its attributes, and the text a reader sees."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags.append(("!--", []))


def parsed(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(str(html))
    parser.close()
    return parser


def assert_only_our_markup(html: str) -> None:
    """Only the tags our converter makes; links only https, no event handler, no style."""
    for tag, attrs in parsed(html).tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            assert tag == "a" and name == "href" and value.startswith("https://"), (tag, name, value)


def seen_text(html: str) -> str:
    return "".join(parsed(html).text)


# ------------------------------------------------------- the converter itself


@pytest.mark.parametrize("typed", HOSTILE_TEXT)
def test_html_typed_by_the_owner_is_text_in_the_html(typed):
    html = sandbox.render("Hello {{ client_name }},\n\n" + typed + "\nBye", {"client_name": "Ann"}, html=True)
    assert_only_our_markup(html)
    # What a reader sees is exactly what the owner typed, character for character.
    assert typed in seen_text(html)


def test_placeholder_values_are_escaped_and_get_no_markup():
    html = sandbox.render("Dear {{ client_name }}", {"client_name": HOSTILE_NAME}, html=True)
    assert_only_our_markup(html)
    assert "<strong>" not in html and "<a " not in html  # a client cannot bold or link
    assert HOSTILE_NAME in seen_text(html)


def test_the_converters_private_markers_cannot_be_written_in_a_template():
    # Jinja decodes "\ue000" in a literal: an owner could hand the converter its own
    # markers (a value turned into owner text, so bold and links, or a block repeated).
    escaped = "".join(f"\\u{ord(c):04x}" for c in "\ue000**x https://a.test**\ue001\ue0020\ue003")
    html = sandbox.render(
        "{{ '" + escaped + "' }} {{ client_name }}", {"client_name": HOSTILE_NAME}, html=True
    )
    assert_only_our_markup(html)
    assert "<strong>" not in html and "<a " not in html
    # {% filter %} output does not pass through the value marking: refused.
    with pytest.raises(TemplateProblem):
        sandbox.render(
            "{% filter join('x') %}{{ client_name }}{% endfilter %}", {"client_name": "A"}, html=True
        )


def test_the_tiny_markup_paragraphs_breaks_bold_and_links():
    from app.documents import ownertext

    html = ownertext.to_html(
        "Hello,\n\nLine one\nline **two** of it.\n\n\n"
        "Pay at https://pay.example/i?a=1&b=2. Not javascript:alert(1) nor http://plain.example"
    )
    assert html == (
        "<p>Hello,</p>\n"
        "<p>Line one<br>\nline <strong>two</strong> of it.</p>\n"
        '<p>Pay at <a href="https://pay.example/i?a=1&amp;b=2">https://pay.example/i?a=1&amp;b=2</a>.'
        " Not javascript:alert(1) nor http://plain.example</p>\n"
    )
    # A quote cannot leave the href; an unclosed ** stays as typed.
    html = ownertext.to_html('https://x.example/"onmouseover="alert(1) and **not bold')
    assert_only_our_markup(html)
    assert '<a href="https://x.example/">' in html and "**not bold" in html


def test_bold_around_a_placeholder_is_the_owners_markup():
    html = sandbox.render("Dear **{{ client_name }}**", {"client_name": "<b>Ann</b>"}, html=True)
    assert html == "<p>Dear <strong>&lt;b&gt;Ann&lt;/b&gt;</strong></p>\n"


# ------------------------------------------------ the screen, the mail, the letter


def _setup(app, auth, name=HOSTILE_NAME):
    clock.set_now(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # the app fixture releases it
    auth.register()
    with app.app_context():
        account = db.session.scalar(select(Account))
        account.address = "1 rue de la Paix\n75002 Paris"
        client = make_client(account, name=name, language="en", address="3 quai Nord\n69001 Lyon")
        make_invoice(account, client, number="F-2026-042", issued_on=date(2026, 9, 1))
        db.session.commit()
        return account.id


def _count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(MessageTemplate.id)))


def _preview_section(page: str) -> str:
    start = page.index(">", page.index('<section id="template-preview"')) + 1
    return page[start : page.index("</section>", start)]


def test_the_editor_preview_shows_owner_html_and_client_names_as_text(app, client, auth):
    _setup(app, auth)
    body = "Dear {{ client_name }},\n\n" + "\n".join(HOSTILE_TEXT) + "\n\n{{ payment_details }}"
    for url in (URL, "/settings/templates/level1/letter/en"):
        response = client.form(
            url + "/preview", {"subject": "Hi <b>{{ client_name }}</b>", "body": body}, htmx=True
        )
        assert response.status_code == 200
        section = _preview_section(response.get_data(as_text=True))
        for tag, attrs in parsed(section).tags:
            assert tag in ALLOWED_TAGS | {"h2", "h3", "div", "p"}, tag
            assert all(name in ("class", "href") for name, _value in attrs), (tag, attrs)
        shown = seen_text(section)
        for typed in HOSTILE_TEXT:
            assert shown.count(typed) == 2, typed  # the email and the letter
        assert "Hi <b>" + HOSTILE_NAME + "</b>" in shown
    # the no-JS preview and the save go through the same rendering
    response = client.form(URL, {"subject": "Hi", "body": body, "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_email_html_part_sent_through_smtp_shows_owner_html_as_text(app, sink, client, auth, fixed_now):
    engine_case(app, fixed_now)
    fixed_now(at(2026, 11, 23, 10))
    with app.app_context():
        db.session.scalar(select(Client)).name = HOSTILE_NAME
        db.session.commit()
    auth.login(email=OWNER)
    body = (
        "Dear {{ client_name }},\n\n**Please** pay.\n" + "\n".join(HOSTILE_TEXT) + "\n\n{{ payment_details }}"
    )
    response = client.form(URL, {"subject": "Open: {{ invoice_number }}", "body": body, "action": "save"})
    assert response.status_code == 302
    assert client.form("/settings/reminders/preview", {}, htmx=True).status_code == 200
    (message,) = [m for m in sink.to(OWNER) if m["subject"] == "[Preview] Open: F-2026-014"]
    html = message.get_body(("html",)).get_content()
    start = html.index("<p>Dear ")
    owner_part = html[start : html.index("<table", start)]  # up to the payment block
    assert_only_our_markup(owner_part)
    shown = seen_text(owner_part)
    assert "Dear " + HOSTILE_NAME + "," in shown
    for typed in HOSTILE_TEXT:
        assert typed in shown, typed
    assert "<strong>Please</strong> pay." in owner_part
    # the payment block is still ours, as HTML
    assert "FR7630006000011234567890189" in seen_text(html)
    plain = message.get_body(("plain",)).get_content()
    assert "<script>alert(1)</script>" in plain and "Dear " + HOSTILE_NAME in plain


def test_the_letter_html_shows_owner_html_and_client_names_as_text(app, client, auth):
    account_id = _setup(app, auth)
    body = "Dear {{ client_name }},\n\n" + "\n".join(HOSTILE_TEXT)
    response = client.form(
        "/settings/templates/level1/letter/en", {"subject": "Letter", "body": body, "action": "save"}
    )
    assert response.status_code == 302
    with app.test_request_context():
        account = db.session.get(Account, account_id)
        customer = db.session.scalar(select(Client))
        letter = letters.letter_parts(account, customer, customer.invoices, "level1")
        html = render_template("documents/_letter.html", **letter)
    body_html = html[html.index('<div class="body">') : html.index("</section>")]
    assert_only_our_markup(body_html.replace('<div class="body">', "").replace("</div>", ""))
    shown = seen_text(body_html)
    assert "Dear " + HOSTILE_NAME + "," in shown
    for typed in HOSTILE_TEXT:
        assert typed in shown, typed


def test_a_saved_template_with_old_html_is_shown_as_text(app, client, auth):
    """Rows saved before issue 14 may hold HTML: it is now shown as text, never run."""
    account_id = _setup(app, auth, name="Ann")
    with app.test_request_context():
        db.session.add(
            MessageTemplate(
                account_id=account_id,
                kind="level1",
                channel="email",
                language="en",
                subject="Old",
                body='<p onclick="x()">Hello {{ client_name }}</p><script>alert(1)</script>',
            )
        )
        db.session.commit()
        account = db.session.get(Account, account_id)
        customer = db.session.scalar(select(Client))
        message = render_message(account, customer, customer.invoices, "level1")
    assert message.html == (
        "<p>&lt;p onclick=&#34;x()&#34;&gt;Hello Ann&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )


# -------------------------------------------------------- pathological templates

PATHOLOGICAL = {
    "parentheses": "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
    "brackets": "{{ " + "[" * 500 + "]" * 500 + " }}",
    "braces": "{{ " + "{'a': " * 300 + "1" + "}" * 300 + " }}",
    "if blocks": "{% if 1 %}" * 500 + "x" + "{% endif %}" * 500,
    "for blocks": "{% for a in [1] %}" * 30 + "x" + "{% endfor %}" * 30,
    "a long operator chain": "{{ " + "+".join(["1"] * 3000) + " }}",
    "not not not": "{{ " + "not " * 3000 + "1 }}",
    "a filter chain": "{{ 'x'" + "|upper" * 2000 + " }}",
    "a huge number": "{{ " + "9" * 5000 + " }}",
    "a large number": "{{ " + "9" * 4000 + " }}",
    "recursive macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "a huge literal": "{{ 'a' * 10**9 }}",
    "padding": "{{ ''.ljust(10**9) }}",
    "centering": "{{ 'x'.center(10**9, '=') }}",
    "zeros": "{{ '1'.zfill(10**9) }}",
    "tabs": "{{ ('\t' * 1000).expandtabs(10**6) }}",
    "format": "{{ '{:>1000000000}'.format(1) }}",
    "replace": "{{ 'x'.replace('', 'y' * 40000) }}",
    "replace many": "{{ ('x' * 10000).replace('x', 'y' * 40000) }}",
    "translate": "{{ ('a' * 40000).translate({97: 'y' * 2000}) }}",
    "join": "{{ ('y' * 40000).join('a' * 2000) }}",
    "bytes": "{{ ('x'.encode() * 10**9)|length }}",
    "to_bytes": "{{ (1).to_bytes(10**9, 'big')|length }}",
    "sum of lists": "{{ ([['a'] * 40000] * 2000)|sum(start=[])|length }}",
}


@pytest.mark.parametrize("source", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_a_pathological_template_is_a_template_problem_and_allocates_little(source):
    tracemalloc.start()
    try:
        with pytest.raises(TemplateProblem) as refused:
            sandbox.check(source, {"client_name"})
            sandbox.render(source, {"client_name": "Ann"})
            sandbox.render(source, {"client_name": "Ann"}, html=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.message and "Traceback" not in refused.value.message
    assert peak < 8_000_000, f"{peak / 1e6:.1f} MB"


def test_many_big_texts_in_one_render_are_refused():
    """Each text under the output cap, but a thousand of them built in one render."""
    items = ", ".join(f"a ~ {i}" for i in range(1000))
    source = "{% set a = 'x' * 40000 %}{{ [" + items + "]|length }}"
    sandbox.check(source, set())  # compiled (and cached) first: only the render is measured
    tracemalloc.start()
    try:
        with pytest.raises(TemplateProblem, match="too"):
            sandbox.render(source, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, f"{peak / 1e6:.1f} MB"


def test_ordinary_templates_still_render_under_the_caps():
    out = sandbox.render(
        "{{ 'F-1'.ljust(8, '.') }}|{{ '7'.zfill(3) }}|{{ 'a-b'.replace('-', ' + ') }}|"
        "{{ ', '.join(['x', 'y']) }}|"
        "{% if 1 %}{% for i in [1, 2] %}{{ ((i + 1) * 2) }}{% endfor %}{% endif %}",
        {},
    )
    assert out == "F-1.....|007|a + b|x, y|46"


@pytest.mark.parametrize("field", ["body", "subject"])
def test_pathological_templates_are_a_422_with_a_message_on_save_and_preview(app, client, auth, field):
    _setup(app, auth, name="Ann")
    for name, source in PATHOLOGICAL.items():
        data = {"subject": "Hi", "body": "Hello", field: source}
        response = client.form(URL, {**data, "action": "save"})
        assert response.status_code == 422, name
        page = response.get_data(as_text=True)
        assert 'class="flash flash-error"' in page or "field-error" in page, name
        assert "Internal Server Error" not in page, name
        response = client.form(URL + "/preview", data, htmx=True)
        assert response.status_code == 422, name
        assert 'class="flash flash-error" role="alert"' in response.get_data(as_text=True), name
    assert _count(app) == 0


def test_saving_a_padding_attack_is_refused_without_allocating(app, client, auth):
    _setup(app, auth, name="Ann")
    tracemalloc.start()
    try:
        response = client.form(URL, {"subject": "Hi", "body": "{{ ''.ljust(10**9) }}", "action": "save"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 422 and "ljust" in response.get_data(as_text=True)
    assert peak < 30_000_000, f"{peak / 1e6:.1f} MB"
    assert _count(app) == 0


@pytest.mark.parametrize("body", [PATHOLOGICAL["padding"], PATHOLOGICAL["if blocks"], "<script>x</script>"])
def test_the_worker_survives_a_stored_template_that_cannot_render(app, sink, fixed_now, body):
    """A row that never went through the editor (older code, a direct write): the
    worker does not crash and the client gets the built-in text."""
    ids = engine_case(app, fixed_now)
    with app.app_context():
        db.session.add(
            MessageTemplate(
                account_id=ids["account"],
                kind="level1",
                channel="email",
                language="en",
                subject="Mine",
                body=body,
            )
        )
        db.session.commit()
    tracemalloc.start()
    try:
        tick_and_work(app, fixed_now, at(2026, 12, 7, 9, 5))  # D+3: level 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60_000_000, f"{peak / 1e6:.1f} MB"
    sent = subjects(sink, CLIENT)
    if body.startswith("<script>"):
        assert sent == ["Mine"]
        (message,) = sink.to(CLIENT)
        assert "&lt;script&gt;x&lt;/script&gt;" in message.get_body(("html",)).get_content()
    else:
        assert sent == ["Reminder: invoice F-2026-014 is 3 days overdue"]


def test_escaping_in_the_template_changes_nothing():
    """|e would only show entities: every part is escaped once, where it becomes HTML."""
    context = {"client_name": "A & <B>"}
    assert sandbox.render("{{ client_name|e }}", context) == "A & <B>"
    assert sandbox.render("{{ client_name|escape }}", context, html=True) == "<p>A &amp; &lt;B&gt;</p>\n"


@pytest.mark.parametrize(
    "typed, html",
    [
        ("a **b** c", "a <strong>b</strong> c"),
        ("** b** and **b **", "** b** and **b **"),
        ("**a**b**c**", "<strong>a</strong>b<strong>c</strong>"),
        ("**a ** b**", "<strong>a ** b</strong>"),
        ("x**y", "x**y"),
        ("**<b>**", "<strong>&lt;b&gt;</strong>"),
        ("**a **a **a", "**a **a **a"),
    ],
)
def test_bold_needs_text_inside_its_stars(typed, html):
    from app.documents import ownertext

    assert ownertext.to_html(typed) == f"<p>{html}</p>\n"
