"""Renamed public names keep working for a while: one helper says so the same way everywhere."""
from __future__ import annotations

import warnings
from collections.abc import MutableMapping
from typing import Any

_MISSING = object()


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """A :class:`DeprecationWarning` that ``old`` is now ``new`` (see CHANGELOG.md)."""
    warnings.warn(f"{old} is deprecated; use {new} (see CHANGELOG.md)", DeprecationWarning,
                  stacklevel=stacklevel)


def renamed_keyword(kwargs: MutableMapping[str, Any], old: str, new: str, value: Any, *,
                    default: Any = None, where: str = "", stacklevel: int = 4) -> Any:
    """The value of keyword ``new``, taking the deprecated ``old`` from ``kwargs`` (popped,
    with a warning) when given; both at once is an error."""
    given = kwargs.pop(old, _MISSING)
    if given is _MISSING:
        return value
    warn_renamed(f"{where}{old}", f"{where}{new}", stacklevel=stacklevel)
    if value is not default and value != given:
        raise TypeError(f"{where}{old} and {where}{new} name the same setting; give only {new}")
    return given


__all__ = ["renamed_keyword", "warn_renamed"]
