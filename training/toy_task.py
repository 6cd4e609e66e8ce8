"""A toy ranking task that a tiny model learns in minutes on a CPU, and a rule-based teacher.

Why: the training chain (synthesize -> SFT -> GRPO) must be shown to *learn*, end to end, on a
machine without a GPU. Real relevance needs a real model; this task keeps the real pieces (the
ReasonRank listwise prompt, the dataset folder format, the teacher code path, the
self-consistency filter, the multi-view reward) and swaps only the *content* for one a 1M-parameter
model can learn.

The task
--------
Every query is two rare **key words** (``"zorvek talu"``-like made-up words). A window holds
``window_size`` short passages of common filler words; each passage also carries key words:

* one passage holds both query keys (relevance 2),
* zero to two passages hold one query key and one other key (relevance 1),
* the others hold ``irrelevant_keys`` *other* key words (relevance 0), so spotting "a rare word"
  is not enough to order the relevant passages: the model has to match the passage's key words
  against the query's.

With ``irrelevant_keys=1`` (the default) an irrelevant passage is one word shorter and holds one
rare word, a cue a tiny model picks up first; telling relevance 1 from 2 still needs the match.
With ``irrelevant_keys=2`` every passage has the same length and only the match tells them
apart: a 2-layer model then never got off the ground (230 SFT steps: loss flat at 0.16, every
``<think>`` count 0), so the cue stays as a foothold. Measured on held-out windows after SFT
(2-layer model, 10 epochs on 400 queries): windows of 6 passages reached format rate 0.42 (the
per-passage counts in ``<think>`` right for 26 of 60 windows), windows of 4 reached 0.98.

Graded qrels (0/1/2) go to ``qrels.txt``; the first-stage run lists the window in a random order
(the prompt order). Train and held-out splits come from one seed (different query ids and
different draws; the key-word vocabulary is shared, as a real task shares its language).

The teacher
-----------
:class:`ToyTeacher` is the ``generate_fn`` of a :class:`~reasonrank.engines.scripted.ScriptedEngine`,
so synthesis runs through exactly the code that calls a real teacher (``training.synthesize``):
it reads the ReasonRank prompt it is sent, counts each passage's query keys and writes
``<think>[1] 0 [2] 2 …</think>\\n<answer>[2] > [5] > …</answer>``. Like a real teacher it is
sometimes wrong: a seeded fraction of its outputs are reversed rankings or cut off before
``</answer>``, which the self-consistency filter (format + nDCG@10 > 0.4) must drop.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrank.engines.base import ChatRequest

FILLER_WORDS = (
    "the", "river", "stone", "light", "small", "green", "house", "old", "road", "tree", "water",
    "field", "cloud", "north", "warm", "quiet", "bright", "city", "long", "early", "paper",
    "story", "table", "window", "garden", "market", "winter", "summer", "morning", "bridge",
)


def key_words(count: int = 48) -> list[str]:
    """The task's rare words: fixed made-up consonant-vowel words (the same for every seed)."""
    rng = random.Random(12345)
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words: list[str] = []
    while len(words) < count:
        w = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(2)) + rng.choice("kxz")
        if w not in words:
            words.append(w)
    return words


@dataclass(frozen=True)
class ToyTaskConfig:
    """Sizes of the toy task (the defaults are what the benchmark and the test use)."""

    window_size: int = 6
    filler_per_passage: int = 2
    num_keys: int = 24
    irrelevant_keys: int = 1


def make_query(rng: random.Random, qid: str, config: ToyTaskConfig) -> dict[str, Any]:
    """One query: its text, its window of passages (prompt order) and graded relevance."""
    keys = key_words(config.num_keys)
    k1, k2 = rng.sample(keys, 2)
    others = [k for k in keys if k not in (k1, k2)]
    n_partial = rng.randint(0, min(2, config.window_size - 2))
    kinds = [2] + [1] * n_partial + [0] * (config.window_size - 1 - n_partial)
    rng.shuffle(kinds)
    passages = []
    for i, rel in enumerate(kinds):
        words = rng.sample(FILLER_WORDS, config.filler_per_passage)
        extra = {2: [k1, k2], 1: [rng.choice((k1, k2)), rng.choice(others)],
                 0: rng.sample(others, config.irrelevant_keys)}[rel]
        for w in extra:
            words.insert(rng.randint(0, len(words)), w)
        passages.append({"id": f"{qid}d{i}", "text": " ".join(words), "rel": rel})
    return {"qid": qid, "query": f"{k1} {k2}", "passages": passages}


def write_split(out_dir: str | Path, *, num_queries: int, seed: int, prefix: str,
                config: ToyTaskConfig = ToyTaskConfig()) -> Path:
    """Write one split as a reasonrank dataset folder (queries.tsv, qrels.txt, run.toy.trec,
    corpus.jsonl) that ``Dataset.load`` and ``train synthesize`` read."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    queries = [make_query(rng, f"{prefix}{n}", config) for n in range(num_queries)]
    with open(out / "queries.tsv", "w", encoding="utf-8") as fq, \
            open(out / "qrels.txt", "w", encoding="utf-8") as fr, \
            open(out / "run.toy.trec", "w", encoding="utf-8") as fs, \
            open(out / "corpus.jsonl", "w", encoding="utf-8") as fc:
        for q in queries:
            fq.write(f"{q['qid']}\t{q['query']}\n")
            for rank, p in enumerate(q["passages"], start=1):
                fr.write(f"{q['qid']} 0 {p['id']} {p['rel']}\n")
                fs.write(f"{q['qid']} Q0 {p['id']} {rank} {-rank} toy\n")
                fc.write(json.dumps({"_id": p["id"], "title": "", "text": p["text"]}) + "\n")
    return out


def write_toy_task(root: str | Path, *, train_queries: int = 400, heldout_queries: int = 60,
                   seed: int = 0, config: ToyTaskConfig = ToyTaskConfig()) -> dict[str, Path]:
    """Train and held-out dataset folders under ``root`` (``train/``, ``heldout/``), from ``seed``."""
    root = Path(root)
    return {
        "train": write_split(root / "train", num_queries=train_queries, seed=seed * 2 + 1,
                             prefix="t", config=config),
        "heldout": write_split(root / "heldout", num_queries=heldout_queries, seed=seed * 2 + 2,
                               prefix="h", config=config),
    }


def prompt_phrases(window_size: int, prompt: str = "reasonrank") -> list[str]:
    """The fixed instruction text of the listwise prompt for windows of ``window_size``: the
    system prompt and the pieces of the prefix/post around ``{query}`` (what every example
    shares; the toy tokenizer makes each one token)."""
    from reasonrank.prompts import load_prompt

    tpl = load_prompt(prompt)
    pieces = [tpl.get("system", "")]
    for key in ("prefix", "post"):
        text = tpl[key].replace("{num}", str(window_size))
        pieces.extend(p.strip() for p in text.split("{query}"))
    return [p for p in pieces if len(p) > 3]


# -- the rule-based teacher --------------------------------------------------------------------

_QUERY = re.compile(r"Search Query: (.*?)\.\n")
_PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def parse_listwise_prompt(request: ChatRequest) -> tuple[str, list[str]]:
    """The query and the passages (in label order) of a ReasonRank listwise prompt."""
    user = next(m["content"] for m in request.messages if m["role"] == "user")
    match = _QUERY.search(user)
    if not match:
        raise ValueError("not a ReasonRank listwise prompt (no 'Search Query:' line)")
    passages = [text for _, text in sorted((int(n), t) for n, t in _PASSAGE.findall(user))]
    return match.group(1).strip(), passages


def key_match_scores(query: str, passages: list[str]) -> list[int]:
    """How many of the query's words each passage contains (the task's graded relevance)."""
    keys = set(query.split())
    return [len(keys & set(p.split())) for p in passages]


def teacher_output(query: str, passages: list[str]) -> str:
    """The correct reasoning and answer: per-passage match counts, then labels by count
    (ties keep prompt order)."""
    scores = key_match_scores(query, passages)
    think = " ".join(f"[{i}] {s}" for i, s in enumerate(scores, start=1))
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    answer = " > ".join(f"[{i + 1}]" for i in order)
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


class ToyTeacher:
    """Rule-based teacher for :class:`ScriptedEngine`: right most of the time, seeded mistakes.

    ``reversed_rate`` of its outputs rank worst-first (the filter drops them on nDCG@10) and
    ``truncated_rate`` stop before ``</answer>`` (dropped on format). The choice is a hash of the
    prompt and ``seed``, so reruns and resumed runs see the same teacher.
    """

    def __init__(self, *, reversed_rate: float = 0.15, truncated_rate: float = 0.05, seed: int = 0) -> None:
        if reversed_rate < 0 or truncated_rate < 0 or reversed_rate + truncated_rate > 1:
            raise ValueError("reversed_rate and truncated_rate must be >= 0 and sum to at most 1")
        self.reversed_rate = reversed_rate
        self.truncated_rate = truncated_rate
        self.seed = seed

    def _draw(self, request: ChatRequest) -> float:
        text = json.dumps([request.messages, self.seed], sort_keys=True)
        return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    def __call__(self, request: ChatRequest) -> str:
        query, passages = parse_listwise_prompt(request)
        text = teacher_output(query, passages)
        u = self._draw(request)
        if u < self.reversed_rate:
            scores = key_match_scores(query, passages)
            worst_first = sorted(range(len(scores)), key=lambda i: (scores[i], -i))
            return text.split("<answer>")[0] + "<answer>" + " > ".join(f"[{i + 1}]" for i in worst_first) + "</answer>"
        if u < self.reversed_rate + self.truncated_rate:
            return text[: text.index("</answer>") - 4]
        return text


def toy_teacher_engine(**kwargs: Any):
    """A :class:`ScriptedEngine` answering with :class:`ToyTeacher` (``kwargs`` go to it)."""
    from reasonrank.engines.scripted import ScriptedEngine

    return ScriptedEngine(ToyTeacher(**kwargs), model_name="toy-teacher")
