"""Exceptions raised by reasonrank. All derive from :class:`ReasonRankError`."""
from __future__ import annotations


class ReasonRankError(Exception):
    """Base class of every error the library raises on purpose."""


class InvalidInputError(ReasonRankError, ValueError):
    """The caller passed something unusable (empty query, duplicate ids, bad top_k...)."""


class EngineError(ReasonRankError, RuntimeError):
    """The LLM backend failed (server down, timeout, malformed reply, crash)."""


class EngineUnavailableError(EngineError):
    """A backend's package or model is not installed / not reachable."""


class PromptTooLongError(ReasonRankError, ValueError):
    """A prompt does not fit the model's context window, even after truncation."""


class ParseError(ReasonRankError, ValueError):
    """Model output could not be parsed and the caller asked for errors to raise."""


class DataUnavailableError(InvalidInputError):
    """A named dataset is neither cached nor downloadable (offline); the message says how to
    provide it."""


def as_engine_error(exc: BaseException) -> EngineError:
    """Engine failures of any type, as :class:`EngineError` (keeping the cause)."""
    if isinstance(exc, EngineError):
        return exc
    err = EngineError(f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def describe_failure(exc: BaseException) -> str:
    """``"Type: message"`` of the original failure, also when :func:`as_engine_error` wrapped it."""
    cause = exc.__cause__
    if type(exc) is EngineError and cause is not None and str(exc) == f"{type(cause).__name__}: {cause}":
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
