"""Encoder models on ``sentence-transformers``: bi-encoders (``dense``) and cross-encoders (``cross``).

The field's library loads the model and honours its own configuration: the modules of a
sentence-transformers folder (pooling, normalisation, dense layers), its maximum length, its
query/passage prompts (e5's ``query: ``/``passage: ``, bge's query instruction, read through
``encode_query``/``encode_document``), its similarity function, and a cross-encoder's head. A
plain Hugging Face encoder folder (no ``modules.json``) loads as a bi-encoder with mean pooling,
as sentence-transformers does; a ``*ForSequenceClassification`` folder is a cross-encoder.

One :meth:`~SentenceTransformersEngine.encode_batch` call takes the requests of many queries (the
scheduler sends up to ``max_batch_size``); sentence-transformers sorts them by length and runs
``batch_size`` at a time, so the padding of a batch is small. Inputs longer than the model's
maximum are truncated by the tokenizer and reported (``Encoding.truncated``).
"""
from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    EncodeRequest,
    Encoding,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.engines.bundled_encoder import (
    BUNDLED_ENCODER,
    bundled_encoder_path,
    is_bundled_encoder,
)
from reasonrank.errors import EngineUnavailableError, InvalidInputError

KINDS = ("auto", "dense", "cross")
_WHAT = {
    "dense": "a bi-encoder (a sentence-transformers folder with pooling, or a plain encoder such as BERT; "
             "e.g. sentence-transformers/all-MiniLM-L6-v2, BAAI/bge-small-en-v1.5, intfloat/e5-base-v2)",
    "cross": "a cross-encoder (a sequence-classification model; e.g. cross-encoder/ms-marco-MiniLM-L-6-v2, "
             "BAAI/bge-reranker-v2-m3, mixedbread-ai/mxbai-rerank-base-v1)",
}


def detect_kind(folder: Path) -> str:
    """``"dense"`` or ``"cross"`` from a model folder's files; :class:`InvalidInputError` when the
    folder holds no encoder model (a causal LM, a GGUF, no config at all).

    sentence-transformers (v5+) names the model type in ``config_sentence_transformers.json``
    (``SentenceTransformer`` or ``CrossEncoder``; both save a ``modules.json``); older folders
    and plain Hugging Face ones say it through the architecture: a ``*ForSequenceClassification``
    head is a cross-encoder, a pooling module or a bare encoder a bi-encoder."""
    config_file = folder / "config.json"
    try:
        st_config = _read_json(folder / "config_sentence_transformers.json")
        model_type = str(st_config.get("model_type", ""))
        if model_type in ("SentenceTransformer", "CrossEncoder"):
            return "dense" if model_type == "SentenceTransformer" else "cross"
        modules = _read_json(folder / "modules.json", [])
        if any("Pooling" in str(m.get("type", "")) for m in modules):
            return "dense"
        if not config_file.is_file():
            raise InvalidInputError(f"{folder} is not a model folder (no config.json or modules.json); "
                                    f"expected {_WHAT['dense']} or {_WHAT['cross']}")
        config = _read_json(config_file)
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{folder}: unreadable model configuration ({exc})") from None
    architectures = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "cross"
    if any(a.endswith(("ForCausalLM", "ForConditionalGeneration")) for a in architectures):
        raise InvalidInputError(f"{folder} is a generative model ({', '.join(architectures)}), not an encoder; "
                                f"expected {_WHAT['dense']} or {_WHAT['cross']}")
    return "dense"


def _read_json(path: Path, missing: Any = None) -> Any:
    """A JSON file's content (``missing``, default ``{}``, when there is no such file)."""
    if not path.is_file():
        return {} if missing is None else missing
    return json.loads(path.read_text())


def encoder_kind_of(model: str | None) -> str | None:
    """``"dense"``/``"cross"`` when ``model`` is the bundled encoder or a local encoder folder;
    None for anything else (a hub id, an LLM, no model). Reads config files only."""
    if model is None:
        return None
    if is_bundled_encoder(model):
        return "dense"
    try:
        path = Path(model).expanduser()
        if not path.is_dir():
            return None
        return detect_kind(path)
    except (InvalidInputError, OSError, ValueError):
        return None


def _resolve_model(model: str | None) -> tuple[str, Path | None]:
    """(what to load, the local folder if there is one): the bundled model for None or its names,
    a local folder as it is (it must exist), anything else a hub id."""
    if model is None or is_bundled_encoder(model):
        return BUNDLED_ENCODER, bundled_encoder_path()
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InvalidInputError(f"model {model!r} is a file; an encoder model is a folder "
                                    "(config.json, weights, tokenizer)")
        return model, path
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise InvalidInputError(f"model folder {model!r} does not exist")
    return model, None


class SentenceTransformersEngine(Engine):
    """A bi-encoder or cross-encoder loaded with sentence-transformers (CPU or CUDA).

    Parameters
    ----------
    model:
        A local folder or a Hugging Face hub id; None or ``"embedded-minilm"``: the bundled
        all-MiniLM-L6-v2 (no hub needed; its hub ids resolve to it too).
    kind:
        ``"dense"`` (bi-encoder), ``"cross"`` (cross-encoder) or ``"auto"`` (from the folder's
        files). A folder of the other kind is one clear error before any query runs.
    device:
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: CUDA when available.
    batch_size:
        Inputs per forward pass (sentence-transformers' ``batch_size``).
    max_batch_size:
        Requests per engine call (the scheduler batches many queries' passages into one call).
    max_length:
        Truncate inputs to this many tokens (default: the model's own maximum).
    dtype:
        Load the weights in this torch dtype (``"bfloat16"``, ``"float16"``, ``"float32"``), or
        ``"auto"`` (the default): bfloat16 where the hardware computes it natively (a CUDA GPU
        that supports it; a CPU with AMX or AVX-512 BF16), else float32. On TREC DL19 with the
        bundled MiniLM, bfloat16 scored nDCG@10 0.6426 against float32's 0.6424 in half the time
        on 2 CPU cores (``benchmarks/quality/dense_speed.py``).
    quantize:
        ``"int8"``: dynamic int8 quantization of the linear layers (CPU only; faster, scores
        move slightly: measure on your data). None: the model's own precision.
    query_prompt, passage_prompt:
        Override the model's own prompts (e.g. ``"query: "``); default: the model's.
    trust_remote_code, model_kwargs:
        Passed to sentence-transformers.
    """

    name = "sentence-transformers"

    def __init__(
        self,
        model: str | None = None,
        *,
        kind: str = "auto",
        device: str | None = None,
        batch_size: int = 32,
        max_batch_size: int = 256,
        max_length: int | None = None,
        dtype: str = "auto",
        quantize: str | None = None,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {KINDS}, got {kind!r}")
        if quantize not in (None, "int8"):
            raise InvalidInputError(f"quantize must be 'int8' or None, got {quantize!r}")
        for label, value in (("batch_size", batch_size), ("max_batch_size", max_batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
        try:
            import torch
            from sentence_transformers import CrossEncoder, SentenceTransformer
        except ImportError as exc:
            raise EngineUnavailableError(
                f"the sentence-transformers engine needs the dense extra: pip install 'reasonrank[dense]' ({exc})"
            ) from None
        self._torch = torch
        self.model_name, folder = _resolve_model(model)
        found = detect_kind(folder) if folder is not None else None
        if kind == "auto":
            kind = found or "dense"
        elif found is not None and found != kind:
            raise InvalidInputError(f"{self.model_name} is {_WHAT[found].split(' (')[0]}, but {kind!r} needs "
                                    f"{_WHAT[kind]}")
        self.encoder_kind = kind
        self.model_path = str(folder) if folder is not None else None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if quantize and not self.device.startswith("cpu"):
            raise InvalidInputError("quantize='int8' is a CPU path; on a GPU use the model's own precision")
        self.quantize = quantize
        self.batch_size = batch_size
        self.max_batch_size = max_batch_size
        options: dict[str, Any] = {"device": self.device, "trust_remote_code": trust_remote_code}
        if dtype == "auto":
            dtype = "bfloat16" if not quantize and native_bf16(torch, self.device) else "float32"
        if quantize and dtype != "float32":
            raise InvalidInputError(f"quantize='int8' quantizes float32 weights; dtype {dtype!r} cannot be quantized")
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise InvalidInputError(f"unknown dtype {dtype!r}; e.g. 'auto', 'bfloat16', 'float16', 'float32'")
        self.dtype = dtype
        model_kwargs = {**(model_kwargs or {}), "dtype": getattr(torch, dtype)}
        if model_kwargs:
            options["model_kwargs"] = dict(model_kwargs)
        source = self.model_path or self.model_name
        try:
            self.model: Any = (SentenceTransformer if kind == "dense" else CrossEncoder)(source, **options)
            if max_length:
                self.model.max_seq_length = max_length
            self.max_length = int(self.model.max_seq_length or self.model.tokenizer.model_max_length)
            self.similarity = str(self.model.similarity_fn_name or "cosine") if kind == "dense" else "logit"
        except (InvalidInputError, EngineUnavailableError):
            raise
        except Exception as exc:
            where = "" if folder is not None else " (not a local folder: it must come from the Hugging Face hub)"
            raise EngineUnavailableError(
                f"could not load {self.model_name}{where} as {_WHAT[kind]}: {type(exc).__name__}: {exc}"
            ) from exc
        self.model.eval()
        if quantize:
            with warnings.catch_warnings():  # torch.ao's dynamic quantization warns of its deprecation
                warnings.simplefilter("ignore")
                self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.tokenizer = self.model.tokenizer
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.max_context = self.max_length
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    # -- the encoder ------------------------------------------------------------------------
    def encode_batch(self, requests: Sequence[EncodeRequest]) -> list[Encoding]:
        """Embed (``dense``) or score (``cross``) every request, in request order."""
        requests = list(requests)
        if not requests:
            return []
        start = time.perf_counter()
        with self._lock, self._torch.inference_mode():
            if self.encoder_kind == "cross":
                out = self._score(requests)
            else:
                slots: list[Encoding | None] = [None] * len(requests)
                for role in ("query", "passage"):
                    where = [i for i, r in enumerate(requests) if (r.role == "query") == (role == "query")]
                    if where:
                        for i, enc in zip(where, self._embed([requests[i].text for i in where], role)):
                            slots[i] = enc
                out = [e for e in slots if e is not None]
        share = (time.perf_counter() - start) / len(out)  # each input's share: a query's sum is its cost
        for enc in out:
            enc.seconds = share
        return out

    def _embed(self, texts: list[str], role: str) -> list[Encoding]:
        prompt = self.query_prompt if role == "query" else self.passage_prompt
        encode = self.model.encode_query if role == "query" else self.model.encode_document
        kwargs = {"prompt": prompt} if prompt is not None else {}
        vectors = encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False, **kwargs)
        used = prompt if prompt is not None else self._model_prompt(role)
        lengths = self._lengths([used + t for t in texts])
        return [Encoding(vector=v.tolist(), prompt_tokens=min(n, self.max_length), truncated=n > self.max_length)
                for v, n in zip(vectors, lengths)]

    def _model_prompt(self, role: str) -> str:
        prompts = getattr(self.model, "prompts", None) or {}
        names = ("query",) if role == "query" else ("document", "passage", "corpus")
        return next((prompts[n] for n in names if prompts.get(n)), "")

    def _score(self, requests: list[EncodeRequest]) -> list[Encoding]:
        pairs = [(r.text, r.pair if r.pair is not None else "") for r in requests]
        logits = self.model.predict(pairs, batch_size=self.batch_size, activation_fn=self._torch.nn.Identity(),
                                    convert_to_numpy=True, show_progress_bar=False)
        lengths = self._lengths([p[0] for p in pairs], [p[1] for p in pairs])
        return [Encoding(score=_relevance(row), prompt_tokens=min(n, self.max_length), truncated=n > self.max_length)
                for row, n in zip(logits, lengths)]

    def _lengths(self, texts: list[str], pairs: list[str] | None = None) -> list[int]:
        """Token counts with the model's special tokens, before truncation."""
        ids = self.tokenizer(texts, pairs, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    # -- tokens -----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return text if len(ids) <= max_tokens else str(self.tokenizer.decode(ids[:max_tokens]))

    # -- not a generative model -------------------------------------------------------------
    def _not_generative(self) -> EngineUnavailableError:
        return EngineUnavailableError(
            f"the sentence-transformers engine runs encoder models (methods dense and cross); "
            f"{self.model_name} cannot generate, score answer choices or render a chat prompt: "
            "use an LLM engine (embedded, transformers, vllm, openai) for the reasoning methods"
        )

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        raise self._not_generative()

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        raise self._not_generative()

    def render(self, request: ChatRequest) -> str:
        raise self._not_generative()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": self.model_name, "kind": self.encoder_kind,
                "max_length": self.max_length, "similarity": self.similarity, "device": self.device,
                "dtype": self.dtype, "quantize": self.quantize, "max_context": self.max_context}

    def close(self) -> None:
        self.__dict__.pop("model", None)


def native_bf16(torch: Any, device: str) -> bool:
    """Whether ``device`` computes bfloat16 natively (no slow emulation): a CUDA GPU that supports
    it, or a CPU whose oneDNN kernels do (AMX or AVX-512 BF16)."""
    try:
        if device.startswith("cuda"):
            return bool(torch.cuda.is_bf16_supported())
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _relevance(row: Any) -> float:
    """A cross-encoder's relevance score: its logit (one label), else the log-probability of the
    last label (the "relevant" class of two-label heads)."""
    values = [float(v) for v in (row if getattr(row, "ndim", 0) else [row])]
    if len(values) == 1:
        return values[0]
    top = max(values)
    return values[-1] - (top + math.log(sum(math.exp(v - top) for v in values)))


__all__ = ["KINDS", "SentenceTransformersEngine", "detect_kind", "encoder_kind_of"]
