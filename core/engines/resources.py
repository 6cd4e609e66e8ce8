"""Check free memory and disk before loading a large local model, so that too small a machine
gets one clear error naming what is needed instead of a swap storm, an OOM kill or a half-written
cache. ``REASONRANK_SKIP_RESOURCE_CHECK=1`` turns the checks off (e.g. when swap is known to
suffice)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from reasonrank.errors import EngineUnavailableError

_GB = 1e9


def _skipped() -> bool:
    return os.environ.get("REASONRANK_SKIP_RESOURCE_CHECK", "") not in ("", "0")


def cache_dir() -> Path:
    """The library's cache folder (assembled models, BM25 indexes, fingerprints):
    ``$REASONRANK_CACHE`` or ``~/.cache/reasonrank``."""
    root = os.environ.get("REASONRANK_CACHE") or Path.home() / ".cache" / "reasonrank"
    return Path(root)


def available_memory_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (Linux: free memory plus reclaimable cache), or
    None where it cannot be read (other systems: the check is skipped)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require_free_memory(needed_gb: float, what: str) -> None:
    """Raise :class:`EngineUnavailableError` if less than ``needed_gb`` GB of memory is available."""
    if needed_gb <= 0 or _skipped():
        return
    have = available_memory_bytes()
    if have is not None and have < needed_gb * _GB:
        raise EngineUnavailableError(
            f"{what} needs about {needed_gb:.1f} GB of free memory; this machine has "
            f"{have / _GB:.1f} GB available. Close other programs or choose a smaller model "
            "(the default --model embedded-0.5b); REASONRANK_SKIP_RESOURCE_CHECK=1 skips this check."
        )


def require_free_disk(folder: Path, needed_bytes: int, what: str) -> None:
    """Raise :class:`EngineUnavailableError` if ``folder``'s file system has less free space than
    ``needed_bytes``."""
    if needed_bytes <= 0 or _skipped():
        return
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed_bytes:
        raise EngineUnavailableError(
            f"{what} needs {needed_bytes / _GB:.1f} GB of free disk in {folder}; only "
            f"{free / _GB:.1f} GB are free. Free some space or point REASONRANK_CACHE at a larger disk; "
            "REASONRANK_SKIP_RESOURCE_CHECK=1 skips this check."
        )
