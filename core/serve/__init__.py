"""The HTTP rerank service (``reasonrank serve``): the registered API shapes (Cohere, Jina/vLLM,
Voyage, TEI, Infinity, vLLM score; one rule per shared path, see :mod:`reasonrank.serve.apis`)
over one shared reranker. Needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client)."""
from __future__ import annotations

from reasonrank.serve.apis import API_SHAPES, ApiShape, RerankCall
from reasonrank.serve.app import create_app, share_engine
from reasonrank.serve.service import sharing_layer
from reasonrank.serve.settings import API_KEY_ENV, SERVE_KEYS_ENV, ServeSettings

__all__ = [
    "API_KEY_ENV",
    "API_SHAPES",
    "SERVE_KEYS_ENV",
    "ApiShape",
    "RerankCall",
    "ServeSettings",
    "create_app",
    "share_engine",
    "sharing_layer",
]
