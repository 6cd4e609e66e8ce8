"""Named recipes: method + engine + model + method/engine settings.

Each preset is a TOML file in this folder (users can read them, and add their own folder with
``REASONRANK_PRESET_PATH``). Keys::

    description = "..."
    method = "listwise"            # listwise | pointwise | rebel | setwise | icr | first | relevance |
                                   # dense | cross | cascade
    engine = "vllm"                # default engine (the CLI's --engine overrides it)
    model = "liuwenhan/reasonrank-7B"
    source = "where the settings come from"
    [method_options]               # keyword arguments of the method class
    [engine_options]               # keyword arguments of the engine class
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    method: str
    engine: str
    model: str | None = None
    description: str = ""
    source: str = ""
    method_options: dict[str, Any] = field(default_factory=dict)
    engine_options: dict[str, Any] = field(default_factory=dict)


# What `reasonrank rerank`, `load_reranker()` and the no-argument wrappers run when given neither
# a method nor a preset: chosen on TREC DL19 (benchmarks/README.md, "The CPU default").
DEFAULT_PRESET = "embedded-dense-fused"
# What a spec that names an LLM engine or model but no method or preset gets (the default before
# the dense one): ICR on attention engines, listwise on the others.
LLM_DEFAULT_PRESET = "embedded-icr-fused"

# The preset used when a method is asked for with no preset and no engine: the embedded CPU model.
DEFAULT_PRESETS: dict[str, str] = {
    "listwise": "embedded-listwise",
    "pointwise": "embedded-rank1",
    "rebel": "embedded-rebel",
    "setwise": "embedded-setwise",
    "icr": "embedded-icr",
    "first": "embedded-first",
    "relevance": "embedded-relevance",
    "cascade": "embedded-cascade",
    "dense": "embedded-dense",
    "cross": "ms-marco-minilm-cross",
}


def _preset_files() -> dict[str, Path | Any]:
    files: dict[str, Any] = {}
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".toml"):
            files[entry.name[:-5]] = entry
    for folder in filter(None, os.environ.get("REASONRANK_PRESET_PATH", "").split(os.pathsep)):
        for path in sorted(Path(folder).glob("*.toml")):
            files[path.stem] = path
    return files


def list_presets() -> list[str]:
    """Names of all known presets, sorted."""
    return sorted(_preset_files())


def get_preset(name: str) -> Preset:
    """Load preset ``name``, or a TOML file path. Unknown names raise ``ValueError``."""
    path = Path(name)
    if name.endswith(".toml") and path.is_file():
        data, pname = tomllib.loads(path.read_text()), path.stem
    else:
        files = _preset_files()
        if name not in files:
            raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(files))}")
        data, pname = tomllib.loads(files[name].read_text()), name
    try:
        preset = Preset(
            name=pname,
            method=data["method"],
            engine=data["engine"],
            model=data.get("model"),
            description=data.get("description", ""),
            source=data.get("source", ""),
            method_options=dict(data.get("method_options", {})),
            engine_options=dict(data.get("engine_options", {})),
        )
    except KeyError as exc:
        raise ValueError(f"preset {pname!r} lacks the key {exc}") from None
    check_preset(preset)
    return preset


def check_preset(preset: Preset) -> None:
    """The preset's ``[method_options]`` against its method's option declarations
    (:mod:`reasonrank.options`): an unknown name or a wrong value fails at load, naming the
    preset. (A cascade's stages are checked when its spec is built.)"""
    from reasonrank.methods import method_names
    from reasonrank.options import check_method_options

    if preset.method not in method_names():
        raise ValueError(f"preset {preset.name!r}: unknown method {preset.method!r}; "
                         f"choose one of {method_names()}")
    check_method_options(preset.method, preset.method_options, where=f"preset {preset.name!r}: ")
