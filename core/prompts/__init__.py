"""Prompt templates as package data (TOML files in this folder), so users can read and override
them: one file per method (``reasonrank``, ``setwise``, ``rank1``, ``erank``, ``rebel``,
``first``, ``icr``), each citing the official code its texts are copied from.

:func:`load_prompt` is the one loader every method uses.
"""
from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError

PromptLike = str | Path | Mapping[str, Any]


def load_prompt(prompt: PromptLike, *, required: Sequence[str] = ()) -> dict[str, Any]:
    """A template as a dict: ``prompt`` is a name (a file in this folder without ``.toml``), a
    path to a TOML file, or a mapping (a template given inline, copied).

    Raises :class:`~reasonrank.errors.InvalidInputError` (a ``ValueError``) for an unknown name,
    a file that is not valid TOML, or a template that lacks one of the ``required`` keys.
    """
    if isinstance(prompt, Mapping):
        data = dict(prompt)
    else:
        data = _read(str(prompt))
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


__all__ = ["PromptLike", "load_prompt"]
