"""Options shared by every subcommand that builds a reranker: generated from the fields of
:class:`~reasonrank.spec.RerankerSpec`, so a new spec field is a new flag without writing it
out again (``--engine-options`` for ``engine_options``...), and from the methods' and listwise
strategies' option declarations (:mod:`reasonrank.options`: ``--window-size``,
``--partition-fill``...), and turned back into a spec."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import Field, fields
from typing import Any

from reasonrank.errors import InvalidInputError
from reasonrank.spec import EngineLayer, RerankerSpec


def parse_json_option(text: str | None, flag: str) -> dict[str, Any]:
    """The JSON object given to ``flag`` (``{}`` when absent); a ``ValueError`` naming the flag."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object")  # noqa: TRY004 - the CLI exits 2 on ValueError
    return value


def flag_of(name: str) -> str:
    """The CLI flag of a spec field: ``engine_options`` -> ``--engine-options``."""
    return "--" + name.replace("_", "-")


def _choices(meta: Any) -> Sequence[str] | None:
    choices = meta.get("choices")
    if choices == "methods":
        from reasonrank.methods import method_names

        return method_names()
    if choices == "engines":
        from reasonrank.engines import ENGINES

        return sorted(ENGINES)
    return choices


def method_flags() -> dict[str, dict[str, Any]]:
    """The method settings with a flag of their own, generated from the methods' and listwise
    strategies' option declarations (:func:`reasonrank.options.cli_options`): name -> argparse
    keywords. Given flags land in the spec's ``method_options`` (over ``--method-options``'s);
    any other setting goes in ``--method-options``."""
    from reasonrank.options import cli_options

    out: dict[str, dict[str, Any]] = {}
    for info, owners in cli_options():
        shown = info.default is not None and len(owners) == 1 and len(str(info.default)) <= 20
        default = f" (default {info.default})" if shown else ""
        kwargs: dict[str, Any] = {"help": f"{', '.join(owners)}: {info.help}{default}".replace("%", "%%")}
        if info.scalar is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = info.scalar
            if info.choices is not None:
                kwargs["choices"] = list(info.choices)
            elif info.metavar is not None:
                kwargs["metavar"] = info.metavar
        out[info.name] = kwargs
    return out


# Where the parser notes which method settings got a flag (a subcommand's own option of the same
# name, such as `train synthesize --window-size`, is not a method setting).
_METHOD_FLAGS_DEST = "_method_setting_flags"


def cli_fields() -> list[Field]:
    """The spec fields that get a generated option (the rest each subcommand adds itself)."""
    return [f for f in fields(RerankerSpec) if f.metadata.get("cli", True)]


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that a paragraph whose later lines are indented (a generated
    table such as the methods list) is printed as written; other paragraphs are wrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        out = []
        for para in paragraphs:
            lines = para.splitlines()
            if any(line.startswith(" ") for line in lines[1:]):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def add_epilog(parser: argparse.ArgumentParser, text: str) -> None:
    """Append ``text`` (e.g. a generated list from :mod:`reasonrank.cli.catalog`) to the help's epilog."""
    parser.epilog = f"{parser.epilog}\n\n{text}" if parser.epilog else text
    parser.formatter_class = HelpFormatter


def add_reranker_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`RerankerSpec` field (``--method``, ``--preset``, ``--engine``,
    ``--model``, ``--base-url``, ``--engine-options``, ``--on-error``, ``--strict``...); the
    help's epilog lists every registered method and engine (:func:`catalog.reranker_epilog`)."""
    from reasonrank.cli import catalog

    add_epilog(parser, catalog.reranker_epilog())
    group = parser.add_argument_group("reranker")
    for f in cli_fields():
        meta = f.metadata
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": meta["help"]}
        if _choices(meta) is not None:
            kwargs["choices"] = _choices(meta)
        if meta.get("json") or "metavar" in meta:
            kwargs["metavar"] = meta.get("metavar", "JSON")
        if "type" in meta:
            kwargs["type"] = meta["type"]
        group.add_argument(flag_of(f.name), **kwargs)
        if meta.get("strict_flag"):
            group.add_argument("--strict", dest=f.name, action="store_const", const="raise",
                               help=f"the same as {flag_of(f.name)} raise")
    settings = parser.add_argument_group(
        "method settings", "each a setting of the methods named (also accepted in --method-options); "
        "generated from the methods' option declarations")
    added = []
    for name, flag in method_flags().items():
        if flag_of(name) in parser._option_string_actions:
            continue  # the subcommand's own option of that name (train synthesize --window-size)
        settings.add_argument(flag_of(name), dest=name, default=None, **flag)
        added.append(name)
    parser.set_defaults(**{_METHOD_FLAGS_DEST: tuple(added)})


def spec_from_args(args: argparse.Namespace, **overrides: Any) -> RerankerSpec:
    """The :class:`RerankerSpec` the generated options describe; ``overrides`` are further
    spec fields or method settings (``depth=``, ``criteria=``...)."""
    values: dict[str, Any] = {}
    for f in cli_fields():
        value = getattr(args, f.name, None)
        if f.metadata.get("json"):
            value = parse_json_option(value, flag_of(f.name))
        if value is not None:
            values[f.name] = value
    flags = {name: getattr(args, name) for name in getattr(args, _METHOD_FLAGS_DEST, ())
             if getattr(args, name, None) is not None}
    if flags:
        values["method_options"] = {**values.get("method_options", {}), **flags}
    spec = RerankerSpec.from_options(**{**values, **overrides})
    if flags:
        _check_flags_fit(spec, flags)
    return spec


def _check_flags_fit(spec: RerankerSpec, flags: dict[str, Any]) -> None:
    """A method-setting flag given for a method that has no such setting is one clear error
    naming the flag and the methods it is for (before any model loads)."""
    from reasonrank.options import cli_options

    method = spec.resolved_preset().method
    owners = {info.name: own for info, own in cli_options()}
    for name in flags:
        methods = sorted({owner.split(" ")[0] for owner in owners[name]})
        if method not in methods:
            raise InvalidInputError(f"{flag_of(name)} applies to --method {' or '.join(methods)} only "
                                    f"(this reranker's method is {method})")


def reranker_from_args(args: argparse.Namespace, *, layers: Sequence[EngineLayer] = (), **overrides: Any) -> Any:
    """Build the reranker the shared options describe (see :func:`spec_from_args`), its engine
    wrapped by ``layers`` (e.g. ``reasonrank bench`` meters the engine this way)."""
    return spec_from_args(args, **overrides).build(layers=layers)


class _DeprecatedAlias(argparse.Action):
    """An old flag that still works: stores into the new one's ``dest`` and says so on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"reasonrank: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string)  # errors name the flag typed


def add_deprecated_alias(parser: argparse.ArgumentParser | Any, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """``old``, an earlier spelling of ``new``: still works (into ``dest``), warns on stderr,
    and is not advertised in ``--help``."""
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, help=argparse.SUPPRESS, **kwargs)


def add_depth_argument(parser: argparse.ArgumentParser | Any, *, default: int | None, help: str) -> None:
    """``--depth K`` (the rerank depth) and its deprecated alias ``--top-k``."""
    parser.add_argument("--depth", type=int, default=default, metavar="K", help=help)
    add_deprecated_alias(parser, "--top-k", "--depth", "depth", type=int, metavar="K")


def depth_from_args(args: argparse.Namespace) -> int | None:
    """``--depth``, checked positive (the error names the flag the user typed)."""
    depth = args.depth
    if depth is not None and depth < 1:
        flag = getattr(args, "depth_flag", "--depth")
        raise InvalidInputError(f"{flag} must be a positive integer, got {depth}")
    return depth


__all__ = [
    "HelpFormatter",
    "add_deprecated_alias",
    "add_depth_argument",
    "add_epilog",
    "add_reranker_arguments",
    "cli_fields",
    "depth_from_args",
    "flag_of",
    "method_flags",
    "parse_json_option",
    "reranker_from_args",
    "spec_from_args",
]


def print_report(doc: Any, as_json: bool, as_text: Callable[[Any], str], wrote: str | None = None) -> int:
    """Print a command's result: one JSON document (``--json``, machine-readable) or the
    human-readable text; ``wrote`` names the files written, on stderr. Returns exit code 0."""
    print(json.dumps(doc, ensure_ascii=False, indent=2) if as_json else as_text(doc))
    if wrote:
        print(f"wrote {wrote}", file=sys.stderr)
    return 0
