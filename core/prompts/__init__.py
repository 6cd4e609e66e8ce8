"""Prompt templates as package data (TOML files in this folder), so users can read and override
them: one file per method (``reasonrank``, ``setwise``, ``rank1``, ``erank``, ``rebel``,
``first``, ``icr``), each citing the official code its texts are copied from.

:func:`load_prompt` is the one loader every method uses; it resolves the prompt's reasoning
format (:mod:`reasonrank.prompts.reasoning`: the tags, declared once in ``reasoning_format.toml``)
and writes its tags into the prompt's texts.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError
from reasonrank.prompts.reasoning import (
    DEFAULT_FORMAT,
    ReasoningFormat,
    expand_prompt,
    reasoning_format,
)

PromptLike = str | Path | Mapping[str, Any]


def load_prompt(prompt: PromptLike, *, required: Sequence[str] = ()) -> dict[str, Any]:
    """A template as a dict: ``prompt`` is a name (a file in this folder without ``.toml``), a
    path to a TOML file, or a mapping (a template given inline, copied).

    ``data["format"]`` is the prompt's :class:`ReasoningFormat` (its ``[format]`` table over the
    default), and every ``{think_open}``-style placeholder in its strings is replaced by the tag.

    Raises :class:`~reasonrank.errors.InvalidInputError` (a ``ValueError``) for an unknown name,
    a file that is not valid TOML, or a template that lacks one of the ``required`` keys.
    """
    data = expand_prompt(prompt if isinstance(prompt, Mapping) else _read(str(prompt)))
    missing = [k for k in required if k not in data]
    if missing:
        raise InvalidInputError(f"prompt template lacks the keys {missing}")
    return data


def _read(name: str) -> dict[str, Any]:
    path = Path(name)
    if name.endswith(".toml") and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        entry = resources.files(__package__).joinpath(f"{name}.toml")
        if not entry.is_file():
            raise InvalidInputError(f"unknown prompt template {name!r}")
        text = entry.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"prompt template {name!r} is not valid TOML: {exc}") from None


__all__ = ["DEFAULT_FORMAT", "PromptLike", "ReasoningFormat", "load_prompt", "reasoning_format"]
