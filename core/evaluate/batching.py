"""What the evaluation and the benchmark loops share: batches of query ids, a progress bar."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def chunks(seq: Sequence[str], size: int) -> Iterator[list[str]]:
    """``seq`` in consecutive lists of ``size`` (the last one shorter)."""
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


def progress(total: int, initial: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar counting queries (a no-op bar when not ``enabled``); tqdm loads on first use."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="query", dynamic_ncols=True)
