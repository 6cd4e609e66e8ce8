"""The in-process vLLM path is pipelined by default (no vLLM needed to check the wiring)."""
from __future__ import annotations

import inspect

from reasonrank.engines.vllm import VLLMEngine
from reasonrank.presets import get_preset, list_presets


def test_vllm_engine_defaults_to_the_async_engine() -> None:
    params = inspect.signature(VLLMEngine.__init__).parameters
    assert params["async_engine"].default is True
    assert params["max_concurrency"].default > 1


def test_no_vllm_preset_turns_pipelining_off() -> None:
    vllm_presets = [get_preset(name) for name in list_presets() if get_preset(name).engine == "vllm"]
    assert len(vllm_presets) >= 5  # reasonrank-7b/32b, rank1-*, erank-*, rank-r1-*
    assert all(p.engine_options.get("async_engine", True) is True for p in vllm_presets)
