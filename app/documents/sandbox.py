"""Render the owner's templates safely, in the web process and in the worker.

A user template may only read the placeholders it is given (plain strings,
numbers and lists of dicts: never an ORM object), through a small set of
filters. Limits hold without signals or threads, so they also work inside an
RQ job:

- the source is at most ``MAX_SOURCE`` characters;
- every loop step and every call spends from one budget per render
  (``MAX_STEPS``): ``range`` is our own counting iterator, and ``for`` loops over
  lists, strings and anything else iterate through :meth:`LimitedSandbox.iter`;
- ``*``, ``**``, ``+`` and ``-`` refuse results that would be too large before
  computing them (texts and lists: ``MAX_OUTPUT``; whole numbers: ``MAX_INT_BITS``);
- every text built inside the template (``~``, ``{% set %}…{% endset %}``, macros,
  ``{% filter %}``, ``join``, ``string`` …) is measured before it is built and
  refused beyond ``MAX_OUTPUT`` characters;
- the output is produced lazily and stopped at ``MAX_OUTPUT`` characters;
- running out of memory or of stack is a :class:`TemplateProblem`, not a crash.
"""

from __future__ import annotations

import operator
from functools import lru_cache

from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

MAX_SOURCE = 20_000
MAX_OUTPUT = 50_000
MAX_STEPS = 10_000
MAX_NUMBER = 10**12
MAX_INT_BITS = 4096  # about 1,200 digits: far beyond any amount, still instant to compute


class TemplateProblem(Exception):
    """A template that cannot be used: ``message`` says why, for the owner."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class _Budget:
    def __init__(self, steps: int = MAX_STEPS):
        self.left = steps

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise TemplateProblem(
                _("This template repeats too much (more than %(num)d loop steps or calls).", num=MAX_STEPS)
            )


class _CountingRange:
    """``range`` whose every step is paid from the render's budget."""

    def __init__(self, budget: _Budget, *args):
        self._budget = budget
        self._inner = range(*args)
        if len(self._inner) > MAX_STEPS:
            raise TemplateProblem(
                _(
                    "A loop of %(steps)d steps is too long (at most %(num)d).",
                    steps=len(self._inner),
                    num=MAX_STEPS,
                )
            )

    def __iter__(self):
        for value in self._inner:
            self._budget.spend()
            yield value

    def __len__(self):
        return len(self._inner)


def _text_size(value, limit: int = MAX_OUTPUT) -> int:
    """About how many characters ``str(value)`` has, without building it. Stops
    counting once past ``limit`` (so a list of a thousand references to one long
    text costs two steps, not a thousand)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, float):
        return 25
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, (list, tuple, set, frozenset)):
        size = 2
        for item in value:
            size += 2 + _text_size(item, limit - size)
            if size > limit:
                break
        return size
    return 50


def _refuse_long_text() -> None:
    raise TemplateProblem(_("This text would be too long (more than %(num)d characters).", num=MAX_OUTPUT))


def _check_text_size(values) -> None:
    """Refuse before joining ``values`` if the joined text would pass ``MAX_OUTPUT``."""
    size = 0
    for value in values:
        size += _text_size(value, MAX_OUTPUT - size)
        if size > MAX_OUTPUT:
            _refuse_long_text()


def _concat(values) -> str:
    """``environment.concat``: joins the output of ``{% set %}…{% endset %}``,
    macros, ``{% filter %}`` and ``{% call %}`` blocks, after measuring it."""
    values = list(values)
    _check_text_size(values)
    return "".join(values)


class _LoopCodeGenerator(CodeGenerator):
    """Wraps the iterable of every ``{% for %}`` in ``environment.iter(...)``, and
    measures every ``~`` before it joins anything."""

    def visit_For(self, node, frame):
        node.iter = nodes.Call(nodes.EnvironmentAttribute("budget_iter"), [node.iter], [], None, None)
        return super().visit_For(node, frame)

    def visit_Concat(self, node, frame):
        # Same as jinja2's CodeGenerator.visit_Concat, through environment.checked_join.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.checked_join({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


SAFE_FILTERS = (
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "default",
    "d",
    "round",
    "int",
    "length",
    "count",
    "first",
    "last",
    "join",
    "list",
    "sort",
    "reverse",
    "abs",
    "truncate",
    "striptags",
    "wordcount",
    "e",
    "escape",
    "string",
    "sum",
    "min",
    "max",
)

# Filters that turn their value into text: the value is measured first.
TEXT_FILTERS = (
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "truncate",
    "striptags",
    "wordcount",
    "e",
    "escape",
    "string",
)


def _measured(text_filter):
    """``text_filter`` refusing a value whose text would pass ``MAX_OUTPUT``."""
    pass_arg = getattr(text_filter, "jinja_pass_arg", None)

    def measured(*args, **kwargs):
        value = args[1] if pass_arg is not None else args[0]
        if not isinstance(value, str) and _text_size(value) > MAX_OUTPUT:
            _refuse_long_text()
        return text_filter(*args, **kwargs)

    if pass_arg is not None:
        measured.jinja_pass_arg = pass_arg
    return measured


def _size(value) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


class LimitedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _LoopCodeGenerator
    intercepted_binops = frozenset(["*", "**", "%", "+", "-"])
    concat = staticmethod(_concat)

    def __init__(self, autoescape: bool):
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            finalize=self._finalize,
        )
        kept = {name: self.filters[name] for name in SAFE_FILTERS if name in self.filters}
        self.filters.clear()
        self.filters.update(kept)
        join = kept["join"]

        def bounded_join(ctx, value, d="", attribute=None):
            items = list(value)
            if len(items) * (len(str(d)) + 1) > MAX_OUTPUT:
                _refuse_long_text()
            if attribute is None:
                _check_text_size(items)
            return join(ctx, items, d, attribute)

        bounded_join.jinja_pass_arg = join.jinja_pass_arg
        self.filters["join"] = bounded_join
        for name in TEXT_FILTERS:
            if name in self.filters:
                self.filters[name] = _measured(self.filters[name])
        self.tests = {k: v for k, v in self.tests.items() if k not in ("callable",)}
        self.globals.clear()
        self.budget = _Budget()

    # Every call (macros, loop(), methods) is paid for; recursion is bounded too.
    def call(self, context, obj, *args, **kwargs):
        self.budget.spend()
        return super().call(context, obj, *args, **kwargs)

    def budget_iter(self, iterable):
        if isinstance(iterable, _CountingRange):
            yield from iterable
            return
        budget = self.budget
        for item in iterable:
            budget.spend()
            yield item

    @staticmethod
    def _finalize(value):
        """Every ``{{ value }}`` is measured before it becomes text."""
        if not isinstance(value, str) and _text_size(value) > MAX_OUTPUT:
            _refuse_long_text()
        return value

    @staticmethod
    def checked_join(join, values):
        """``a ~ b``: measured before joining."""
        _check_text_size(values)
        return join(values)

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed")
        if operator_name == "**":
            if not (isinstance(right, int) and abs(right) <= 64 and abs(left) <= MAX_NUMBER):
                raise TemplateProblem(_("This power is too large."))
        if isinstance(left, int) and isinstance(right, int):
            bits = {
                "*": lambda: left.bit_length() + right.bit_length(),
                "**": lambda: left.bit_length() * abs(right),
                "+": lambda: max(left.bit_length(), right.bit_length()) + 1,
                "-": lambda: max(left.bit_length(), right.bit_length()) + 1,
            }.get(operator_name)
            if bits is not None and bits() > MAX_INT_BITS:
                raise TemplateProblem(_("This number would be too large."))
        if operator_name == "*":
            for sized, times in ((left, right), (right, left)):
                if isinstance(sized, (str, list, tuple)) and isinstance(times, int):
                    if _size(sized) * times > MAX_OUTPUT:
                        raise TemplateProblem(_("This text would be too long."))
        if operator_name == "+" and isinstance(left, (str, list, tuple)):
            if _size(left) + _size(right) > MAX_OUTPUT:
                raise TemplateProblem(_("This text would be too long."))
        return {
            "*": operator.mul,
            "**": operator.pow,
            "%": operator.mod,
            "+": operator.add,
            "-": operator.sub,
        }[operator_name](left, right)

    def make_range(self, *args):
        if not all(isinstance(a, int) for a in args):
            raise TemplateProblem(_("range() takes whole numbers."))
        return _CountingRange(self.budget, *args)


# Only for parsing (``check``); every render gets its own environment and budget.
_TEXT = LimitedSandbox(autoescape=False)


@lru_cache(maxsize=512)
def _undeclared(source: str) -> frozenset:
    """The names a template reads (parsing costs more than rendering; a reminder
    run checks the same few texts again and again). A syntax error is raised, not
    cached."""
    return frozenset(meta.find_undeclared_variables(_TEXT.parse(source)))


def check(source: str, allowed: set[str]) -> None:
    """Refuse a template that is too long, does not parse, or names a placeholder
    that does not exist. Raises :class:`TemplateProblem`."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(
            _(
                "This text is too long (%(size)d characters, at most %(num)d).",
                size=len(source),
                num=MAX_SOURCE,
            )
        )
    try:
        undeclared = _undeclared(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            _("Line %(line)d: %(error)s", line=error.lineno, error=error.message), error.lineno
        ) from error
    unknown = sorted(undeclared - set(allowed) - {"range"})
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        raise TemplateProblem(_("Unknown placeholder: %(names)s", names=names))


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    """The compiled code of a template (compiling costs far more than running it;
    a reminder run renders the same few texts again and again)."""
    return LimitedSandbox(autoescape=html).compile(source)


def render(source: str, context: dict, html: bool = False) -> str:
    """Render ``source`` with ``context`` (plain data only) in the sandbox.

    ``html=True`` escapes every value. Raises :class:`TemplateProblem` with a
    message for the owner on any error or limit."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(
            _(
                "This text is too long (%(size)d characters, at most %(num)d).",
                size=len(source),
                num=MAX_SOURCE,
            )
        )
    env = LimitedSandbox(autoescape=html)
    values = dict(context)
    values["range"] = env.make_range
    try:
        template = env.template_class.from_code(env, _compiled(source, html), env.make_globals(None))
        out, size = [], 0
        for chunk in template.generate(values):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(
                    _("The result is too long (more than %(num)d characters).", num=MAX_OUTPUT)
                )
            out.append(chunk)
    except TemplateProblem:
        raise
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            _("Line %(line)d: %(error)s", line=error.lineno, error=error.message), error.lineno
        ) from error
    except UndefinedError as error:
        raise TemplateProblem(_("Unknown placeholder or value: %(error)s", error=error.message)) from error
    except SecurityError as error:
        raise TemplateProblem(_("Not allowed in a template: %(error)s", error=error)) from error
    except RecursionError as error:
        raise TemplateProblem(_("This template calls itself too deeply.")) from error
    except MemoryError as error:
        raise TemplateProblem(_("This template needs too much memory.")) from error
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as error:
        raise TemplateProblem(_("This template does not render: %(error)s", error=error)) from error
    result = "".join(out)
    return Markup(result) if html else result


def paragraphs(html_text: str) -> Markup:
    """Escaped body text to HTML paragraphs (blank line = new paragraph). A part that
    already is an HTML block (the payment block) is kept as it is."""
    parts = [p.strip("\n") for p in str(html_text).replace("\r\n", "\n").split("\n\n")]
    out = []
    for part in parts:
        if not part.strip():
            continue
        if part.lstrip().startswith(("<table", "<p", "<div")):
            out.append(Markup(part) + Markup("\n"))
        else:
            out.append(Markup("<p>{}</p>\n").format(Markup(part.replace("\n", "<br>\n"))))
    return Markup("").join(out)


__all__ = ["TemplateProblem", "check", "render", "paragraphs", "escape"]
