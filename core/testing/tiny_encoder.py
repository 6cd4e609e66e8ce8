"""Tiny random encoder models with all-MiniLM-L6-v2's real tokenizer, built locally.

No cross-encoder weights ship on a package registry, so the ``cross`` method's loading and
scoring code is tested on a tiny randomly initialised BERT sequence classifier saved the way
sentence-transformers ``CrossEncoder`` folders are; the ``dense`` method's prompt handling on a
tiny sentence-transformers bi-encoder with e5-style ``query: ``/``passage: `` prompts. The
tokenizer is the bundled MiniLM's (WordPiece, 30,522 tokens); the weights are random (2 layers,
hidden 32). Built once into ``$REASONRANK_CACHE/test-models`` and reused.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reasonrank.engines.bundled_encoder import FILE_SHA256, bundled_encoder_path
from reasonrank.engines.resources import cache_dir
from reasonrank.files import atomic_path
from reasonrank.testing.tiny_model import save_model

TINY_BERT: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "max_position_embeddings": 512,
}
#: The prompts of the tiny bi-encoder (as e5 models declare them).
TINY_PROMPTS = {"query": "query: ", "document": "passage: "}


def _target(name: str, seed: int) -> Path:
    return cache_dir() / "test-models" / f"tiny-{name}-s{seed}-{FILE_SHA256['model.safetensors'][:12]}"


def tiny_cross_encoder_dir(seed: int = 0, num_labels: int = 1) -> Path:
    """A CrossEncoder-format folder: ``BertForSequenceClassification`` (``num_labels`` logits)."""
    target = _target(f"cross{num_labels}", seed)
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(bundled_encoder_path())
    # num_labels goes through BertConfig's **kwargs (its typed signature does not list it).
    config = BertConfig(vocab_size=tok.vocab_size, num_labels=num_labels, **TINY_BERT)  # type: ignore[call-arg]
    torch.manual_seed(seed)
    return save_model(BertForSequenceClassification(config), tok, target)


def tiny_bi_encoder_dir(seed: int = 0) -> Path:
    """A sentence-transformers folder (BERT, mean pooling, normalised) with :data:`TINY_PROMPTS`."""
    target = _target("bi", seed)
    if (target / "modules.json").is_file():
        return target
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(bundled_encoder_path())
    torch.manual_seed(seed)
    plain = save_model(BertModel(BertConfig(vocab_size=tok.vocab_size, **TINY_BERT)), tok, _target("bert", seed))
    body = Transformer(str(plain), max_seq_length=64)
    model = SentenceTransformer(modules=[body, Pooling(body.get_embedding_dimension(), "mean"), Normalize()],
                                prompts=TINY_PROMPTS, device="cpu")
    with atomic_path(target, directory=True, overwrite=False) as tmp:
        model.save(str(tmp))
    return target


def plain_encoder_dir(seed: int = 0) -> Path:
    """A plain Hugging Face BERT folder (no ``modules.json``): loads as a bi-encoder with mean pooling."""
    tiny_bi_encoder_dir(seed)
    return _target("bert", seed)


def modules_of(folder: Path) -> list[str]:
    """The module types a sentence-transformers folder lists (for tests)."""
    return [m["type"] for m in json.loads((folder / "modules.json").read_text())]


__all__ = ["TINY_PROMPTS", "modules_of", "plain_encoder_dir", "tiny_bi_encoder_dir", "tiny_cross_encoder_dir"]
