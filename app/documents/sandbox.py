"""Render the owner's templates safely, in the web process and in the worker.

A user template may only read the placeholders it is given (plain strings,
numbers and lists of dicts: never an ORM object), through a small set of
filters. Limits hold without signals or threads, so they also work inside an
RQ job:

- the source is at most ``MAX_SOURCE`` characters;
- every loop step and every call spends from one budget per render
  (``MAX_STEPS``): ``range`` is our own counting iterator, and ``for`` loops over
  lists, strings and anything else iterate through :meth:`LimitedSandbox.iter`;
- the source is read only if its brackets and blocks nest at most ``MAX_NESTING``
  deep and its expressions ``MAX_DEPTH`` deep, with no number literal past
  ``MAX_INT_BITS`` (a deeper template would exhaust the parser's or Python's stack);
- ``*``, ``**``, ``+`` and ``-`` refuse results that would be too large before
  computing them (texts, bytes and lists: ``MAX_OUTPUT``; whole numbers: ``MAX_INT_BITS``);
- the methods that grow a text (``ljust``, ``rjust``, ``center``, ``zfill``,
  ``expandtabs``, ``replace``, ``join``, ``int.to_bytes``) are measured before they
  run; ``format``, ``format_map``, ``translate`` and ``maketrans`` are not available;
- everything a render builds counts against ``MAX_BUILT`` characters in all, so
  many texts each under the cap cannot add up;
- every text built inside the template (``~``, ``{% set %}…{% endset %}``, macros,
  ``{% filter %}``, ``join``, ``string`` …) is measured before it is built and
  refused beyond ``MAX_OUTPUT`` characters;
- the output is produced lazily and stopped at ``MAX_OUTPUT`` characters;
- running out of memory or of stack is a :class:`TemplateProblem`, not a crash.

The HTML part of a message is not made by Jinja: ``render(..., html=True)`` hands
the text, with every value marked, to :func:`app.documents.ownertext.to_html`, the
one place where owner text becomes HTML (everything escaped).
"""

from __future__ import annotations

import logging
import operator
from contextvars import ContextVar
from functools import lru_cache

from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from . import ownertext
from .ownertext import HtmlBlock

log = logging.getLogger(__name__)

MAX_SOURCE = 20_000
MAX_OUTPUT = 50_000
MAX_BUILT = 20 * MAX_OUTPUT  # characters built by one render, all texts together
MAX_STEPS = 10_000
MAX_NUMBER = 10**12
MAX_INT_BITS = 4096  # about 1,200 digits: far beyond any amount, still instant to compute
# Python compiles what Jinja generates: it allows 20 nested loops and 100 indents.
MAX_NESTING = 10  # brackets inside brackets, blocks inside blocks
MAX_DEPTH = 40  # an expression's tree (a + b + c … is a chain as deep as it is long)


class TemplateProblem(Exception):
    """A template that cannot be used: ``message`` says why, for the owner."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class _Budget:
    def __init__(self, steps: int = MAX_STEPS):
        self.left = steps
        self.text_left = MAX_BUILT

    def spend_text(self, size: int) -> None:
        self.text_left -= size
        if self.text_left < 0:
            raise TemplateProblem(
                _("This template builds too much text (more than %(num)d characters in all).", num=MAX_BUILT)
            )

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


# The budget of the render running in this context (None while compiling).
_RUNNING: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _built(size: int) -> None:
    """Count ``size`` characters about to be built against the render's ``MAX_BUILT``."""
    if size > MAX_OUTPUT:
        _refuse_long_text()
    budget = _RUNNING.get()
    if budget is not None:
        budget.spend_text(size)


def _check_text_size(values) -> None:
    """Refuse before joining ``values`` if the joined text would pass ``MAX_OUTPUT``."""
    size = 0
    for value in values:
        size += _text_size(value, MAX_OUTPUT - size)
        if size > MAX_OUTPUT:
            _refuse_long_text()
    _built(size)


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
        _built(_text_size(value))
        return text_filter(*args, **kwargs)

    if pass_arg is not None:
        measured.jinja_pass_arg = pass_arg
    return measured


def _as_typed(value) -> str:
    return value if isinstance(value, str) else str(value)


def _size(value) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


# str methods that make a longer text, by how to bound their result before they run.
_PADDING = frozenset(["ljust", "rjust", "center", "zfill"])
_REFUSED_METHODS = frozenset(["format", "format_map", "translate", "maketrans"])


def _growth(obj, args, kwargs) -> int | None:
    """About how many characters a call of method ``obj`` can make, or None when it
    cannot grow a text. Refuses the methods we cannot bound."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if isinstance(owner, (str, bytes, bytearray)):
        if name in _REFUSED_METHODS:
            raise TemplateProblem(_("%(name)s() is not available in templates.", name=name))
        if name in _PADDING:
            width = args[0] if args else 0
            return width if isinstance(width, int) else None
        if name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            if not isinstance(tabsize, int):
                return None
            tab = "\t" if isinstance(owner, str) else b"\t"
            return len(owner) + owner.count(tab) * max(tabsize, 0)
        if name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if not isinstance(old, type(owner)) or not isinstance(new, type(owner)):
                return None
            times = owner.count(old) if old else len(owner) + 1
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            if isinstance(count, int) and count >= 0:
                times = min(times, count)
            return len(owner) + times * max(len(new) - len(old), 0)
    if isinstance(owner, int) and name == "to_bytes":
        length = args[0] if args else kwargs.get("length", 1)
        return length if isinstance(length, int) else None
    return None


class LimitedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _LoopCodeGenerator
    intercepted_binops = frozenset(["*", "**", "%", "+", "-"])

    def __init__(self, marked: bool = False):
        """``marked``: every ``{{ value }}`` comes out between ownertext's markers (the
        HTML part is made from that output, :func:`ownertext.to_html`)."""
        super().__init__(
            autoescape=False,
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
        numeric_sum = kept["sum"]

        def numeric_sum_only(env, iterable, attribute=None, start=0):
            # sum(start=[]) or sum(start='') would add texts or lists without any check.
            if not isinstance(start, (int, float)):
                raise TemplateProblem(_("sum adds numbers only."))
            return numeric_sum(env, iterable, attribute, start)

        numeric_sum_only.jinja_pass_arg = numeric_sum.jinja_pass_arg
        self.filters["sum"] = numeric_sum_only
        # Every part is escaped where it becomes HTML (ownertext.to_html) and nowhere
        # else: escaping in the template would only show entities in the text.
        self.filters["e"] = self.filters["escape"] = _as_typed
        for name in TEXT_FILTERS:
            if name in self.filters:
                self.filters[name] = _measured(self.filters[name])
        self.tests = {k: v for k, v in self.tests.items() if k not in ("callable",)}
        self.globals.clear()
        self.budget = _Budget()
        self.marked = marked
        self.blocks: list[HtmlBlock] = []

    def concat(self, values):
        """Joins the output of ``{% set %}…{% endset %}``, macros, ``{% filter %}``
        and ``{% call %}`` blocks, after measuring it."""
        values = list(values)
        _check_text_size(values)
        return "".join(values)

    # Every call (macros, loop(), methods) is paid for; recursion is bounded too; the
    # methods that grow a text are measured first.
    def call(self, context, obj, *args, **kwargs):
        self.budget.spend()
        growth = _growth(obj, args, kwargs)
        if growth is not None:
            if growth > MAX_OUTPUT:
                name = getattr(getattr(obj, "__wrapped__", obj), "__name__", "")
                raise TemplateProblem(
                    _(
                        "%(name)s() would make a text too long (more than %(num)d characters).",
                        name=name,
                        num=MAX_OUTPUT,
                    )
                )
            _built(growth)
        separator = getattr(obj, "__self__", None)
        if getattr(obj, "__name__", "") == "join" and isinstance(separator, (str, bytes)):
            items = list(args[0]) if args else []
            if len(separator) * max(len(items) - 1, 0) > MAX_OUTPUT:
                _refuse_long_text()
            _check_text_size(items)
            args = (items, *args[1:])
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
    @pass_context
    def _finalize(context, value):
        """Every ``{{ value }}`` is measured before it becomes text; for the HTML part
        it is marked as a value (escaped, no markup) or, for our own HTML blocks,
        replaced by a numbered block marker."""
        if not isinstance(value, str) and _text_size(value) > MAX_OUTPUT:
            _refuse_long_text()
        env = context.environment
        if not env.marked:
            return value
        if type(value) is HtmlBlock:
            env.blocks.append(value)
            return f"{ownertext.BLOCK_START}{len(env.blocks) - 1}{ownertext.BLOCK_END}"
        text = ownertext.strip_markers(value)
        return f"{ownertext.VALUE_START}{text}{ownertext.VALUE_END}"

    def checked_join(self, join, values):
        """``a ~ b``: measured before joining."""
        _check_text_size(values)
        return join(values)

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "%" and isinstance(left, (str, bytes, bytearray)):
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
        sequences = (str, bytes, bytearray, list, tuple)
        if operator_name == "*":
            for sized, times in ((left, right), (right, left)):
                if isinstance(sized, sequences) and isinstance(times, int):
                    if _size(sized) * times > MAX_OUTPUT:
                        raise TemplateProblem(_("This text would be too long."))
                    _built(_size(sized) * max(times, 0))
        if operator_name == "+" and isinstance(left, sequences):
            if _size(left) + _size(right) > MAX_OUTPUT:
                raise TemplateProblem(_("This text would be too long."))
            _built(_size(left) + _size(right))
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
_TEXT = LimitedSandbox()

_OPENING = frozenset(["if", "for", "macro", "call", "filter", "with", "block", "autoescape"])
_BRACKETS = {"lparen": 1, "lbracket": 1, "lbrace": 1, "rparen": -1, "rbracket": -1, "rbrace": -1}


def _too_deep(line: int | None = None) -> TemplateProblem:
    return TemplateProblem(
        _(
            "This template is nested too deeply: at most %(num)d brackets inside each other, "
            "%(num)d blocks inside each other, and no endless chains of operators or filters.",
            num=MAX_NESTING,
        ),
        line,
    )


def _check_nesting(source: str) -> None:
    """Count brackets and blocks on the tokens (the lexer is a loop: it cannot run
    out of stack) before the parser, which recurses, sees the source."""
    brackets = blocks = 0
    statement: list[str] = []  # the first tokens of the current {% … %}
    in_block = False
    for token in _TEXT._tokenize(source, None):
        kind = token.type
        if kind in _BRACKETS:
            brackets += _BRACKETS[kind]
            if brackets > MAX_NESTING:
                raise _too_deep(token.lineno)
        elif kind == "block_begin":
            in_block, statement = True, []
        elif kind == "block_end":
            # {% set x %}…{% endset %} is a block; {% set x = … %} is not.
            if statement[:1] == ["set"] and "=" not in statement:
                blocks += 1
            in_block = False
        elif in_block:
            if not statement and kind == "name":
                if token.value in _OPENING:
                    blocks += 1
                elif token.value.startswith("end"):
                    blocks -= 1
            statement.append("=" if kind == "assign" else str(token.value))
        if blocks > MAX_NESTING:
            raise _too_deep(token.lineno)


def _check_tree(tree: nodes.Template) -> None:
    """Refuse a tree deeper than ``MAX_DEPTH`` (walked with a list, not recursion) and
    number literals past ``MAX_INT_BITS``."""
    todo = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(getattr(node, "lineno", None))
        if isinstance(node, nodes.Const) and isinstance(node.value, int):
            if node.value.bit_length() > MAX_INT_BITS:
                raise TemplateProblem(_("A number in this template is too large."), node.lineno)
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            # "\ue000" in a literal is decoded by the lexer: the converter's private
            # markers can come from no text of the owner's.
            node.value = ownertext.strip_markers(node.value)
        if isinstance(node, nodes.FilterBlock):
            # Its output reaches the page without _finalize (which marks values).
            raise TemplateProblem(_("{% filter %} blocks are not available in templates."), node.lineno)
        todo.extend((child, depth + 1) for child in node.iter_child_nodes())


def _too_long(source: str) -> None:
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(
            _(
                "This text is too long (%(size)d characters, at most %(num)d).",
                size=len(source),
                num=MAX_SOURCE,
            )
        )


def _parse(source: str) -> nodes.Template:
    """The checked tree of ``source``; raises :class:`TemplateProblem`."""
    _too_long(source)
    try:
        _check_nesting(source)
        tree = _TEXT.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            _("Line %(line)d: %(error)s", line=error.lineno, error=error.message), error.lineno
        ) from error
    except ValueError as error:  # an integer literal past Python's 4,300 digits
        raise TemplateProblem(_("A number in this template is too large.")) from error
    except (RecursionError, MemoryError, OverflowError) as error:
        raise _too_deep() from error
    _check_tree(tree)
    return tree


@lru_cache(maxsize=512)
def _undeclared(source: str) -> frozenset:
    """The names a template reads (parsing costs more than rendering; a reminder
    run checks the same few texts again and again). A problem is raised, not
    cached."""
    return frozenset(meta.find_undeclared_variables(_parse(source)))


def check(source: str, allowed: set[str]) -> None:
    """Refuse a template that is too long, too deep, does not parse, or names a
    placeholder that does not exist. Raises :class:`TemplateProblem`."""
    undeclared = _undeclared(source)
    unknown = sorted(undeclared - set(allowed) - {"range"})
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        raise TemplateProblem(_("Unknown placeholder: %(names)s", names=names))
    _compiled(source)


@lru_cache(maxsize=512)
def _compiled(source: str):
    """The compiled code of a template (compiling costs far more than running it;
    a reminder run renders the same few texts again and again)."""
    tree = _parse(source)
    try:
        return LimitedSandbox().compile(tree)
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            _("Line %(line)d: %(error)s", line=error.lineno, error=error.message), error.lineno
        ) from error
    except (SyntaxError, RecursionError, MemoryError, OverflowError) as error:
        # What Jinja generated is past what Python compiles (nesting, indentation).
        raise _too_deep() from error


def _unmarked(value):
    """A text value without ownertext's markers (only the sandbox puts them in)."""
    if isinstance(value, str) and type(value) is not HtmlBlock:
        return ownertext.strip_markers(value)
    return value


def render(source: str, context: dict, html: bool = False) -> str:
    """Render ``source`` with ``context`` (plain data only) in the sandbox.

    ``html=True`` gives the HTML of the text (:func:`ownertext.to_html`): all of it
    escaped, values too, except the :class:`HtmlBlock` values. Raises
    :class:`TemplateProblem` with a message for the owner on any error or limit."""
    _too_long(source)
    env = LimitedSandbox(marked=html)
    values = {name: _unmarked(value) for name, value in context.items()}
    values["range"] = env.make_range
    running = _RUNNING.set(env.budget)
    try:
        code = _compiled(ownertext.strip_markers(source) if html else source)
        template = env.template_class.from_code(env, code, env.make_globals(None))
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
    except Exception as error:  # never a 500, never a dead worker, whatever the text does
        log.warning("template failed in an unexpected way: %r", error)
        raise TemplateProblem(_("This template does not render.")) from error
    finally:
        _RUNNING.reset(running)
    result = "".join(out)
    return ownertext.to_html(result, env.blocks) if html else result


__all__ = ["TemplateProblem", "HtmlBlock", "check", "render", "escape"]
