"""The owner's templates render in a sandbox: escapes, huge loops and huge
outputs are refused quickly with a message; the built-in texts render."""

from __future__ import annotations

import time
from datetime import date

import pytest

from app.documents import defaults, sandbox
from app.documents.messages import PLACEHOLDERS, render_message
from app.documents.sandbox import TemplateProblem
from app.models import MESSAGE_KINDS

from .factories import make_account, make_client, make_invoice

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ client_name.__class__.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ range.__func__.__globals__ }}",
    "{{ invoices.__class__ }}",
    "{{ invoices[0].__class__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }}",
    "{{ '%999999999s' % 'a' }}",
    "{{ ''|attr('__class__') }}",
    "{{ client_name|format('x') }}",
]


def refused_within_a_second(source, context) -> str:
    """Render ``source``: it must be refused in under a second; returns the message."""
    started = time.perf_counter()
    with pytest.raises(TemplateProblem) as refused:
        sandbox.render(source, context)
    assert time.perf_counter() - started < 1
    return refused.value.message


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_attempts_are_refused(source):
    message = refused_within_a_second(source, {"client_name": "Acme", "invoices": [{"number": "F-1"}]})
    assert message
    assert "<class" not in message


LOOPS = [
    "{% for i in range(1000000) %}x{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
    "{% set l = range(1000)|list %}{% for i in l %}{% for j in l %}.{% endfor %}{% endfor %}",
    "{% for a in 'x' * 1000 %}{% for b in 'x' * 1000 %}{% endfor %}{% endfor %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for x in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
    "{{ 'a' * 1000000 }}",
    "{{ 9 ** 99999999 }}",
    "{{ (['x'] * 5000)|join('y' * 50000) }}",
    "{% for i in range(9000) %}{{ 'abcdefghij' }}{% endfor %}",
]


@pytest.mark.parametrize("source", LOOPS)
def test_a_million_iterations_or_a_huge_output_are_refused_within_a_second(source):
    assert "too" in refused_within_a_second(source, {})


def _doubled(first: str, step: str, times: int) -> str:
    """``first`` then ``step`` (``{n}`` = this step, ``{p}`` = the one before) ``times`` times."""
    steps = "".join(step.format(n=n, p=n - 1) for n in range(1, times + 1))
    return first + steps


A = '{% set a0 = "x" * 40000 %}'
BIG = "{% set a0 = 999999999999 ** 64 %}"
# The review's attacks (each used to build tens of megabytes or run for seconds),
# and the same trick through the other ways a template builds text.
BUILDERS = [
    _doubled(A, "{{% set a{n} = a{p} ~ a{p} %}}", 11) + "{{ a11|length }}",
    _doubled(A, "{{% set a{n} %}}{{{{ a{p} }}}}{{{{ a{p} }}}}{{% endset %}}", 11) + "{{ a11|length }}",
    _doubled(A, "{{% set a{n} | upper %}}{{{{ a{p} }}}}{{{{ a{p} }}}}{{% endset %}}", 11),
    _doubled(A, "{{% filter upper %}}{{{{ a{p} }}}}{{{{ a{p} }}}}{{% endfilter %}}", 2),
    "{% macro d(x) %}{{ x }}{{ x }}{% endmacro %}" + _doubled(A, "{{% set a{n} = d(a{p}) %}}", 11),
    _doubled(A, "{{% set a{n} = [a{p}, a{p}]|join %}}", 11),
    _doubled(A, "{{% set a{n} = a{p} ~ 1 ~ a{p} %}}", 11),
    A + "{% set l = [a0] * 1000 %}{% set s = l|string %}{{ s|length }}",
    A + "{% set l = [a0] * 1000 %}{{ l }}",
    A + "{% set l = [a0] * 1000 %}{{ l|upper }}",
    A + "{% set l = [[a0] * 1000] * 1000 %}{{ 'x' ~ l }}",
    _doubled(BIG, "{{% set a{n} = a{p} * a{p} %}}", 13),
    _doubled(BIG, "{{% set a{n} = a{p} * a{p} %}}", 20),
    _doubled(BIG, "{{% set a{n} = a{p} ** 2 %}}", 13),
    "{% set a0 = 999999 ** 64 %}{% set a1 = a0 ** 64 %}",
    _doubled(BIG, "{{% set a{n} = a{p} * a{p} + a{p} %}}", 13),
]


@pytest.mark.parametrize("source", BUILDERS)
def test_texts_and_numbers_built_by_doubling_are_refused_within_a_second(source):
    message = refused_within_a_second(source, {})
    # {% filter %} blocks are refused outright (their output would skip the value marking).
    assert "too" in message or "{% filter %}" in message


class _Exhausting:
    """A value whose text cannot be made (as when the process runs out of memory or stack)."""

    def __init__(self, error):
        self.error = error

    def __str__(self):
        raise self.error


@pytest.mark.parametrize("error", [MemoryError, RecursionError])
def test_running_out_of_memory_or_stack_is_a_template_problem(error):
    assert "too" in refused_within_a_second("Hello {{ who }}", {"who": _Exhausting(error())})


def test_long_texts_and_numbers_under_the_limits_still_render():
    out = sandbox.render(
        '{% set a = "x" * 20000 %}{% set b = a ~ a %}{% set c %}{{ a }}{{ a }}{% endset %}'
        "{% macro d(x) %}{{ x }}{{ x }}{% endmacro %}"
        "{{ b|length }} {{ c|length }} {{ d(a)|length }} {{ [a, a]|join|length }} "
        "{% set n = 999999999999 ** 32 %}{{ (n * n // n == n) }} {{ (n + n - n == n) }} "
        "{{ 2 ** 10 * 3 + 1 }}",
        {},
    )
    assert out == "40000 40000 40000 40000 True True 3073"


def test_source_too_long_is_refused():
    with pytest.raises(TemplateProblem, match="too long"):
        sandbox.render("x" * (sandbox.MAX_SOURCE + 1), {})


def test_unknown_placeholder_is_an_error_not_an_empty_string():
    with pytest.raises(TemplateProblem, match="client_nam"):
        sandbox.check("Hello {{ client_nam }}", set(PLACEHOLDERS))
    with pytest.raises(TemplateProblem, match="undefined"):
        sandbox.render("Hello {{ nobody }}", {})


def test_syntax_error_names_the_line():
    with pytest.raises(TemplateProblem, match="Line 2"):
        sandbox.check("ok\n{% for %}", set(PLACEHOLDERS))


def test_html_is_escaped_and_text_is_not():
    context = {"client_name": "<script>alert(1)</script> & Co"}
    html = sandbox.render("Hello {{ client_name }}", context, html=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert sandbox.render("Hello {{ client_name }}", context) == "Hello <script>alert(1)</script> & Co"


def test_ordinary_loops_and_filters_work():
    out = sandbox.render(
        "{% for i in invoices %}{{ loop.index }}. {{ i.number|upper }}\n{% endfor %}"
        "{{ range(3)|list|length }}",
        {"invoices": [{"number": "f-1"}, {"number": "f-2"}]},
    )
    assert out == "1. F-1\n2. F-2\n3"


@pytest.mark.parametrize("language", defaults.LANGUAGES)
@pytest.mark.parametrize("channel", ["email", "letter"])
def test_every_default_text_renders(app, language, channel):
    with app.app_context():
        account = make_account(address="1 rue de la Paix\n75002 Paris", iban="FR7630006000011234567890189")
        client = make_client(account, name="Acme SARL", language=language, address="3 quai Nord\n69001 Lyon")
        invoices = [
            make_invoice(account, client, number="F-1", issued_on=date(2026, 9, 1)),
            make_invoice(account, client, number="F-2", total_cents=250_00, issued_on=date(2026, 9, 15)),
        ]
        for kind in MESSAGE_KINDS:
            message = render_message(account, client, invoices, kind, channel, today=date(2026, 11, 23))
            # A formal-notice letter: the letter's layout prints sender, recipient and date
            # (templates/documents/_letter.html), its text does not repeat them.
            letter_notice = channel == "letter" and kind == "level4"
            assert ("Acme SARL" in message.text) != letter_notice
            assert "F-1" in message.text and message.subject
            assert "{{" not in message.text and "{%" not in message.text
            assert "FR7630006000011234567890189" in message.text
            if kind in ("grouped", "level4"):
                assert "F-2" in message.text
                assert ("350,00" in message.text) or ("350.00" in message.text)
            if kind == "level4" and not letter_notice:
                assert "1 rue de la Paix" in message.text and "3 quai Nord" in message.text
                assert "8" in message.text
                assert ("40 €" in message.text) or ("EUR 40" in message.text)
