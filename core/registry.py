"""Name -> ``"module:attribute"`` registries: how methods, engines and API shapes are plugged in.

A registry is a plain dict, so adding an entry is one line and nothing is imported until it is
used (heavy backends stay optional). :func:`load_registered` is the one lookup all of them use.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def import_target(target: str) -> Any:
    """The attribute named by ``"package.module:attribute"`` (imports the module)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def load_registered(registry: Mapping[str, str], name: str, kind: str) -> Any:
    """The object registered under ``name``; an unknown name is a ``ValueError`` listing the
    known ones (``kind`` names the registry in the message, e.g. ``"engine"``)."""
    try:
        target = registry[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {sorted(registry)}") from None
    return import_target(target)
