"""The student: a sentence-transformers bi-encoder (``dense``) or cross-encoder (``cross``).

``dense`` loads the model as sentence-transformers does (its own modules, prompts and
similarity; a plain Hugging Face encoder gets mean pooling), default the bundled
all-MiniLM-L6-v2. ``cross`` loads a ``CrossEncoder`` with one output (``num_labels=1``): a
cross-encoder folder keeps its head; an encoder folder (a bi-encoder, a plain BERT) gets a new
relevance head, initialised from the seed. Scores are computed in torch with gradients, on the
same inputs the ``dense``/``cross`` methods send (the model's query/passage prompts, the pair for
a cross-encoder), and :meth:`Student.save` writes sentence-transformers' own format, which
those methods load unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError

KINDS = ("dense", "cross")
#: The scale of a cosine student's scores in the losses (sentence-transformers'
#: MultipleNegativesRankingLoss default): cosines live in [-1, 1], logits need a wider range.
COSINE_SCALE = 20.0


def resolve_student(model: str | None) -> tuple[str, str]:
    """(what to load, its kind from the folder's files or ``"hub"``): the bundled MiniLM for
    None or its names; a local folder must hold an encoder."""
    from reasonrank.engines.bundled_encoder import bundled_encoder_path, is_bundled_encoder
    from reasonrank.engines.encoders import detect_kind

    if model is None or is_bundled_encoder(model):
        return str(bundled_encoder_path()), "dense"
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InvalidInputError(f"student {model!r} is a file; a student model is an encoder folder")
        return str(path), detect_kind(path)  # raises for a causal LM, a GGUF, a folder with no model
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise InvalidInputError(f"student folder {model!r} does not exist")
    return model, "hub"


def check_student(model: str | None, kind: str) -> tuple[str, str]:
    """:func:`resolve_student`, and a cross-encoder refused as a dense student (it has no
    pooling to embed with): one clear error before anything runs."""
    source, found = resolve_student(model)
    if kind == "dense" and found == "cross":
        raise InvalidInputError(f"student {model} is a cross-encoder; train it with kind 'cross'")
    return source, found


class Student:
    """A trainable encoder and the scores the ``dense``/``cross`` methods would give."""

    def __init__(self, model: str | None, kind: str, *, seed: int = 0, max_length: int | None = 256,
                 train_embeddings: bool = False, device: str = "cpu") -> None:
        if kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {KINDS}, got {kind!r}")
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer

        self.source, found = check_student(model, kind)
        self.kind = kind
        #: Whether the relevance head is new (a cross student from an encoder): it is fitted on
        #: the frozen encoder's features before fine-tuning (:mod:`.head`).
        self.new_head = kind == "cross" and found != "cross"
        self.device = device
        self._torch = torch
        torch.manual_seed(seed)  # a new relevance head starts from the seed
        try:
            if kind == "dense":
                self.model: Any = SentenceTransformer(self.source, device=device)
            else:
                self.model = CrossEncoder(self.source, num_labels=1, device=device)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"student {model or 'embedded-minilm'} is not an encoder model: {exc}") from None
        if max_length:
            self.model.max_seq_length = min(max_length, int(self.model.max_seq_length or max_length))
        self.max_length = int(self.model.max_seq_length or 512)
        self.similarity = str(self.model.similarity_fn_name or "cosine") if kind == "dense" else "logit"
        self.scale = COSINE_SCALE if self.similarity == "cosine" else 1.0
        if not train_embeddings:
            # The token embeddings are half of MiniLM's weights; frozen, AdamW updates the other
            # half only (faster on CPU) and a few hundred queries cannot shift the vocabulary.
            self._embeddings().weight.requires_grad_(False)

    def _hf_model(self) -> Any:
        return self.model.model if self.kind == "cross" else self.model[0].auto_model

    def _embeddings(self) -> Any:
        return self._hf_model().get_input_embeddings()

    def parameters(self) -> list[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def head_module(self) -> Any:
        """A cross student's relevance head (the sequence classifier's ``classifier`` or
        ``score`` module); None for a dense student."""
        if self.kind != "cross":
            return None
        hf = self._hf_model()
        return getattr(hf, "classifier", None) or getattr(hf, "score", None)

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def _prompt(self, role: str) -> str:
        prompts = getattr(self.model, "prompts", None) or {}
        names = ("query",) if role == "query" else ("document", "passage", "corpus")
        return next((prompts[n] for n in names if prompts.get(n)), "")

    def embed(self, texts: list[str], role: str) -> Any:
        """Embeddings (with gradients) of ``texts`` as the model's query or passage."""
        prompt = self._prompt(role)
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        features = prepare([prompt + t for t in texts])
        return self.model({k: v.to(self.device) if hasattr(v, "to") else v for k, v in features.items()})[
            "sentence_embedding"]

    def dense_scores(self, queries: list[str], passages: list[str]) -> Any:
        """The (queries x passages) score matrix, scaled for the losses."""
        q = self.embed(queries, "query")
        p = self.embed(passages, "passage")
        return self.model.similarity(q, p) * self.scale

    def cross_scores(self, queries: list[str], passages: list[str]) -> Any:
        """One relevance logit per (query, passage) pair."""
        features = self.model.tokenizer(queries, passages, padding=True, truncation="longest_first",
                                        max_length=self.max_length, return_tensors="pt").to(self.device)
        return self._hf_model()(**features).logits.view(-1)

    def save(self, folder: Path) -> None:
        """Write the model in sentence-transformers' format (what ``--model DIR`` loads)."""
        self.model.save(str(folder))

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state)


__all__ = ["COSINE_SCALE", "KINDS", "Student", "check_student", "resolve_student"]
