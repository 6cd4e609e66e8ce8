"""Parsing and repair of reasoning-model outputs: ``<think>…</think>`` then ``<answer>…</answer>``.

Only the model's output is parsed (never the prompt), so text inside passages cannot change the
result. The answer region is found the way the official ReasonRank code does it
(``rerank/rankllm.py`` ``_clean_response``: the ``pattern`` of ``listwise_prompt_r1.toml`` on the
lower-cased output, else the text after the last ``<answer>``, else the whole output), with one
addition: without ``<answer>``, text after the last ``</think>`` is preferred to the reasoning.
Every fallback and repair is reported as a warning string. The tags are the reasoning format's
(:class:`~reasonrank.prompts.reasoning.ReasoningFormat`; the official ones by default).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat

# Official pattern (8421BCD/ReasonRank listwise_prompt_r1.toml), applied with DOTALL.
DEFAULT_ANSWER_PATTERN = DEFAULT_FORMAT.answer_pattern

_BRACKET_ID = re.compile(r"\[\s*(\d+)\s*\]")
_BARE_ID = re.compile(r"\d+")


@dataclass
class Sections:
    """The reasoning and the answer region of one output, and how they were found."""

    reasoning: str
    answer: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class ParsedRanking:
    """A window's ranking as a full permutation of ``range(n)`` (0-based, best first).

    ``mentioned`` counts the valid ids the model gave; 0 means nothing usable was found and
    ``order`` is the input order.
    """

    order: list[int]
    reasoning: str
    answer: str
    mentioned: int
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.mentioned == 0


def _last(tag: str, text: str, end: int | None = None) -> int:
    """Index of the last ``tag`` (case-insensitive) in ``text[:end]``, or -1."""
    hits = [m.start() for m in re.finditer(re.escape(tag), text[:end], re.IGNORECASE)]
    return hits[-1] if hits else -1


def split_sections(text: str, pattern: str | None = None, fmt: ReasoningFormat = DEFAULT_FORMAT) -> Sections:
    """Split ``text`` into reasoning and answer, tolerating missing or unclosed tags.

    ``pattern`` (one group: the answer) defaults to ``fmt``'s answer pattern."""
    # Case-insensitive, like the official search on response.lower().
    match = re.search(pattern or fmt.answer_pattern, text, re.DOTALL | re.IGNORECASE)
    if match and match.groups():
        return Sections(_reasoning(text, match.start(1), fmt), match.group(1).strip())
    warnings: list[str] = []
    answer_at = _last(fmt.answer_open, text)
    if answer_at >= 0:
        start = answer_at + len(fmt.answer_open)
        close = re.search(re.escape(fmt.answer_close), text[start:], re.IGNORECASE)
        if close is None:
            warnings.append("answer tag not closed")
        end = start + close.start() if close else len(text)
        if _last(fmt.think_close, text, answer_at) < 0:
            warnings.append(f"no {fmt.think_close} before {fmt.answer_open}")
        return Sections(_reasoning(text, answer_at, fmt), text[start:end].strip(), warnings)
    think_close = _last(fmt.think_close, text)
    if think_close >= 0:
        warnings.append(f"no {fmt.answer_open} tag; used the text after {fmt.think_close}")
        start = think_close + len(fmt.think_close)
        return Sections(_reasoning(text, start, fmt), text[start:].strip(), warnings)
    if _last(fmt.think_open, text) >= 0:
        warnings.append("reasoning not closed (budget reached?); ids taken from the whole output")
        begin = _last(fmt.think_open, text) + len(fmt.think_open)
        return Sections(text[begin:].strip(), text.strip(), warnings)
    warnings.append(f"no {fmt.think_open}/{fmt.answer_open} tags; ids taken from the whole output")
    return Sections("", text.strip(), warnings)


def _reasoning(text: str, answer_start: int, fmt: ReasoningFormat) -> str:
    """The text inside the last thought (``<think>...</think>``) before the answer."""
    close = _last(fmt.think_close, text, answer_start)
    if close < 0:
        return ""
    open_ = _last(fmt.think_open, text, close)
    begin = open_ + len(fmt.think_open) if open_ >= 0 else 0
    return text[begin:close].strip()


def extract_ids(answer: str) -> list[int]:
    """Integer labels in an answer, in order: ``[3]``, ``[03]``; bare ``3`` only if no brackets.

    Separators (``>``, ``,``, spaces, ``=``) do not matter. Duplicates are kept here.
    """
    bracketed = _BRACKET_ID.findall(answer)
    found = bracketed if bracketed else _BARE_ID.findall(answer)
    return [int(x) for x in found]


def repair_permutation(labels: list[int], n: int, *, base: int = 1) -> tuple[list[int], int, list[str]]:
    """A full permutation of ``range(n)`` from model labels (``base``-numbered).

    Duplicates are dropped (first kept), out-of-range labels ignored, missing ones appended in
    input order. Returns (order, number of valid distinct labels, warnings).
    """
    seen: set[int] = set()
    order: list[int] = []
    dupes: list[int] = []
    out_of_range: list[int] = []
    for label in labels:
        idx = label - base
        if not 0 <= idx < n:
            out_of_range.append(label)
        elif idx in seen:
            dupes.append(label)
        else:
            seen.add(idx)
            order.append(idx)
    mentioned = len(order)
    missing = [i for i in range(n) if i not in seen]
    order.extend(missing)
    warnings = []
    if dupes:
        warnings.append(f"dropped duplicate ids {_fmt(dupes)}")
    if out_of_range:
        warnings.append(f"ignored out-of-range ids {_fmt(out_of_range)} (valid: {base}..{n - 1 + base})")
    if missing and mentioned:
        warnings.append(f"appended {len(missing)} missing ids in input order: {_fmt([m + base for m in missing])}")
    if not mentioned:
        warnings.append("no valid id in the answer; kept input order")
    return order, mentioned, warnings


def parse_ranking(text: str, n: int, pattern: str | None = None,
                  fmt: ReasoningFormat = DEFAULT_FORMAT) -> ParsedRanking:
    """Parse a listwise output over ``n`` passages labelled ``[1]..[n]`` into a permutation."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sections = split_sections(text, pattern, fmt)
    order, mentioned, warnings = repair_permutation(extract_ids(sections.answer), n)
    return ParsedRanking(order, sections.reasoning, sections.answer, mentioned, sections.warnings + warnings)


def _fmt(labels: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(x) for x in labels[:limit])
    return f"[{shown}{', ...' if len(labels) > limit else ''}]"
