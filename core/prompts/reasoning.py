"""The reasoning format, declared once as data (``reasoning_format.toml`` in this folder) and
read by every consumer: the parser (:mod:`reasonrank.parsing`), forced answers
(:mod:`reasonrank.scheduling.forcing`), the pointwise answer position and choices, the training
reward's format check and the synthesis filter, and the prompt texts themselves.

A prompt names the tags with placeholders (``{think_open}``, ``{think_close}``,
``{answer_open}``, ``{answer_close}``) that :func:`expand_prompt` replaces when the prompt is
loaded; a prompt TOML may carry its own ``[format]`` table (any of the keys of
``reasoning_format.toml``), which then applies to that prompt and everything reading it.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from reasonrank.errors import InvalidInputError

#: The tags a prompt can name with ``{tag}`` placeholders.
TAGS = ("think_open", "think_close", "answer_open", "answer_close")
_KEYS = (*TAGS, "forced_close")


@dataclass(frozen=True)
class ReasoningFormat:
    """How a model's turn marks its thought and its answer (see ``reasoning_format.toml``)."""

    think_open: str
    think_close: str
    answer_open: str
    answer_close: str
    #: What closes a thought cut by the budget and opens the answer (a forced answer's glue).
    forced_close: str

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> ReasoningFormat:
        """A format from a ``[format]`` table, its missing keys taken from ``base`` (the raw
        default table); ``forced_close`` may name the tags with placeholders."""
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise InvalidInputError(f"unknown [format] keys {unknown}; known: {list(_KEYS)}")
        raw = {**(base or {}), **table}
        missing = [k for k in _KEYS if k not in raw]
        bad = [k for k in _KEYS if k in raw and (not isinstance(raw[k], str) or not raw[k])]
        if missing or bad:
            raise InvalidInputError(f"[format] needs non-empty strings for {missing + bad}")
        tags = {k: raw[k] for k in TAGS}
        return cls(**tags, forced_close=_replace_tags(raw["forced_close"], tags))

    @property
    def tags(self) -> dict[str, str]:
        """The four tags by name (the placeholders a prompt can use)."""
        return {k: getattr(self, k) for k in TAGS}

    def expand(self, text: str) -> str:
        """``text`` with every ``{tag}`` placeholder replaced (other braces left alone)."""
        return _replace_tags(text, self.tags)

    @property
    def answer_pattern(self) -> str:
        """The official answer pattern in this format: a closed thought, then the answer
        (ReasonRank's ``<think>.*?</think>\\s*<answer>(.*?)</answer>``, applied with DOTALL)."""
        e = re.escape
        return f"{e(self.think_open)}.*?{e(self.think_close)}\\s*{e(self.answer_open)}(.*?){e(self.answer_close)}"

    def after_thought(self, answer: str) -> str:
        """A pattern for ``answer`` (a regex) right after the close of a thought, the opening
        tag optional before it (Rank1's prompt opens the thought itself)."""
        return f"^\\s*(?:{re.escape(self.think_open)})?.*?{re.escape(self.think_close)}\\s*{answer}"


def _replace_tags(text: str, tags: Mapping[str, str]) -> str:
    for name, tag in tags.items():
        text = text.replace("{" + name + "}", tag)
    return text


def _default_table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("reasoning_format.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text)["format"])


_DEFAULT_TABLE = _default_table()
#: The format of every built-in prompt (the official ReasonRank / Rank-R1 / Rank1 tags).
DEFAULT_FORMAT = ReasoningFormat.from_mapping(_DEFAULT_TABLE)


def reasoning_format(prompt: Mapping[str, Any]) -> ReasoningFormat:
    """The format a loaded prompt declares: its ``[format]`` table over the default, or the
    default when it has none."""
    table = prompt.get("format")
    if table is None:
        return DEFAULT_FORMAT
    if isinstance(table, ReasoningFormat):
        return table
    if not isinstance(table, Mapping):
        raise InvalidInputError(f"a prompt's [format] must be a table, got {type(table).__name__}")
    return ReasoningFormat.from_mapping(table, _DEFAULT_TABLE)


def expand_prompt(prompt: Mapping[str, Any]) -> dict[str, Any]:
    """``prompt`` with its format resolved (``prompt["format"]`` a :class:`ReasoningFormat`) and
    the tag placeholders in every string (nested tables and lists included) replaced."""
    fmt = reasoning_format(prompt)
    out = {k: _expand(v, fmt) for k, v in prompt.items() if k != "format"}
    out["format"] = fmt
    return out


def _expand(value: Any, fmt: ReasoningFormat) -> Any:
    if isinstance(value, str):
        return fmt.expand(value)
    if isinstance(value, Mapping):
        return {k: _expand(v, fmt) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_expand(v, fmt) for v in value)
    return value


__all__ = ["DEFAULT_FORMAT", "TAGS", "ReasoningFormat", "expand_prompt", "reasoning_format"]
