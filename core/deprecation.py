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
    """The value of keyword ``new``, taking the deprecated ``old`` from ``kwargs`` (the
    function's ``**kwargs``; popped, with a warning) when given; both at once, or any other
    keyword left in ``kwargs``, is a ``TypeError``."""
    given = kwargs.pop(old, _MISSING)
    if kwargs:
        raise TypeError(f"{where}unexpected keywords {sorted(kwargs)}")
    if given is _MISSING:
        return value
    warn_renamed(f"{where}{old}", new, stacklevel=stacklevel)
    if value is not default and value != given:
        raise TypeError(f"{where}{old} and {new} name the same setting; give only {new}")
    return given


__all__ = ["renamed_keyword", "warn_renamed"]
