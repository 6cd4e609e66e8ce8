"""The reply cache's key and stored form: a model's identity, a request's key, and a reply
encoded for the store (see :mod:`reasonrank.cache.replies` for what the key covers)."""
from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

from reasonrank.cache.fingerprint import file_fingerprint
from reasonrank.engines import base
from reasonrank.secret import MissingSecretError

log = logging.getLogger("reasonrank.cache")

#: A per-request namespace on top of the engine's (``serve`` sets one per API key).
cache_scope: contextvars.ContextVar[str] = contextvars.ContextVar("reasonrank_cache_scope", default="")
KEY_VERSION = 3  # bump when the key or the stored form changes: old entries become misses (3: Generation.forced)
_TYPES: dict[str, type] = {t.__name__: t for t in (base.Generation, base.ChoiceDistribution, base.AttentionReadout,
                                                    base.Encoding)}


def served_models(base_url: str, api_key: str = "", timeout: float = 5.0,
                  headers: dict[str, str] | None = None) -> str:
    """What ``GET {base_url}/models`` reports (ids and their roots/revisions), or ``"?"`` when
    the server does not say (not reachable, an error, no ``/models``: a warning is logged): the
    key then rests on the URL, the model name and the namespace. Called once per cache, when
    the reranker is built (never on an event loop; see :class:`CachedEngine`)."""
    req = urllib.request.Request(f"{base_url.rstrip('/')}/models")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            data = json.loads(reply.read())
        models = data.get("data", []) if isinstance(data, dict) else []
        keep = ("id", "root", "parent", "revision", "max_model_len", "owned_by")
        return json.dumps(sorted(json.dumps({k: m.get(k) for k in keep if k in m}, sort_keys=True)
                                 for m in models if isinstance(m, dict)))
    except Exception as exc:  # noqa: BLE001 - best effort: no /models is no reason to fail a rerank
        log.warning("reply cache: %s/models did not answer (%s); the cache key of this model rests on "
                    "its URL, name and namespace", base_url.rstrip("/"), type(exc).__name__)
        return "?"


def _local_model(model_name: str, base_url: Any) -> str | None:
    """``model_name`` when it is a local file or folder (transformers, vLLM: ``model=PATH``);
    a server's model name is the server's to describe (``served``), not a path here."""
    if base_url is not None or not model_name:
        return None
    try:
        return model_name if Path(model_name).expanduser().exists() else None
    except (OSError, ValueError):  # a name no file system accepts (too long, a NUL byte)
        return None


def model_identity(engine: base.Engine) -> dict[str, Any]:
    """Everything about ``engine`` (not the request) that can change its replies."""
    ident: dict[str, Any] = {"engine": engine.name, "model": engine.model_name, "describe": engine.describe()}
    for attr in ("revision", "chat_template_kwargs", "extra_body", "dtype", "quantization"):
        value = getattr(engine, attr, None)
        if value is not None:
            ident[attr] = value
    base_url = getattr(engine, "base_url", None)
    model_path = getattr(engine, "model_path", None) or _local_model(engine.model_name, base_url)
    if model_path:
        ident["file"] = file_fingerprint(model_path)
    if isinstance(base_url, str):
        ident["base_url"] = base_url
        ident["served"] = served_models(base_url, headers=_auth_headers(engine))
    return ident


def _auth_headers(engine: base.Engine) -> dict[str, str]:
    """The engine's credential headers for ``/models`` (none when its key's variable is unset:
    that is the first request's error to report, not the build's)."""
    headers = getattr(engine, "auth_headers", None)
    try:
        return dict(headers()) if callable(headers) else {}
    except MissingSecretError:
        return {}


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (dataclasses as dicts, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def request_key(identity: str, namespace: str, kind: str, request: Any, settings: Any) -> str:
    """The cache key of one request: a SHA-256 over its parts (see the module docstring)."""
    blob = json.dumps([KEY_VERSION, identity, namespace, kind, jsonable(request), jsonable(settings)],
                      sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


def encode(reply: Any) -> bytes:
    """A reply as stored (JSON with its type; ``-inf`` log-probabilities survive)."""
    fields = jsonable(reply)
    fields.pop("cached", None)
    return json.dumps({"type": type(reply).__name__, "fields": fields}).encode()


def decode(data: bytes) -> Any:
    """A stored reply, marked cached; raises ``ValueError``/``KeyError``/``TypeError`` on junk."""
    obj = json.loads(data)
    reply = _TYPES[obj["type"]](**obj["fields"])
    reply.cached = True
    reply.seconds = 0.0
    return reply


__all__ = ["KEY_VERSION", "cache_scope", "decode", "encode", "file_fingerprint", "jsonable", "model_identity", "request_key",
           "served_models"]
