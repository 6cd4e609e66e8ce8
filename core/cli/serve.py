"""``reasonrank serve``: the reranker behind every registered HTTP rerank API shape (Cohere, Jina,
Voyage, TEI, Infinity, vLLM score: :data:`reasonrank.serve.apis.API_SHAPES`; FastAPI + uvicorn).

One engine per process, built at start-up and shared by every request (see
:mod:`reasonrank.scheduling`). Needs the ``serve`` extra.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from reasonrank.cli import common
from reasonrank.errors import InvalidInputError
from reasonrank.registry import import_target


def register(sub: argparse._SubParsersAction) -> None:
    from reasonrank.cli import catalog

    shapes = catalog.api_shapes()
    parser = sub.add_parser(
        "serve",
        help=f"serve the reranker over HTTP ({len(shapes)} rerank API shapes: "
        f"{', '.join(s.name for s in shapes)})",
        description="Serve the reranker in every rerank API shape listed below, so those APIs' "
        "clients (their SDKs, and the rerankers of LlamaIndex, Haystack, LangChain, LiteLLM) work "
        "unchanged; where shapes share a path the answer is a superset each of them reads. Plus "
        "GET /health, GET /metrics (Prometheus), GET /v1/stats and GET /openapi.json. "
        "Requests share one engine: their windows are batched together.",
    )
    common.add_epilog(parser, catalog.api_shapes_text())
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    common.add_reranker_arguments(parser)
    parser.add_argument("--engine-factory", default=None, metavar="MODULE:CALLABLE",
                        help="build the engine by calling a Python factory (a custom Engine) "
                        "instead of --engine/--model")
    edge = parser.add_argument_group("limits and auth")
    edge.add_argument("--api-key", action="append", default=None,
                      help="require 'Authorization: Bearer KEY'; repeat for several keys (default: env "
                      "REASONRANK_SERVE_API_KEYS, comma-separated; none = open). REASONRANK_API_KEY is "
                      "the upstream engine's key only")
    edge.add_argument("--api-key-file", default=None, metavar="PATH",
                      help="more keys, one per line ('#' comments), read again whenever the file "
                      "changes: rotate keys without a restart")
    edge.add_argument("--max-in-flight", type=int, default=16, help="reranks running at once (16)")
    edge.add_argument("--queue-limit", type=int, default=64,
                      help="requests waiting beyond --max-in-flight before 429 (64)")
    edge.add_argument("--max-documents", type=int, default=1000, help="documents per request (1000)")
    edge.add_argument("--max-document-bytes", type=int, default=32768, help="bytes per document (32768)")
    edge.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="bytes per request body (4 MiB)")
    edge.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request (600)")
    edge.add_argument("--cache-shared", action="store_true",
                      help="share the reply cache between API keys (default: one namespace per key)")
    edge.add_argument("--shutdown-timeout", type=float, default=60.0,
                      help="seconds to finish in-flight requests on SIGTERM/SIGINT (60)")
    common.add_depth_argument(edge, default=None,
                              help="rerank only the first K documents of each request; the rest follow in input order")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=run)


def load_factory(spec: str) -> Any:
    """The engine built by ``module:callable``."""
    from reasonrank.engines.base import Engine

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(f"--engine-factory must be MODULE:CALLABLE, got {spec!r}")
    try:
        factory = import_target(spec)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(f"--engine-factory {spec}: {exc}") from None
    engine = factory()
    if not isinstance(engine, Engine):
        raise InvalidInputError(f"--engine-factory {spec} returned {type(engine).__name__}, not an Engine")
    return engine


def build_settings(args: argparse.Namespace, model_name: str) -> Any:
    from reasonrank.serve.settings import ServeSettings, check_key_sources

    check_key_sources(args.api_key, args.api_key_file)
    return ServeSettings(
        api_keys=ServeSettings.api_keys_from(args.api_key),
        api_key_file=args.api_key_file,
        max_documents=args.max_documents,
        max_document_bytes=args.max_document_bytes,
        max_body_bytes=args.max_body_bytes,
        max_in_flight=args.max_in_flight,
        queue_limit=args.queue_limit,
        request_timeout=args.request_timeout,
        model_name=model_name,
        cache_shared=bool(getattr(args, "cache_shared", False)),
    )


def serve_spec(args: argparse.Namespace) -> Any:
    """The spec to serve: the shared reranker options, ``--depth``, and the engine of
    ``--engine-factory`` when given (then --engine/--model/--base-url are not used)."""
    overrides: dict[str, Any] = {"depth": common.depth_from_args(args)}
    if args.engine_factory:
        overrides.update(engine=load_factory(args.engine_factory), model=None, base_url=None)
    return common.spec_from_args(args, **overrides)


def model_name_of(spec: Any) -> str:
    """The model the service reports (an engine object's own name, else the spec's or preset's)."""
    from reasonrank.engines.base import Engine

    if isinstance(spec.engine, Engine):
        return spec.engine.model_name
    return spec.model or spec.resolved_preset().model or "reasonrank"


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from reasonrank.serve.app import create_app
    except ModuleNotFoundError as exc:
        raise InvalidInputError(f"reasonrank serve needs the serve extra: pip install 'reasonrank[serve]' "
                                f"({exc.name} is missing)") from None
    if not 1 <= args.port <= 65535:
        raise InvalidInputError(f"--port must be 1-65535, got {args.port}")
    spec = serve_spec(args)
    settings = build_settings(args, model_name_of(spec))
    _configure_logging(args.log_level)
    app = create_app(spec, settings)
    reranker = app.state.reranker
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=args.shutdown_timeout, access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()  # SIGINT/SIGTERM: stop accepting, finish in-flight requests, close the engine
    finally:
        reranker.engine.close()  # idempotent; closes the engine if the app never started
    return 0 if server.started else 1


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("reasonrank.serve")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
