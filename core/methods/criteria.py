"""REBEL's criteria and scores: parsing the user's criteria, the criteria turn's answer and each
scoring answer, and combining per-criterion scores (see :mod:`reasonrank.methods.multicriteria`
for the method and its sources)."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reasonrank.errors import InvalidInputError
from reasonrank.parsing import split_sections
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat

CriteriaLike = Mapping[str, float] | Sequence[str] | str
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
# "name: 0.4 - description" (turn 1 answer); bullets and numbering tolerated.
_META_LINE = re.compile(
    rf"^[\s\-*•\d.)]*\**([A-Za-z][A-Za-z0-9 _/&\-]{{0,40}}?)\**\s*(?:[:=]|\(\s*weight\s*[:=]?)\s*"
    rf"(?:weight\s*[:=]?\s*)?({_NUMBER})\s*(%?)\s*\)?\s*(?:[-–—:|]\s*(.*))?$",
    re.IGNORECASE,
)
_SCORE_LINE = re.compile(r"^[\s\-*•]*\**([A-Za-z][A-Za-z0-9 _/&\-]{0,40}?)\**\s*[:=]\s*(.+?)\s*$")


def normalize_name(name: str) -> str:
    """Criterion names compare case- and spacing-insensitively: ``"Source Authority"`` ->
    ``"source_authority"``."""
    return re.sub(r"[\s\-/&]+", "_", name.strip().lower()).strip("_")


def parse_criteria(criteria: CriteriaLike) -> dict[str, float]:
    """Criteria from a dict ``name -> weight``, a list of names (equal weights) or a string
    ``"relevance=0.5,depth=0.2"`` (the CLI's ``--criteria``). Weights must be >= 0, not all 0."""
    if isinstance(criteria, str):
        out: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in criteria.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise InvalidInputError(f"criteria: expected NAME=WEIGHT, got {part!r}")
            try:
                out[name] = float(value)
            except ValueError:
                raise InvalidInputError(f"criteria: weight of {name.strip()!r} is not a number: {value!r}") from None
        criteria = out
    elif not isinstance(criteria, Mapping):
        if not isinstance(criteria, Sequence) or not all(isinstance(c, str) for c in criteria):
            raise InvalidInputError("criteria must be a dict name->weight, a list of names or 'a=0.5,b=0.5'")
        criteria = {c: 1.0 for c in criteria}
    result: dict[str, float] = {}
    for name, weight in criteria.items():
        key = normalize_name(str(name))
        if not key:
            raise InvalidInputError(f"criteria: empty criterion name {name!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(f"criteria: weight of {key!r} must be a number >= 0, got {weight!r}")
        if key in result:
            raise InvalidInputError(f"criteria: {key!r} given twice")
        result[key] = float(weight)
    if not result:
        raise InvalidInputError("criteria is empty")
    if sum(result.values()) <= 0:
        raise InvalidInputError("criteria: the weights sum to 0")
    return result


@dataclass
class CriteriaSet:
    """The criteria of one query: weights (summing to 1), scale maxima and descriptions."""

    weights: dict[str, float]
    scales: dict[str, float]
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class PassageScores:
    """One passage's parsed scores (clamped to their scales) and what went wrong."""

    scores: dict[str, float]
    reasoning: str
    warnings: list[str] = field(default_factory=list)
    found: int = 0  # criteria that got a numeric score; 0 means the output was unusable


def combine(scores: Mapping[str, float], criteria: CriteriaSet) -> float:
    """Weighted mean of scale-normalised scores, in [0, 1] (see the module docstring)."""
    total = sum(criteria.weights.values())
    return sum(w * scores.get(c, 0.0) / criteria.scales[c] for c, w in criteria.weights.items()) / total


def parse_scores(text: str, criteria: CriteriaSet, fmt: ReasoningFormat = DEFAULT_FORMAT) -> PassageScores:
    """Scores of every criterion from a scoring answer.

    Missing criteria score 0 and non-numeric scores score 0; out-of-range values are clamped;
    unknown criteria are ignored. Each case is a warning. The answer region is preferred; without
    one, the whole output is searched (last mention wins). ``fmt``: the output's reasoning format.
    """
    sections = split_sections(text, fmt=fmt)
    warnings = [w for w in sections.warnings if "ids taken" not in w]
    found: dict[str, str] = {}
    extra: list[str] = []
    for region in (text, sections.answer):  # answer lines override earlier mentions
        for line in region.splitlines():
            m = _SCORE_LINE.match(line)
            if not m:
                continue
            key = normalize_name(m.group(1))
            in_answer = region is sections.answer
            if key in criteria.weights and (in_answer or re.match(rf"\s*\[?{_NUMBER}", m.group(2))):
                found[key] = m.group(2)
            elif in_answer and key not in criteria.weights and key not in extra:
                extra.append(key)
    scores: dict[str, float] = {}
    raw_scores, n_found = found, 0
    for name, scale in criteria.scales.items():
        raw = raw_scores.get(name)
        if raw is None:
            warnings.append(f"{name}: no score, counted as 0")
            scores[name] = 0.0
            continue
        num = re.match(rf"\s*\[?({_NUMBER})(?:\s*/\s*({_NUMBER}))?", raw)
        if num is None:
            warnings.append(f"{name}: non-numeric score {raw[:30]!r}, counted as 0")
            scores[name] = 0.0
            continue
        value = float(num.group(1))
        if num.group(2) and float(num.group(2)) > 0 and float(num.group(2)) != scale:
            value = value / float(num.group(2)) * scale  # "4/5" on a 0-10 scale: rescale
        if not math.isfinite(value) or value < 0 or value > scale:
            clamped = min(max(value, 0.0), scale) if not math.isnan(value) else 0.0
            warnings.append(f"{name}: score {value:g} outside 0-{scale:g}, clamped to {clamped:g}")
            value = clamped
        scores[name] = value
        n_found += 1
    if extra:
        warnings.append(f"ignored criteria not asked for: {', '.join(extra[:5])}")
    return PassageScores(scores, sections.reasoning, warnings, n_found)


def parse_meta(text: str, max_criteria: int,
               fmt: ReasoningFormat = DEFAULT_FORMAT) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Turn 1's criteria: ``name -> weight`` and ``name -> description``, plus warnings.

    Percentages and weights that do not sum to 1 are accepted (the caller normalises); more than
    ``max_criteria`` secondary criteria are cut, keeping the heaviest. ``fmt``: the output's format.
    """
    sections = split_sections(text, fmt=fmt)
    weights: dict[str, float] = {}
    descriptions: dict[str, str] = {}
    warnings: list[str] = []
    in_answer = any(_META_LINE.match(line.strip()) for line in sections.answer.splitlines())
    region = sections.answer if in_answer else text
    for line in region.splitlines():
        m = _META_LINE.match(line.strip())
        if not m:
            continue
        key = normalize_name(m.group(1))
        if key in weights or key in ("weight", "score", "answer"):
            continue
        weight = float(m.group(2)) / (100.0 if m.group(3) else 1.0)  # "40%" = 0.4
        if weight < 0:
            warnings.append(f"criterion {key}: negative weight {weight:g} ignored")
            continue
        weights[key] = weight
        if m.group(4):
            descriptions[key] = m.group(4).strip()
    secondary = sorted((k for k in weights if k != "relevance"), key=lambda k: -weights[k])
    if len(secondary) > max_criteria:
        warnings.append(f"kept the {max_criteria} heaviest of {len(secondary)} secondary criteria")
        for k in secondary[max_criteria:]:
            weights.pop(k)
    return weights, descriptions, warnings
