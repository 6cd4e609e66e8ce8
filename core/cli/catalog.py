"""What the registries hold, as help text: the one generator of the lists of methods, engines
and rerank API shapes that ``reasonrank --help`` and each command's help print, so a help text
cannot lag the code again.

Names come from the registries themselves (:data:`reasonrank.methods.METHODS` and the composite
methods, :data:`reasonrank.engines.ENGINES`, :data:`reasonrank.serve.apis.API_SHAPES`); each
one-line summary is the first sentence of the registered class's docstring, and an API shape's
paths its ``paths`` attribute. Both are read from the source with :mod:`ast`, not imported, so
``--help`` needs none of the heavy backends (vLLM, torch, FastAPI) a registered class imports.
"""
from __future__ import annotations

import ast
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One registered name: its ``module:Class`` target, a one-line summary, and (API shapes)
    the HTTP paths it answers."""

    name: str
    target: str
    summary: str
    paths: tuple[str, ...] = ()


def _module_file(module: str) -> Path | None:
    """The source file of ``module``, found without importing it or its parent packages (a
    parent such as ``reasonrank.serve`` imports an optional extra): from the longest prefix
    already imported, down the folders."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        loaded = sys.modules.get(".".join(parts[:i]))
        if loaded is None:
            continue
        if i == len(parts):
            origin = getattr(loaded, "__file__", None)
            return Path(origin) if origin and origin.endswith(".py") else None
        for folder in getattr(loaded, "__path__", []):
            path = Path(folder, *parts[i:])
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None
    return None


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def summary_of(docstring: str | None) -> str:
    """The first sentence of a docstring's first paragraph, on one line, RST markup dropped."""
    first = " ".join((docstring or "").split("\n\n")[0].split())
    first = re.sub(r":\w+:`~?([^`]+)`", r"\1", first).replace("``", "`")
    # A sentence ends at . ! ? before a space or the end, not inside "e.g." or "i.e.".
    sentence = re.match(r"(.+?(?<!\be\.g)(?<!\bi\.e)[.!?])(\s|$)", first)
    return (sentence.group(1) if sentence else first).rstrip(".")


def _class_info(target: str) -> tuple[str, tuple[str, ...]]:
    """(summary, paths) of the class ``module:Class`` from its source."""
    module, _, name = target.partition(":")
    path = _module_file(module)
    if path is None:
        return "", ()
    for node in _parsed(path).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            paths: tuple[str, ...] = ()
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "paths" for t in stmt.targets)):
                    paths = tuple(ast.literal_eval(stmt.value))
            return summary_of(ast.get_docstring(node)), paths
    return "", ()


def entries(registry: Mapping[str, str]) -> list[Entry]:
    """Every entry of a ``name -> "module:Class"`` registry, in registration order."""
    out = []
    for name, target in registry.items():
        summary, paths = _class_info(target)
        out.append(Entry(name, target, summary, paths))
    return out


def _literal_registry(module: str, name: str) -> dict[str, str]:
    """A registry dict read from its module's source (for a registry whose package needs an
    optional extra to import, such as ``reasonrank.serve``)."""
    path = _module_file(module)
    if path is None:
        return {}
    for node in _parsed(path).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            registry: dict[str, str] = ast.literal_eval(value)
            return registry
    return {}


def methods() -> list[Entry]:
    """Every method a spec or the CLI may name (the composite ones summarised by their module)."""
    from reasonrank.methods import METHODS, method_names

    out = entries(METHODS)
    for name in method_names():
        if name not in METHODS:
            path = _module_file(f"reasonrank.methods.{name}")
            doc = ast.get_docstring(_parsed(path)) if path else None
            out.append(Entry(name, f"reasonrank.methods.{name}", summary_of(doc)))
    return out


def engines() -> list[Entry]:
    """Every registered engine."""
    from reasonrank.engines import ENGINES

    return entries(ENGINES)


def api_shapes() -> list[Entry]:
    """Every rerank API shape ``reasonrank serve`` speaks, with its paths."""
    try:
        from reasonrank.serve.apis import API_SHAPES
    except ModuleNotFoundError:  # the serve extra is not installed: read the registry's source
        API_SHAPES = _literal_registry("reasonrank.serve.apis", "API_SHAPES")
    return entries(API_SHAPES)


def _section(title: str, rows: list[Entry], width: int = 100, paths: bool = False) -> str:
    pad = max((len(e.name) for e in rows), default=0) + 2
    lines = [f"{title}:"]
    for e in rows:
        text = e.summary + (f" [{', '.join(e.paths)}]" if paths and e.paths else "")
        wrapped = textwrap.wrap(text, width=width - pad - 2) or [""]
        lines.append(f"  {e.name:<{pad}}{wrapped[0]}")
        lines += [" " * (pad + 2) + more for more in wrapped[1:]]
    return "\n".join(lines)


def methods_text() -> str:
    """The ``methods:`` section of a help text (``--method``)."""
    return _section("methods (--method)", methods())


def engines_text() -> str:
    """The ``engines:`` section of a help text (``--engine``)."""
    return _section("engines (--engine)", engines())


def api_shapes_text() -> str:
    """The ``API shapes:`` section of ``reasonrank serve --help``: each shape and its paths."""
    return _section("rerank API shapes served", api_shapes(), paths=True)


def reranker_epilog() -> str:
    """What every command that builds a reranker appends to its help: methods and engines
    (presets: ``reasonrank presets``)."""
    presets = "presets (--preset): `reasonrank presets` lists them; a path to a TOML file works too"
    return f"{methods_text()}\n\n{engines_text()}\n\n{presets}"


__all__ = [
    "Entry",
    "api_shapes",
    "api_shapes_text",
    "engines",
    "engines_text",
    "entries",
    "methods",
    "methods_text",
    "reranker_epilog",
    "summary_of",
]
