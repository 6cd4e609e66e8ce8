"""``write_atomic`` / ``atomic_path``: the one way the library writes a file or a folder. An
interrupted write leaves the old content and no temporary file behind."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from reasonrank.files import atomic_path, write_atomic


class Boom(Exception):
    pass


def _pieces():
    yield "first line\n"
    yield b"second line\n"
    raise Boom("the disk filled up half-way")


def test_text_bytes_and_pieces(tmp_path: Path):
    target = tmp_path / "sub" / "out.txt"  # the folder is made
    write_atomic(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    write_atomic(target, (f"{i}\n" for i in range(3)), fsync=True)
    assert target.read_text() == "0\n1\n2\n"
    assert os.listdir(target.parent) == ["out.txt"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # a plain write's mode, not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "run.trec"
    target.write_text("old content\n")
    with pytest.raises(Boom):
        write_atomic(target, _pieces())
    assert target.read_text() == "old content\n"
    assert os.listdir(tmp_path) == ["run.trec"]
    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Boom
    assert target.read_text() == "old content\n" and os.listdir(tmp_path) == ["run.trec"]


def test_folders_replace_or_keep_the_first(tmp_path: Path):
    target = tmp_path / "index"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with atomic_path(target, directory=True) as tmp:  # overwrite: the new folder replaces the old
        (tmp / "b").write_text("2")
    assert sorted(os.listdir(target)) == ["b"]
    with atomic_path(target, directory=True, overwrite=False) as tmp:  # a concurrent builder lost
        (tmp / "c").write_text("3")
    assert sorted(os.listdir(target)) == ["b"]
    with pytest.raises(Boom), atomic_path(target, directory=True) as tmp:
        (tmp / "d").write_text("4")
        raise Boom
    assert sorted(os.listdir(target)) == ["b"] and os.listdir(tmp_path) == ["index"]
