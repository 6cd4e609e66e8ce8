"""The checks of the options every method shares (``on_error``, ``on_parse_error``, ``depth``):
one home, used by :class:`~reasonrank.spec.RerankerSpec` (before anything is built) and by
:class:`~reasonrank.methods.base.Reranker` (a method constructed directly), so both give the
same error for the same bad value."""
from __future__ import annotations

from typing import Any

from reasonrank.errors import InvalidInputError

# The options of every method that are spec fields of their own (lifted out of method_options).
SHARED_METHOD_OPTIONS = ("on_error", "on_parse_error", "depth", "show_progress")
FUSION_OPTIONS = ("fusion", "fusion_weight", "rrf_k")
ON_ERROR = ("raise", "keep_order")
ON_PARSE_ERROR = ("keep_order", "raise")


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """``value`` must be one of ``choices`` (None among them: the option may be left unset)."""
    if value not in choices:
        allowed = " or ".join(repr(c) for c in choices if c is not None)
        raise InvalidInputError(f"{name} must be {allowed}, got {value!r}")


def check_positive(name: str, value: int | None) -> None:
    """``value`` must be a positive integer (None: unset)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


def check_shared_options(on_error: Any, on_parse_error: Any, depth: Any, *, unset_ok: bool = False) -> None:
    """The shared options' checks; ``unset_ok``: ``on_parse_error`` may be None (a spec leaves
    it to the preset or the method)."""
    check_choice("on_error", on_error, ON_ERROR)
    check_choice("on_parse_error", on_parse_error, (None, *ON_PARSE_ERROR) if unset_ok else ON_PARSE_ERROR)
    check_positive("depth", depth)


__all__ = ["FUSION_OPTIONS", "ON_ERROR", "ON_PARSE_ERROR", "SHARED_METHOD_OPTIONS", "check_choice", "check_positive",
           "check_shared_options"]
