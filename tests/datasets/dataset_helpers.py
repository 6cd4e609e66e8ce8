"""Helpers of the named-benchmark tests: local data in the exact formats ir_datasets and HF
datasets produce, built in the test (no network), and a CLI runner in a clean subprocess.

ir_datasets fixes its cache folder (``IR_DATASETS_HOME``) when it is imported, so tests that load
through it run ``python -m reasonrank`` in a subprocess with their own environment; a proxy on a
closed local port makes any download attempt fail at once, as it does offline.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CORPUS = ROOT / "examples" / "corpus"

# SciFact-like documents (BeirTitleDoc: doc_id, text, title), queries and qrels.
SCIFACT_DOCS = [
    ("d1", "Aspirin lowers the risk of a heart attack in adults.", "Aspirin and the heart"),
    ("d2", "Vitamin D supplements increase bone density.", "Vitamin D and bones"),
    ("d3", "Statins reduce LDL cholesterol.", ""),
    ("d4", "Regular exercise improves sleep quality.", "Exercise"),
]
SCIFACT_QUERIES = [("1", "does aspirin prevent heart attacks"), ("2", "vitamin d bone density"),
                   ("3", "a query without judgments")]
SCIFACT_QRELS = [("1", "d1", 1), ("2", "d2", 1)]


def seed_scifact(home: Path) -> None:
    """Put beir/scifact into an ir_datasets cache the way ir_datasets leaves it after a download:
    ``beir/scifact/queries.json`` and ``test.qrels`` (the zip's extracted files, which its
    ``Cache`` reuses) and the built ``docs.pklz4`` store (ir_datasets' own builder)."""
    code = f"""
import os, sys
os.environ["IR_DATASETS_HOME"] = {str(home)!r}
from ir_datasets.datasets.beir import BeirTitleDoc
from ir_datasets.indices import PickleLz4FullStore
docs = [BeirTitleDoc(*d) for d in {SCIFACT_DOCS!r}]
store = PickleLz4FullStore(path={str(home / "beir" / "scifact" / "docs.pklz4")!r}, init_iter_fn=lambda: iter(docs),
                           data_cls=BeirTitleDoc, lookup_field="doc_id", index_fields=["doc_id"])
store.build()
"""
    base = home / "beir" / "scifact"
    base.mkdir(parents=True, exist_ok=True)
    (base / "irds_version.txt").write_text("v2")  # no migration of the docs store
    (base / "queries.json").write_text(
        "".join(json.dumps({"_id": q, "text": t, "metadata": {}}) + "\n" for q, t in SCIFACT_QUERIES))
    (base / "test.qrels").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in SCIFACT_QRELS))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


BRIGHT_EXAMPLES = {
    "query": ["why do birds sing at dawn", "how do plants drink water"],
    "reasoning": ["", ""],
    "id": ["0", "1"],
    # BRIGHT's excluded_ids: documents the benchmark forbids in the ranking; "N/A" means none.
    "excluded_ids": [["biology/birds_dawn_copy.txt"], ["N/A"]],
    "gold_ids_long": [["biology/birds.txt"], ["biology/roots.txt"]],
    "gold_ids": [["biology/birds_dawn.txt"], ["biology/roots.txt"]],
}
BRIGHT_DOCUMENTS = {
    "id": ["biology/birds_dawn.txt", "biology/birds_dawn_copy.txt", "biology/roots.txt", "biology/cats.txt"],
    "content": [
        "Many birds sing at dawn because sound carries well in the cool morning air.",
        "Why do birds sing at dawn? Birds sing at dawn. Birds sing at dawn.",
        "Plants take up water through their roots by osmosis.",
        "Cats purr when they are content.",
    ],
}


def make_bright_copy(root: Path, task: str = "biology") -> Path:
    """A local copy of the xlangai/BRIGHT repo layout: ``<config>/<task>-00000-of-00001.parquet``."""
    import datasets

    for config, rows in (("examples", BRIGHT_EXAMPLES), ("documents", BRIGHT_DOCUMENTS)):
        (root / config).mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(rows).to_parquet(str(root / config / f"{task}-00000-of-00001.parquet"))
    return root


def offline_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment in which every download fails at once and every cache is empty."""
    env = dict(os.environ)
    env.update({
        "IR_DATASETS_HOME": str(tmp / "irds"), "IR_DATASETS_DL_TRIES": "1",
        "IR_DATASETS_DL_DISABLE_PBAR": "true",
        "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "", "no_proxy": "",
        "REASONRANK_CACHE": str(tmp / "rr-cache"),
    })
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m reasonrank ARGS`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "reasonrank", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=str(ROOT), check=False)


# The cheapest real reranker path: the scripted engine answers nothing, so listwise keeps the
# first-stage order (with a warning); these tests are about the data and the first stage.
IDENTITY_RERANKER = ["--engine", "scripted", "--method", "listwise", "--on-error", "keep_order", "--no-progress"]
