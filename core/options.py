"""A method's options, declared once: a frozen dataclass per method and per listwise strategy.

Each method class names its declaration (``Options``, a frozen dataclass whose fields are made
with :func:`option`: type, default, help, choices); each listwise strategy names one too
(:attr:`~reasonrank.methods.listwise_strategies.Strategy.options`). Everything else follows from
or is checked against these declarations:

* the CLI flags of method settings (``--window-size``, ``--partition-fill``...) are generated
  from them (:func:`cli_options`), so a new option or strategy needs no edit to the CLI;
* a spec's ``method_options`` and a preset's ``[method_options]`` are checked against them
  (:func:`check_method_options`): an unknown name, a value of the wrong type or outside the
  choices is one :class:`~reasonrank.errors.InvalidInputError` before any engine is built;
* the constructors' keywords and defaults, the shared ``TypedDict`` s of
  :mod:`reasonrank.methods.generating`, the framework wrappers' fields and the options table
  of ``docs/methods.md`` (:func:`markdown_table`) are compared with them by tests.

>>> from reasonrank.options import method_options
>>> method_options("listwise")["partition_fill"].choices
('interleave', 'list')
"""
from __future__ import annotations

import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Literal, Union, get_args, get_origin

from reasonrank.errors import InvalidInputError


def option(default: Any, help: str, *, cli: bool = True, metavar: str | None = None,
           choices: Callable[[], Sequence[Any]] | None = None) -> Any:
    """A declared option: a dataclass field with its ``default`` and ``help``. ``cli=False``:
    no flag of its own (it is still accepted, e.g. in ``--method-options``); ``choices``: the
    allowed values of an open set, read when needed (a registry's names), where a ``Literal``
    type cannot list them."""
    return field(default=default, metadata={"help": help, "cli": cli, "metavar": metavar, "choices": choices})


@dataclass(frozen=True)
class OptionInfo:
    """One declared option, as the CLI, the checks and the docs read it."""

    name: str
    hint: Any  #: the field's type (resolved)
    default: Any
    help: str
    owner: str  #: who declares it: a method (``"listwise"``) or a strategy (``"listwise --strategy partition"``)
    cli: bool = True
    metavar: str | None = None
    dynamic_choices: Callable[[], Sequence[Any]] | None = None

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values: a ``Literal``'s, or those ``option(choices=...)`` reads (None:
        not a closed set)."""
        if self.dynamic_choices is not None:
            return tuple(self.dynamic_choices())
        literal = [a for a in _members(self.hint) if get_origin(a) is Literal]
        return tuple(v for lit in literal for v in get_args(lit)) or None

    @property
    def scalar(self) -> type | None:
        """The option's one plain type (``int``, ``float``, ``str``, ``bool``; a Literal's value
        type) when it has one, the type its CLI flag converts to; None otherwise (a list, a
        mapping, a callable: set those with ``--method-options``)."""
        found = {type(v) for v in self.choices or ()}
        found |= {a for a in _members(self.hint) if a in (int, float, str, bool)}
        if float in found and int in found:
            found.discard(int)  # ``int | float`` reads as a float
        return found.pop() if len(found) == 1 else None

    def check(self, value: Any) -> None:
        """``value`` has this option's type and is one of its choices (a mismatch raises)."""
        if not _conforms(value, self.hint):
            raise InvalidInputError(f"{self.owner} option {self.name} must be {_describe(self.hint)}, "
                                    f"got {value!r}")
        allowed = self.choices if self.dynamic_choices is not None else None
        if allowed is not None and value is not None and value not in allowed:
            raise InvalidInputError(f"{self.owner} option {self.name} must be one of {list(allowed)}, "
                                    f"got {value!r}")


def _members(hint: Any) -> tuple[Any, ...]:
    """The alternatives of a union (``int | None`` -> ``(int, NoneType)``), else ``(hint,)``."""
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return (hint,)


def _conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``; only the plain parts are checked (a generic container or
    a callable is left to the method's own checks)."""
    for member in _members(hint):
        origin = get_origin(member)
        if member is Any or member is object:
            return True
        if member is type(None) and value is None:
            return True
        if origin is Literal:
            if any(value == v and type(value) is type(v) for v in get_args(member)):
                return True
        elif member is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif member is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif isinstance(member, type) and member is not type(None):
            if isinstance(value, member):
                return True
        elif origin is not None and member is not type(None):
            container = origin if isinstance(origin, type) else None
            if container is None or isinstance(value, container) or _sequence_like(container, value):
                return True
    return False


def _sequence_like(container: type, value: Any) -> bool:
    """A TOML/JSON list given for a ``Sequence``/``tuple`` option is fine."""
    return issubclass(container, Sequence) and isinstance(value, (list, tuple))


def _describe(hint: Any) -> str:
    parts: list[str] = []
    for member in _members(hint):
        if get_origin(member) is Literal:
            parts.extend(repr(v) for v in get_args(member))
        elif member is type(None):
            parts.append("None")
        else:
            parts.append(getattr(member, "__name__", str(member)))
    return " or ".join(parts)


# -- reading a declaration ---------------------------------------------------------------------
def describe(declaration: type, owner: str) -> list[OptionInfo]:
    """The options ``declaration`` (a dataclass) declares, in field order."""
    if not is_dataclass(declaration):
        raise TypeError(f"an options declaration must be a dataclass, got {declaration!r}")
    module = sys.modules.get(declaration.__module__)
    hints = typing.get_type_hints(declaration, globalns=vars(module) if module else None, include_extras=False)
    out = []
    for f in fields(declaration):
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        meta = f.metadata
        out.append(OptionInfo(name=f.name, hint=hints[f.name], default=default, help=meta.get("help", ""),
                              owner=owner, cli=meta.get("cli", True), metavar=meta.get("metavar"),
                              dynamic_choices=meta.get("choices")))
    return out


# -- the options every method shares (the TypedDicts of methods.generating mirror these) -------
@dataclass(frozen=True)
class SharedOptions:
    """The options of :class:`~reasonrank.methods.base.Reranker`, which every method takes (the
    first four are spec fields of their own, with their own CLI flags)."""

    on_error: Literal["raise", "keep_order"] = option(
        "raise", "on an engine failure: raise, or keep the input order with a warning", cli=False)
    on_parse_error: Literal["keep_order", "raise"] = option(
        "keep_order", "on an output with no usable answer: keep the input order (warn) or raise", cli=False)
    depth: int | None = option(None, "rerank only the first K candidates (None: all)", cli=False)
    show_progress: bool = option(False, "a progress bar over the engine requests", cli=False)
    max_batch_size: int | None = option(None, "requests per sync engine call (None: the engine's)", cli=False)
    max_concurrency: int | None = option(None, "requests in flight (None: the engine's)", cli=False)
    schedule: Literal["auto", "pipeline", "batch"] = option(
        "auto", "auto (async when the engine takes concurrent requests), pipeline or batch", cli=False)


@dataclass(frozen=True)
class SamplingOptions:
    """The sampling options of the methods that generate text
    (:class:`~reasonrank.methods.generating.GeneratingReranker`)."""

    temperature: float = option(0.0, "sampling temperature (0: greedy, as the official runs)", cli=False)
    top_p: float = option(1.0, "nucleus sampling's p", cli=False)
    seed: int | None = option(None, "sampling seed", cli=False)
    force_answer: bool | None = option(
        None, "close a thought cut by the budget and ask for the answer (None: the method's default)",
        cli=False)


EVERY_METHOD = "every method"
GENERATING = "generating methods"


def _method_class(method: str) -> Any:
    from reasonrank.methods import method_class

    return method_class(method)


def declarations(method: str) -> list[tuple[str, type]]:
    """``(owner, declaration)`` of every options declaration of ``method``: the shared ones
    first (:class:`SharedOptions`; :class:`SamplingOptions` for a generating method), then the
    class's own ``Options``, then those its ``option_extensions()`` add (listwise: one per
    registered strategy)."""
    from reasonrank.methods.generating import GeneratingReranker

    cls = _method_class(method)
    out: list[tuple[str, type]] = [(EVERY_METHOD, SharedOptions)]
    if issubclass(cls, GeneratingReranker):
        out.append((GENERATING, SamplingOptions))
    own = getattr(cls, "Options", None)
    if own is not None:
        out.append((method, own))
    extend = getattr(cls, "option_extensions", None)
    if extend is not None:
        out.extend(extend())
    return out


def method_options(method: str) -> dict[str, OptionInfo]:
    """Every option ``method`` accepts, by name (a later declaration's option of the same name,
    e.g. a method's own ``depth`` default, wins)."""
    out: dict[str, OptionInfo] = {}
    for owner, declaration in declarations(method):
        for info in describe(declaration, owner):
            out[info.name] = info
    return out


def own_options(method: str) -> list[OptionInfo]:
    """The options ``method`` declares itself and through its extensions (not the shared ones)."""
    return [info for owner, declared in declarations(method) if owner not in (EVERY_METHOD, GENERATING)
            for info in describe(declared, owner)]


def check_method_options(method: str, options: Mapping[str, Any], *, where: str = "") -> None:
    """``options`` (a spec's or a preset's ``method_options``) against ``method``'s
    declarations: an unknown name, a wrong type or a value outside the choices is one
    :class:`InvalidInputError` (``where`` prefixes it, e.g. ``"preset 'x': "``). Composite
    methods (cascade) check their own options."""
    from reasonrank.methods import COMPOSITE_METHODS

    if method in COMPOSITE_METHODS:
        return
    known = method_options(method)
    from reasonrank.checks import FUSION_OPTIONS  # not from spec: spec imports this module

    unknown = sorted(set(options) - set(known) - set(FUSION_OPTIONS))
    if unknown:
        raise InvalidInputError(f"{where}unknown {method} options {unknown}; known: {sorted(known)}")
    for name, value in options.items():
        if name in known:
            try:
                known[name].check(value)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}{exc}") from None


# -- the CLI and the docs ----------------------------------------------------------------------
def cli_options() -> tuple[tuple[OptionInfo, tuple[str, ...]], ...]:
    """Each method setting that gets a flag of its own, with every owner that declares it
    (``max_passage_tokens``: listwise, pointwise...): the declared options with ``cli`` set
    and one plain type. Names declared by several owners must agree on that type."""
    from reasonrank.methods import METHODS

    seen: dict[str, tuple[OptionInfo, list[str]]] = {}
    for method in sorted(METHODS):
        for info in own_options(method):
            if not info.cli or info.scalar is None:
                continue
            if info.name not in seen:
                seen[info.name] = (info, [info.owner])
                continue
            first, owners = seen[info.name]
            if first.scalar is not info.scalar or first.choices != info.choices:
                raise TypeError(f"option {info.name} is {_describe(first.hint)} in {first.owner} but "
                                f"{_describe(info.hint)} in {info.owner}: one flag cannot take both")
            if info.owner not in owners:
                owners.append(info.owner)
    return tuple((info, tuple(owners)) for info, owners in seen.values())


def _default_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str) and (len(value) > 30 or "\n" in value):
        return "the built-in text"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def markdown_table() -> str:
    """The method options table of ``docs/methods.md`` (a test checks the page shows this):
    each method's own options and its strategies', not the shared ones."""
    from reasonrank.methods import METHODS

    rows = ["| method | option | type | default | what it does |", "|---|---|---|---|---|"]
    for method in sorted(METHODS):
        for info in own_options(method):
            kind = ", ".join(f"`{c!r}`" for c in info.choices) if info.choices else _describe(info.hint)
            cells = (f"`{info.owner}`", f"`{info.name}`", kind, _default_text(info.default), info.help)
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def iter_declared_names(declaration: type) -> Iterator[str]:
    """The option names ``declaration`` declares (for splitting keywords among owners)."""
    return (f.name for f in fields(declaration))

__all__ = ["OptionInfo", "check_method_options", "cli_options", "declarations", "describe",
           "iter_declared_names", "markdown_table", "method_options", "option", "own_options"]
