"""In-context reranking (ICR) from attention: Chen, Gutiérrez, Su, "Attention in Large Language
Models Yields Efficient Zero-Shot Re-Rankers" (arXiv 2410.02642).

No generation: one forward pass over the prompt "Here are some paragraphs: [1] ... [N] ...
Please find information that are relevant to the following query in the paragraphs above.
Query: <query>", and a document's score is the attention that the query part of the prompt pays
to the document's tokens, summed over layers and heads, calibrated with the same prompt ending in
the content-free query "N/A" (which the engine answers from the same KV cache of the documents).

Followed from the official code, github OSU-NLP-Group/In-Context-Reranking,
``src/in_context_reranker.py``:

- prompt (``_prepare_input_for_document_retrieval``, ``prompt_template="instruct"``,
  ``query_position="last"``): the instruction " Here are some paragraphs:", documents as
  ``"\\n\\n[i] doc"``, then ``"\\n\\n" + retrieval_instruction_late + "\\n\\nQuery:" + " " + query``,
  wrapped in the model's user/assistant turn; ``retrieval_type="IE"`` (the BEIR setting) by
  default, ``"QA"`` for questions;
- the query span runs from the late instruction to the end of the prompt (the template's closing
  tokens included); its attention rows are averaged over tokens, then summed over all layers and
  heads (``score_documents``);
- ``masked_NA_calibration`` (the default strategy): per document, token weights
  ``c = a_query - a_NA``; tokens with ``c <= mean(c) - 2 std(c)`` are masked; the score is the
  sum of the masked ``a_query - a_NA`` (``get_sorted_docs``). ``"calibrated"`` is
  ``NA_calibration_no_agg``'s plain difference over all the query span, ``"uncalibrated"`` is
  ``query_last``;
- the documents stay in first-stage order, most relevant first (``reverse_doc_order=False``).
  The paper recommends one window over all candidates (no sliding window): so does this method.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Unpack

from reasonrank.engines.base import AttentionReadout, AttentionRequest, Engine
from reasonrank.errors import EngineError, EngineUnavailableError, InvalidInputError
from reasonrank.methods.base import (
    Reranker,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
)
from reasonrank.methods.generating import RerankerOptions
from reasonrank.options import option
from reasonrank.prompts import load_prompt
from reasonrank.scheduling import Attend, Job
from reasonrank.types import Candidate, Query, RerankResult, Trace

Scoring = Literal["masked_calibrated", "calibrated", "uncalibrated"]
RetrievalType = Literal["IE", "QA"]

# Official texts (in_context_reranker.py, __init__), in reasonrank/prompts/icr.toml.
PROMPT = load_prompt("icr")
INSTRUCTION: str = PROMPT["instruction"]
LATE_INSTRUCTION: dict[str, str] = PROMPT["late_instruction"]
SEPARATOR: str = PROMPT["separator"]
CALIBRATION_QUERY: str = PROMPT["calibration_query"]


def masked_calibrated_score(query_weights: list[float], na_weights: list[float]) -> float:
    """ICR's ``masked_NA_calibration`` score of one document from its per-token attention.

    Tokens whose calibrated weight falls at or below mean - 2 std (sample std, as ``torch.std``)
    are dropped; the score is the sum of the calibrated weights of the others.
    """
    diff = [q - n for q, n in zip(query_weights, na_weights, strict=True)]
    if len(diff) < 2:
        return sum(diff)
    mean = sum(diff) / len(diff)
    std = math.sqrt(sum((d - mean) ** 2 for d in diff) / (len(diff) - 1))
    threshold = mean - 2 * std
    return sum(d for d in diff if d > threshold)


@dataclass(frozen=True)
class ICROptions:
    """ICR's options."""

    scoring: Scoring = option("masked_calibrated", "masked_calibrated (ICR's), calibrated (no mask) or "
                              "uncalibrated (one probe: faster, more position bias)")
    retrieval_type: RetrievalType = option("IE", "IE (find relevant information) or QA (answer a question)")
    max_passage_tokens: int | None = option(None, "passage cut, in tokens of the engine's tokenizer (None: no cut)",
                                            metavar="N")
    calibration_query: str = option(CALIBRATION_QUERY, "the content-free query of the calibration")
    layers: Sequence[int] | None = option(None, "sum the attention of these layers only (None: every layer)")


class ICRReranker(Reranker):
    """In-context reranking from attention (ICR); needs an engine with ``supports_attention``
    (``embedded-hf`` or ``transformers``).

    Parameters
    ----------
    scoring:
        ``"masked_calibrated"`` (ICR's default), ``"calibrated"`` (query minus "N/A", no mask) or
        ``"uncalibrated"`` (query attention only: one probe, faster, more position bias).
    retrieval_type:
        ``"IE"`` (find relevant information; BEIR/MS MARCO) or ``"QA"`` (answer a question).
    max_passage_tokens:
        Truncate each passage to this many tokens of the engine's tokenizer (None: no cut).
    calibration_query:
        The content-free query (ICR: ``"N/A"``).
    layers:
        Sum the attention of these layers only (0-based; negative ones count from the last).
        None (ICR's choice): every layer.
    """

    method = "icr"
    result_fields = ("scoring", "retrieval_type", "max_passage_tokens", "calibration_query", "layers")
    Options: ClassVar[type] = ICROptions

    def __init__(
        self,
        engine: Engine,
        *,
        scoring: Scoring = "masked_calibrated",
        retrieval_type: RetrievalType = "IE",
        max_passage_tokens: int | None = None,
        calibration_query: str = CALIBRATION_QUERY,
        layers: Sequence[int] | None = None,
        **options: Unpack[RerankerOptions],
    ) -> None:
        super().__init__(engine, **options)
        if scoring not in ("masked_calibrated", "calibrated", "uncalibrated"):
            raise InvalidInputError(
                f"scoring must be 'masked_calibrated', 'calibrated' or 'uncalibrated', got {scoring!r}"
            )
        if retrieval_type not in LATE_INSTRUCTION:
            raise InvalidInputError(f"retrieval_type must be 'IE' or 'QA', got {retrieval_type!r}")
        check_positive("max_passage_tokens", max_passage_tokens)
        if layers is not None and (
            isinstance(layers, (str, bytes)) or not layers
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in layers)
        ):
            raise InvalidInputError(f"layers must be a non-empty list of layer indices or None, got {layers!r}")
        if not getattr(engine, "supports_attention", False):
            raise EngineUnavailableError(
                f"method 'icr' reads attention weights; the {engine.name} engine does not expose them. "
                "Use --engine embedded-hf (the embedded model in transformers) or transformers."
            )
        self.scoring: Scoring = scoring
        self.retrieval_type: RetrievalType = retrieval_type
        self.max_passage_tokens = max_passage_tokens
        self.calibration_query = calibration_query
        self.layers = tuple(layers) if layers is not None else None

    # -- prompt -----------------------------------------------------------------------------
    def build_request(self, query: Query, candidates: list[Candidate]) -> AttentionRequest:
        """Segments: the instruction, then per document a separator and ``[i] text``, then a
        separator; probes: the late instruction and the query (and the calibration query)."""
        segments = [INSTRUCTION]
        for i, cand in enumerate(candidates, start=1):
            text = cand.content()
            if self.max_passage_tokens:
                text = self.engine.truncate_tokens(text, self.max_passage_tokens)
            segments += [SEPARATOR, PROMPT["document"].format(index=i, content=text)]
        segments.append(SEPARATOR)
        late = LATE_INSTRUCTION[self.retrieval_type] + SEPARATOR + PROMPT["query_label"]
        probes = [late + query.text.strip()]
        if self.scoring != "uncalibrated":
            probes.append(late + self.calibration_query)
        return AttentionRequest(tuple(segments), tuple(probes), layers=self.layers)

    @staticmethod
    def doc_segment(index: int) -> int:
        """Segment index of document ``index`` (0-based) in :meth:`build_request`'s segments."""
        return 2 + 2 * index

    def scores_from(self, readout: AttentionReadout, n_docs: int) -> tuple[list[float], list[dict[str, float]]]:
        """Per-document scores and the evidence behind them (query / N/A attention totals)."""
        if len(readout.weights) != (1 if self.scoring == "uncalibrated" else 2):
            raise EngineError(f"engine returned {len(readout.weights)} attention probes")
        scores, evidence = [], []
        for i in range(n_docs):
            seg = self.doc_segment(i)
            q = readout.weights[0][seg]
            if self.scoring == "uncalibrated":
                score = sum(q)
                evidence.append({"query_attention": score})
            else:
                na = readout.weights[1][seg]
                score = masked_calibrated_score(q, na) if self.scoring == "masked_calibrated" else sum(q) - sum(na)
                evidence.append({"query_attention": sum(q), "na_attention": sum(na)})
            scores.append(float(score))
        return scores, evidence

    # -- reranking --------------------------------------------------------------------------
    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[Any]:
        return [self.build_request(query, candidates)]

    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        """One forward pass for the query (ICR reads all candidates in one prompt)."""
        try:
            readout = yield Attend(engine_call(self.build_request, query, cands))
            return self._assemble(query, cands, readout)
        except EngineError as exc:
            return self.keep_order_result(query, cands, self.failure_reason(exc))

    def _assemble(self, query: Query, cands: list[Candidate], readout: AttentionReadout) -> RerankResult:
        scores, evidence = self.scores_from(readout, len(cands))
        per_candidate = {}
        for i, ev in enumerate(evidence):
            parts = [f"attention from the query {ev['query_attention']:.4f}"]
            if "na_attention" in ev:
                parts.append(f"from the content-free query 'N/A' {ev['na_attention']:.4f}")
            per_candidate[i] = {"reasoning": f"ICR score {scores[i]:.4f} ({'; '.join(parts)})"}
        trace = Trace(
            kind="attention",
            candidate_ids=[c.id for c in cands],
            reasoning="",
            answer=" > ".join(f"[{i + 1}]" for i in stable_order_by_score(scores)),
            raw_output="",
            prompt_tokens=readout.prompt_tokens,
            seconds=readout.seconds,
            cached=readout.cached,
        )
        return assemble_result(
            query, cands, stable_order_by_score(scores), self.method, scores=scores,
            traces=[trace], per_candidate=per_candidate, model=self.engine.model_name,
        )
