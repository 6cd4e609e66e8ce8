"""The HTTP rerank service (``reasonrank serve``): a Cohere-v2-compatible ``/v2/rerank`` over one
shared reranker. Needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client)."""
from __future__ import annotations

from reasonrank.serve.app import create_app, share_engine
from reasonrank.serve.settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "ServeSettings", "create_app", "share_engine"]
