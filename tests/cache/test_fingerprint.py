"""A local model's checksum in the result cache's key: the whole file hashed, once per version
(memoised in the process and in ``$REASONRANK_CACHE/fingerprints.json``), folders by their files."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from reasonrank.cache import fingerprint
from reasonrank.cache.replies import file_fingerprint, model_identity
from reasonrank.engines.scripted import ScriptedEngine

pytestmark = pytest.mark.cost

MIB = 1 << 20


@pytest.fixture(autouse=True)
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rr-cache"
    monkeypatch.setenv("REASONRANK_CACHE", str(folder))
    monkeypatch.setattr(fingerprint, "_memo", {})
    return folder


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file :func:`fingerprint.hash_file` reads."""
    seen: list[Path] = []
    real = fingerprint.hash_file

    def counted(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(fingerprint, "hash_file", counted)
    return seen


def aged(path: Path, seconds_ago: float = 3600) -> Path:
    """``path`` with a modification time in the past (model files are not written just now)."""
    t = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(t, t))
    return path


def model_file(tmp_path: Path, size: int = 5 * MIB) -> Path:
    f = tmp_path / "model.gguf"
    f.write_bytes(bytes(i % 251 for i in range(size)))
    return aged(f)


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_byte_in_the_middle_changes_the_fingerprint(tmp_path: Path):
    f = model_file(tmp_path)
    before = file_fingerprint(f)
    flip_middle_byte(f)
    aged(f, 1800)  # a later (but not recent) modification time
    after = file_fingerprint(f)
    assert after != before and after == f"{5 * MIB}:{hashlib.sha256(f.read_bytes()).hexdigest()}"


def test_a_byte_changed_just_now_changes_the_fingerprint(tmp_path: Path):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"a" * 3 * MIB)
    before = file_fingerprint(f)
    flip_middle_byte(f)  # same size, maybe the same coarse mtime: a fresh file is never memoised
    assert file_fingerprint(f) != before


def test_second_call_does_not_reread_the_file(tmp_path: Path, hashes: list[Path]):
    f = model_file(tmp_path)
    assert file_fingerprint(f) == file_fingerprint(f)
    assert len(hashes) == 1


def test_a_new_process_reuses_the_persisted_digest(tmp_path: Path, cache_folder: Path, hashes: list[Path],
                                                   monkeypatch: pytest.MonkeyPatch):
    f = model_file(tmp_path)
    first = file_fingerprint(f)
    memo = json.loads((cache_folder / fingerprint.MEMO_NAME).read_text())
    assert list(memo["files"].values()) == [first]
    monkeypatch.setattr(fingerprint, "_memo", {})  # what a new process starts with
    assert file_fingerprint(f) == first and len(hashes) == 1


def test_a_corrupt_memo_file_is_ignored_and_replaced(tmp_path: Path, cache_folder: Path, hashes: list[Path]):
    f = model_file(tmp_path)
    memo = cache_folder / fingerprint.MEMO_NAME
    cache_folder.mkdir()
    for junk in ("{not json", json.dumps([1, 2]), json.dumps({"version": 1, "files": {"x": 3}})):
        memo.write_text(junk)
        fingerprint._memo.clear()
        assert file_fingerprint(f).startswith(f"{5 * MIB}:")
    assert len(hashes) == 3
    assert json.loads(memo.read_text())["version"] == fingerprint.MEMO_VERSION
    assert not [p for p in cache_folder.iterdir() if p.name != fingerprint.MEMO_NAME]  # no temp files left


def test_an_unwritable_cache_folder_only_costs_a_rehash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         hashes: list[Path]):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("REASONRANK_CACHE", str(blocker / "cache"))  # cannot be created
    f = model_file(tmp_path)
    first = file_fingerprint(f)
    fingerprint._memo.clear()
    assert file_fingerprint(f) == first and len(hashes) == 2


def test_the_memo_keeps_one_version_per_file(tmp_path: Path, cache_folder: Path):
    f = model_file(tmp_path, MIB)
    file_fingerprint(f)
    flip_middle_byte(f)
    aged(f, 60)
    file_fingerprint(f)
    files = json.loads((cache_folder / fingerprint.MEMO_NAME).read_text())["files"]
    assert len(files) == 1


def test_a_model_folder_is_fingerprinted_by_its_files(tmp_path: Path, hashes: list[Path]):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(b"\0" * 3 * MIB)
    (folder / ".git").mkdir()
    for p in folder.iterdir():
        aged(p)
    first = file_fingerprint(folder)
    assert first.startswith("dir:2:") and file_fingerprint(folder) == first and len(hashes) == 2
    flip_middle_byte(folder / "model.safetensors")
    aged(folder / "model.safetensors", 60)
    changed = file_fingerprint(folder)
    assert changed != first
    (folder / "tokenizer.json").write_text("{}")
    assert file_fingerprint(folder) not in (first, changed)  # a new file counts too


def test_a_local_model_folder_name_is_in_the_identity(tmp_path: Path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    local = model_identity(ScriptedEngine(model_name=str(folder)))
    assert local["file"].startswith("dir:1:")
    assert "file" not in model_identity(ScriptedEngine(model_name="org/not-a-local-path"))
    served = ScriptedEngine(model_name=str(folder))
    served.base_url = "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]  # a server's model name
    assert "file" not in model_identity(served)
