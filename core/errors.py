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
