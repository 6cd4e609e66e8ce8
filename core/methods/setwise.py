"""Setwise reasoning reranking (Rank-R1, arXiv 2503.06034).

The model sees the query and a small set of passages labelled ``[1]..[m]``, reasons inside
``<think>`` and answers ``<answer>[i]</answer>`` with the most relevant one. A full top-k order
comes from a heap sort over the first-stage list as in ielab/llm-rankers ``setwise.py``
(``heapsort``) and ``Rank-R1/README.md`` (prompt texts, in ``reasonrank/prompts/setwise.toml``):
a max-heap where each node has ``set_size - 1`` children, built bottom-up
(``for i in range(n // num_child, -1, -1): heapify``); each heapify asks the model to pick the
best of a parent and its children. The root is then taken ``top_k`` times. Defaults follow the
Rank-R1 README TREC DL runs: ``--passage_length 512 --query_length 32 setwise --num_child 19
--method heapsort --k 10`` (sets of 20, top 10) and ``max_new_tokens=2048``.

The top-k come first in the model's order; the remaining candidates follow in first-stage
order (the official code leaves them in heap order, which carries no meaning).

Each query is one job for :mod:`reasonrank.scheduling`: comparisons inside a query depend
on each other, but the ready comparisons of all queries are batched together (sync engines) or
kept in flight concurrently (async engines). While the heap is built, the families of one heap
level are independent (disjoint subtrees) and are asked at once (a ``Fork``: at top-100 with sets
of 20, the five level-1 families together), with the result of the official one-by-one order;
the top-k extraction that follows is inherently sequential (each step sifts the new root).
"""
from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

from reasonrank.engines.base import ChatRequest, Engine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.base import Prepared, assemble_result, check_positive, engine_call
from reasonrank.methods.generating import GeneratingReranker, SamplingOptions
from reasonrank.methods.passages import cut_passage
from reasonrank.options import option
from reasonrank.parsing import split_sections
from reasonrank.prompts import load_prompt
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat
from reasonrank.scheduling import Fork, Generate
from reasonrank.scheduling.forcing import ForceAnswer
from reasonrank.types import Candidate, Query, Trace

SetJob = Generator[Generate | Fork, Any, Any]

_TEMPLATE_KEYS = ("system", "prefix", "passage", "post")
_LABEL = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"\b(\d+)\b")


def _build_levels(n: int, nc: int) -> list[list[int]]:
    """The official build order (``for i in range(n // nc, -1, -1): heapify``, ielab/llm-rankers
    ``setwise.py``) grouped by depth in the ``nc``-ary heap, deepest first: within a level the
    nodes keep that order, and every node comes after all of its descendants, as there."""
    def depth(i: int) -> int:
        d = 0
        while i:
            i, d = (i - 1) // nc, d + 1
        return d

    levels: dict[int, list[int]] = {}
    for i in range(n // nc, -1, -1):
        if nc * i + 1 < n:  # a node without children needs no question
            levels.setdefault(depth(i), []).append(i)
    return [levels[d] for d in sorted(levels, reverse=True)]


class _Abort(Exception):
    """An engine failure under ``on_error="keep_order"``: the query keeps its input order."""


def parse_choice(text: str, m: int, fmt: ReasoningFormat = DEFAULT_FORMAT) -> tuple[int | None, str, str, list[str]]:
    """The chosen 0-based index among ``m`` passages, the reasoning, the answer and warnings.

    ``[i]`` inside ``<answer>`` is preferred; then a bare number there; then the last ``[i]``
    in the whole output. ``None`` when no valid label is found. ``fmt``: the output's format.
    """
    sections = split_sections(text, fmt=fmt)
    warnings = [w.replace("ids taken", "label taken") for w in sections.warnings]
    answer = sections.answer
    for pattern, region, note in ((_LABEL, answer, None), (_BARE, answer, "label without brackets"),
                                  (_LABEL, text, "label taken from outside the answer")):
        hits = [int(h) for h in pattern.findall(region)]
        valid = [h for h in hits if 1 <= h <= m]
        if valid:
            pick = valid[0] if region is answer else valid[-1]
            if note:
                warnings.append(note)
            if len(set(valid)) > 1:
                warnings.append(f"several labels {sorted(set(valid))}; took [{pick}]")
            return pick - 1, sections.reasoning, answer, warnings
        if hits and region is answer and pattern is _LABEL:
            warnings.append(f"label(s) {hits[:3]} outside 1-{m}")
    return None, sections.reasoning, answer, warnings


@dataclass(frozen=True)
class SetwiseOptions:
    """Rank-R1 setwise's options."""

    set_size: int = option(20, "passages per question (Rank-R1's num_child 19 plus the parent)", metavar="N")
    # No flag: --top-k is the deprecated spelling of --depth on the command line.
    top_k: int = option(10, "candidates put in order; the rest follow in first-stage order", cli=False)
    depth: int | None = option(100, "first-stage candidates considered", cli=False)
    max_passage_tokens: int = option(512, "passage cut, in tokens of the engine's tokenizer", metavar="N")
    max_query_tokens: int | None = option(None, "query cut (None: no cut; the official runs use 32)", metavar="N")
    reasoning_budget: int = option(2048, "max_tokens of each generation", metavar="N")
    prompt: str | Mapping[str, str] = option("setwise", "template name or TOML path")


class SetwiseReranker(GeneratingReranker):
    """Rank-R1 setwise reranker (heap sort of "pick the best of this set" questions).

    Parameters (beyond :class:`~reasonrank.methods.base.Reranker`'s)
    ----------------------------------------------------------------
    set_size:
        Passages per question (20 = Rank-R1's ``num_child`` 19 plus the parent); at least 2.
    top_k:
        Candidates put in order (10); the rest follow in first-stage order.
    depth:
        First-stage candidates considered (100).
    max_passage_tokens:
        Passage cut, in tokens of the engine's tokenizer (512).
    max_query_tokens:
        Query cut (``None``: no cut; the official runs use 32).
    reasoning_budget:
        ``max_tokens`` of each generation (2048).
    force_answer:
        A thought cut by the budget is closed and the answer asked for (default on; the
        official Rank-R1 presets turn it off).
    temperature, top_p, seed:
        Sampling (default greedy).
    prompt:
        Template name (``"setwise"``), a TOML path, or a dict with ``system, prefix, passage, post``.
    schedule, max_batch_size, max_concurrency, on_error, on_parse_error, show_progress:
        See :class:`~reasonrank.methods.base.Reranker`.
    """

    method = "setwise"
    result_fields = ("template", "set_size", "top_k", "max_query_tokens")
    Options: ClassVar[type] = SetwiseOptions
    answer_forcing = ForceAnswer(answer_tokens=32)  # forced answers, on: "[3]</answer>" needs a few tokens

    def __init__(
        self,
        engine: Engine,
        *,
        set_size: int = 20,
        top_k: int = 10,
        depth: int | None = 100,
        max_passage_tokens: int = 512,
        max_query_tokens: int | None = None,
        reasoning_budget: int = 2048,
        prompt: str | Mapping[str, str] = "setwise",
        **options: Unpack[SamplingOptions],
    ) -> None:
        for name, value in (("set_size", set_size), ("top_k", top_k), ("max_passage_tokens", max_passage_tokens),
                            ("max_query_tokens", max_query_tokens), ("reasoning_budget", reasoning_budget)):
            check_positive(name, value)
        super().__init__(engine, max_tokens=reasoning_budget, depth=depth, **options)
        if set_size < 2:
            raise InvalidInputError(f"set_size must be at least 2, got {set_size}")
        data = load_prompt(prompt, required=_TEMPLATE_KEYS[1:])  # the system message is optional
        self.template = {k: str(data.get(k, "")) for k in _TEMPLATE_KEYS}
        self._use_format(data["format"])
        self.set_size = set_size
        self.top_k = top_k
        self.max_passage_tokens = max_passage_tokens
        self.max_query_tokens = max_query_tokens

    # -- prompt ----------------------------------------------------------------------------
    def set_request(self, query: Query, passages: list[Candidate]) -> ChatRequest:
        """The question for one set: which of these passages is most relevant?"""
        tpl = self.template
        text = query.text.strip()
        if self.max_query_tokens:
            text = cut_passage(self.engine, text, self.max_query_tokens)
        lines = [tpl["prefix"].format(query=text)]
        for label, cand in enumerate(passages, start=1):
            content = cut_passage(self.engine, cand.content().strip(), self.max_passage_tokens)
            lines.append(tpl["passage"].format(label=label, content=content))
        lines.append(tpl["post"])
        messages = [{"role": "user", "content": "\n".join(lines)}]
        if tpl["system"]:
            messages.insert(0, {"role": "system", "content": tpl["system"]})
        return ChatRequest.of(messages)

    # -- one query as a scheduler job ------------------------------------------------------
    def _job(self, query: Query, cands: list[Candidate]) -> SetJob:
        try:
            return (yield from self._heapsort(query, cands))
        except _Abort as exc:
            return self.keep_order_result(query, cands, str(exc), engine_fallbacks=1)

    def _heapsort(self, query: Query, cands: list[Candidate]) -> SetJob:
        n = len(cands)
        k = min(self.top_k, n)
        nc = self.set_size - 1
        arr = list(range(n))
        traces: list[Trace] = []
        warnings: list[str] = []

        def heapify(size: int, i: int) -> SetJob:
            return (yield from self._heapify_job(query, cands, arr, nc, size, i, traces, warnings))

        for level in _build_levels(n, nc):
            if len(level) == 1:
                yield from heapify(n, level[0])
                continue
            # Nodes of one level head disjoint subtrees whose lower levels are already heaps, so
            # their heapify calls are independent: sent at once (a Fork), the result is the one
            # of the official one-by-one order. Each keeps its own traces, merged in that order.
            logs: list[tuple[list[Trace], list[str]]] = [([], []) for _ in level]
            yield Fork(tuple(self._heapify_job(query, cands, arr, nc, n, i, *log) for i, log in zip(level, logs)))
            for sub_traces, sub_warnings in logs:
                traces.extend(sub_traces)
                warnings.extend(sub_warnings)
        ranked: list[int] = []
        for step in range(k):
            ranked.append(arr[0])
            size = n - 1 - step
            arr[0], arr[size] = arr[size], arr[0]
            if step < k - 1:
                yield from heapify(size, 0)
        rest = sorted(set(range(n)) - set(ranked))
        return assemble_result(query, cands, ranked + rest, self.method, traces=traces,
                               warnings=warnings, model=self.engine.model_name)

    def _heapify_job(self, query: Query, cands: list[Candidate], arr: list[int], nc: int, size: int, i: int,
                     traces: list[Trace], warnings: list[str]) -> SetJob:
        """Sift node ``i`` of the heap ``arr`` (of ``size``) down, one question per family."""
        while nc * i + 1 < size:  # node i has children: ask for the best of the family
            family = [i, *range(nc * i + 1, min(nc * i + 1 + nc, size))]
            # On an unusable answer the set keeps its input order: the first-stage best wins.
            first = min(range(len(family)), key=lambda k: arr[family[k]])
            best = yield from self._choose(query, [cands[arr[j]] for j in family], traces, warnings, first)
            top = family[best]
            if top == i:
                return
            arr[i], arr[top] = arr[top], arr[i]
            i = top

    def _choose(self, query: Query, passages: list[Candidate], traces: list[Trace],
                warnings: list[str], fallback: int = 0) -> SetJob:
        """Ask for the best of ``passages``; 0-based index. An unusable answer picks
        ``fallback`` (the set's first passage in first-stage order), with a warning: a query
        whose every answer is unusable keeps its input order."""
        ids = [p.id for p in passages]
        where = f"set {ids[0]}..{ids[-1]}"
        try:
            # Request building truncates by tokens (an engine call): same policy as generation.
            gen = yield Generate(engine_call(self.set_request, query, passages), self.params)
        except EngineError as exc:
            if self.on_error == "raise":
                raise
            raise _Abort(f"{where}: engine error: {exc}") from exc
        choice, reasoning, answer, notes = parse_choice(gen.text, len(passages), self.reasoning_format)
        if gen.finish_reason == "length":
            notes.insert(0, f"output hit max_tokens ({self.params.max_tokens})")
        fell_back = choice is None
        if choice is None:
            notes.append(f"no valid label in {answer[-80:]!r}; kept the first-stage order "
                         f"([{fallback + 1}] {passages[fallback].id} first)")
            self.output_fallback(query, where, notes[-1])
            choice = fallback
        traces.append(Trace.of("set", gen, ids, reasoning, answer, warnings=notes, fallback=fell_back))
        warnings.extend(f"{where}: {n}" for n in notes)
        return choice

    # -- many queries: run by the base class ----------------------------------------------
    def _cuts(self, items: list[Prepared]) -> tuple[list[str], int]:
        # each passage cut once per run, not once per set it is in
        return [c.content().strip() for _, cands in items for c in cands], self.max_passage_tokens


__all__: list[Any] = ["SetwiseReranker", "parse_choice"]
