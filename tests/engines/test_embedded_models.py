"""The shipped embedded models (0.5B default, 1.5B opt-in): GGUF assembly from parts, selection
by ``--model embedded-1.5b`` in every entry point, resource checks and the llama.cpp-missing error.

The assembly checks run on small fake parts. Tests that load the 1.5B (1.1 GB of packages,
~6.5 GB of memory) are skipped unless ``REASONRANK_TEST_1_5B=1`` asks for them: CI never
downloads it (install it with ``pip install 'reasonrank[embedded-1.5b]'``).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from reasonrank.engines import embedded_model as em
from reasonrank.engines.embedded_model import (
    ShippedModel,
    assemble_gguf,
    embedded_model,
    locate_parts,
)
from reasonrank.errors import EngineUnavailableError

TEST_15B = os.environ.get("REASONRANK_TEST_1_5B", "") not in ("", "0")
needs_15b = pytest.mark.skipif(not TEST_15B, reason="set REASONRANK_TEST_1_5B=1 to run the 1.5B tests")


# -- assembly from parts (fake parts: the code takes parts, sizes and checksum as data) -----------
def fake_parts(folder: Path, sizes: list[int]) -> tuple[list[Path], int, str]:
    paths, digest = [], hashlib.sha256()
    for i, size in enumerate(sizes, start=1):
        data = bytes((i * 7 + j) % 251 for j in range(size))
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(data)
        digest.update(data)
        paths.append(path)
    return paths, sum(sizes), digest.hexdigest()


def test_assembly_joins_parts_in_order_and_verifies_once(tmp_path) -> None:
    sizes = [1000, 1000, 317]
    parts, size, sha = fake_parts(tmp_path, sizes)
    target = tmp_path / "cache" / "m.gguf"
    got = assemble_gguf(parts, target, size=size, sha256=sha, part_sizes=sizes)
    assert got == target and target.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert target.with_suffix(".verified").read_text().strip() == sha
    for p in parts:  # verified once: later calls do not read the parts again
        p.unlink()
    assert assemble_gguf(parts, target, size=size, sha256=sha, part_sizes=sizes) == target
    assert [p.name for p in target.parent.iterdir()] and not list(target.parent.glob("*.part"))


def test_assembly_rejects_a_missing_part(tmp_path) -> None:
    sizes = [1000, 1000, 317]
    parts, size, sha = fake_parts(tmp_path, sizes)
    parts[1].unlink()
    with pytest.raises(EngineUnavailableError, match=r"model part 2 is missing.*reinstall"):
        assemble_gguf(parts, tmp_path / "m.gguf", size=size, sha256=sha, part_sizes=sizes,
                      hint="reinstall with: pip install 'reasonrank[embedded-1.5b]'")
    with pytest.raises(EngineUnavailableError, match="expected 3 model parts, got 2"):
        assemble_gguf(parts[:2], tmp_path / "m.gguf", size=size, sha256=sha, part_sizes=sizes)
    assert not (tmp_path / "m.gguf").exists()


def test_assembly_rejects_a_truncated_part(tmp_path) -> None:
    sizes = [1000, 1000, 317]
    parts, size, sha = fake_parts(tmp_path, sizes)
    parts[2].write_bytes(parts[2].read_bytes()[:100])
    with pytest.raises(EngineUnavailableError, match=r"model part 3 .* has 100 bytes, expected 317"):
        assemble_gguf(parts, tmp_path / "m.gguf", size=size, sha256=sha, part_sizes=sizes)
    # Without per-part sizes (the 0.5B's record) the total size still catches it.
    with pytest.raises(EngineUnavailableError, match="joined model parts have 2,100 bytes, expected 2,317"):
        assemble_gguf(parts, tmp_path / "m.gguf", size=size, sha256=sha)
    assert not (tmp_path / "m.gguf").exists() and not list(tmp_path.glob("*.part"))


def test_assembly_rejects_a_corrupt_part(tmp_path) -> None:
    sizes = [1000, 1000, 317]
    parts, size, sha = fake_parts(tmp_path, sizes)
    data = bytearray(parts[0].read_bytes())
    data[10] ^= 0xFF  # same size, one byte flipped
    parts[0].write_bytes(bytes(data))
    with pytest.raises(EngineUnavailableError, match="checksum mismatch.*a part is corrupt"):
        assemble_gguf(parts, tmp_path / "m.gguf", size=size, sha256=sha, part_sizes=sizes)
    assert not (tmp_path / "m.gguf").exists() and not list(tmp_path.glob("*.part"))


def test_a_missing_package_names_the_extra_to_install() -> None:
    spec = ShippedModel(key="fake", name="Fake", extra="embedded-1.5b",
                        packages=("reasonrank-no-such-package-part1",), size=1, sha256="0")
    with pytest.raises(EngineUnavailableError, match=r"missing package reasonrank-no-such-package-part1.*reasonrank\[embedded-1.5b\]"):
        locate_parts(spec)


def test_the_shipped_records_are_consistent() -> None:
    big = embedded_model("embedded-1.5b")
    assert big.part_sizes is not None and len(big.part_sizes) == len(big.packages) == 22
    assert sum(big.part_sizes) == big.size == 1_117_320_768
    assert big.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert embedded_model(None).key == "embedded-0.5b"
    assert em.EMBEDDED_GGUF_SHA256 == embedded_model("embedded-0.5b").sha256  # old names kept
    with pytest.raises(EngineUnavailableError, match="embedded-0.5b, embedded-1.5b"):
        embedded_model("embedded-7b")


# -- resources ---------------------------------------------------------------------------------
def test_too_little_memory_or_disk_is_one_clear_error(tmp_path, monkeypatch) -> None:
    from reasonrank.engines import resources

    monkeypatch.delenv("REASONRANK_SKIP_RESOURCE_CHECK", raising=False)
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 2_000_000_000)
    with pytest.raises(EngineUnavailableError, match=r"needs about 6.5 GB of free memory; this machine has 2.0 GB"):
        resources.require_free_memory(6.5, "the embedded-1.5b model in transformers (float32)")
    resources.require_free_memory(1.0, "small")
    with pytest.raises(EngineUnavailableError, match="GB of free disk in .*REASONRANK_CACHE"):
        resources.require_free_disk(tmp_path / "not" / "yet", 10**18, "de-quantizing")
    monkeypatch.setenv("REASONRANK_SKIP_RESOURCE_CHECK", "1")
    resources.require_free_memory(6.5, "anything")


def test_the_engines_check_memory_before_loading(monkeypatch) -> None:
    from reasonrank.engines import resources
    from reasonrank.engines.embedded_hf import EmbeddedTransformersEngine

    monkeypatch.delenv("REASONRANK_SKIP_RESOURCE_CHECK", raising=False)
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1_000_000_000)

    def never(*a, **k):
        raise AssertionError("the model must not be assembled or loaded")

    monkeypatch.setattr("reasonrank.engines.embedded_hf.embedded_hf_dir", never)
    with pytest.raises(EngineUnavailableError, match="embedded-1.5b model in transformers .* 7.0 GB"):
        EmbeddedTransformersEngine(model="embedded-1.5b")


# -- selection: --model embedded-1.5b through the factory (CLI, Python, wrappers, serve) ---------
@pytest.fixture
def captured(monkeypatch):
    """Record which engine the factory would build, without building it."""
    calls: list[tuple[str, dict]] = []

    def fake_create(name, **options):
        calls.append((name, options))
        from reasonrank.engines.scripted import ScriptedEngine

        engine = ScriptedEngine(lambda r: "")
        engine.supports_attention = True  # let ICR accept it
        return engine

    monkeypatch.setattr("reasonrank.resolution.create_engine", fake_create)
    return calls


@pytest.mark.parametrize(
    ("kwargs", "engine"),
    [
        ({}, "embedded-hf"),  # --model embedded-1.5b without a method: the LLM default (ICR)
        ({"method": "icr"}, "embedded-hf"),
        ({"method": "first"}, "embedded"),
        ({"method": "listwise"}, "embedded"),
        ({"engine": "transformers"}, "embedded-hf"),
        ({"method": "relevance", "engine": "llamacpp"}, "embedded"),
    ],
)
def test_model_embedded_1_5b_selects_the_1_5b_on_the_embedded_engines(captured, kwargs, engine) -> None:
    from reasonrank.factory import build_reranker

    build_reranker(model="embedded-1.5b", **kwargs)
    assert captured == [(engine, {"model": "embedded-1.5b"})]


def test_without_a_model_the_embedded_engines_get_no_model(captured) -> None:
    from reasonrank.factory import build_reranker

    build_reranker(engine="embedded-hf")  # the LLM default (ICR; the no-option default is dense)
    build_reranker(method="first")
    build_reranker(preset="reasonrank-7b", engine="embedded")  # a hub id means nothing here
    assert [options for _, options in captured] == [{}, {}, {}]


def test_the_1_5b_preset_selects_it(captured) -> None:
    from reasonrank.factory import build_reranker
    from reasonrank.presets import list_presets

    names = [n for n in list_presets() if n.startswith("embedded-1.5b")]
    assert names
    for name in names:
        build_reranker(preset=name)
    assert all(options.get("model") == "embedded-1.5b" for _, options in captured)


# -- llama.cpp is its own extra ------------------------------------------------------------------
def test_a_llama_cpp_method_without_llama_cpp_says_how_to_install_it(monkeypatch) -> None:
    import builtins

    from reasonrank.factory import build_reranker

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    for kwargs in ({"method": "first"}, {"method": "listwise", "model": "embedded-1.5b"}):
        with pytest.raises(EngineUnavailableError, match=r"bash scripts/install.sh llamacpp.*reasonrank\[llamacpp\]"):
            build_reranker(**kwargs)
