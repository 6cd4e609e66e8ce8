"""Options shared by every subcommand that builds a reranker."""
from __future__ import annotations

import argparse
import json
from typing import Any

from reasonrank.engines import ENGINES
from reasonrank.methods import METHODS


def parse_json_option(text: str | None, flag: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object")
    return value


def add_reranker_arguments(parser: argparse.ArgumentParser) -> None:
    """--method, --preset, --engine, --model, --base-url, --on-error and option overrides."""
    group = parser.add_argument_group("reranker")
    group.add_argument("--method", choices=sorted(METHODS), default=None,
                       help="reranking method (default: listwise, or the preset's method)")
    group.add_argument("--preset", default=None,
                       help="named preset (see `reasonrank presets`) or a preset TOML file")
    group.add_argument("--engine", choices=sorted(ENGINES), default=None,
                       help="engine backend (default: the preset's; embedded CPU model otherwise)")
    group.add_argument("--model", default=None, help="model id or local path for the engine")
    group.add_argument("--base-url", default=None,
                       help="OpenAI-compatible server URL (with --engine openai)")
    group.add_argument("--on-error", choices=["raise", "keep_order"], default="raise",
                       help="on an engine failure (server down, timeout, HTTP error): raise (exit 3), "
                       "or keep the input order with a warning")
    group.add_argument("--strict", action="store_true",
                       help="fail on a model output with no usable answer (default: keep that window's "
                       "input order or give the fallback score, with a warning, counted in usage.fallbacks)")
    group.add_argument("--method-options", default=None, metavar="JSON",
                       help='extra method settings as JSON, e.g. \'{"window_size": 10}\'')
    group.add_argument("--engine-options", default=None, metavar="JSON",
                       help='extra engine settings as JSON, e.g. \'{"n_ctx": 8192}\'')


def reranker_from_args(args: argparse.Namespace, **method_overrides: Any):
    """Build the reranker the shared options describe."""
    from reasonrank.factory import build_reranker

    options = parse_json_option(args.method_options, "--method-options")
    if getattr(args, "strict", False):
        options["on_parse_error"] = "raise"
    options.update(method_overrides)
    return build_reranker(
        method=args.method,
        preset=args.preset,
        engine=args.engine,
        model=args.model,
        base_url=args.base_url,
        engine_options=parse_json_option(args.engine_options, "--engine-options"),
        on_error=args.on_error,
        **options,
    )
