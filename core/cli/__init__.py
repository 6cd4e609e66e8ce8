"""The ``reasonrank`` command. Each subcommand lives in its own module with a ``register``
function; exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 engine failure.

Public for subcommands defined elsewhere (``reasonrank.training.cli``): the reranker options
generated from :class:`~reasonrank.spec.RerankerSpec` (:func:`add_reranker_arguments`), the spec
they describe (:func:`spec_from_args`) and :func:`parse_json_option`."""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from reasonrank import __version__
from reasonrank.cli.common import add_reranker_arguments, parse_json_option, spec_from_args
from reasonrank.errors import EngineError, ReasonRankError

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENGINE", "EXIT_FAILURE", "EXIT_OK", "add_reranker_arguments", "build_parser",
           "main", "parse_json_option", "spec_from_args"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_ENGINE = 0, 1, 2, 3

# Subcommand modules, in --help order. A module that is not installed (e.g. training without
# its extra) still registers: its import of heavy packages happens inside its handler.
SUBCOMMANDS = (
    "reasonrank.cli.rerank",
    "reasonrank.cli.eval",
    "reasonrank.cli.bench",
    "reasonrank.cli.rerank_dataset",
    "reasonrank.cli.serve",
    "reasonrank.cli.presets",
    "reasonrank.cli.cache",
    "reasonrank.training.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from reasonrank.cli import catalog
    from reasonrank.cli.common import add_epilog

    parser = argparse.ArgumentParser(
        prog="reasonrank",
        description="Reasoning rerankers for retrieval-augmented generation: the methods below on "
        "vLLM, transformers, llama.cpp, any OpenAI-compatible server, or the embedded CPU model. "
        "Every command has --help.",
    )
    add_epilog(parser, f"{catalog.reranker_epilog()}\n\n{catalog.api_shapes_text()}")
    parser.add_argument("--version", action="version", version=f"reasonrank {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that subcommand is not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("reasonrank: interrupted", file=sys.stderr)
        return 130
    except EngineError as exc:
        print(f"reasonrank: engine error: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    except (ReasonRankError, ValueError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"reasonrank: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
