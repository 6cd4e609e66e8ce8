"""The repository speaks of the library, not of the machines it was built on: no absolute paths
of a development machine in code, scripts or documents, and the benchmarks find their data
through an argument or an environment variable a user can set."""
from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Paths of a development checkout and the shared data beside it; "/tmp/<something>/" folders a
# benchmark once defaulted to.
FORBIDDEN = re.compile(r"/work/(shared|main|wt-|venv)|\.\./shared/data|/tmp/cold/|\.gpu/\d")
SUFFIXES = {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".txt"}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = [REPO / f for f in out.splitlines()]
    # recorded raw outputs of past runs are data, kept as they were written
    return [f for f in files if f.suffix in SUFFIXES and "/results/" not in str(f.relative_to(REPO)) and f.is_file()]


def test_no_development_machine_paths():
    hits = []
    for path in tracked_files():
        if path == Path(__file__):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if FORBIDDEN.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert not hits, "\n".join(hits)


def test_benchmarks_read_dl19_from_the_environment_or_a_relative_default(monkeypatch):
    from reasonrank.testing import bench_inputs

    monkeypatch.delenv(bench_inputs.DL19_ENV, raising=False)
    assert importlib.reload(bench_inputs).DL19 == Path("data/trec-dl19")
    monkeypatch.setenv(bench_inputs.DL19_ENV, "/data/dl19")
    assert importlib.reload(bench_inputs).DL19 == Path("/data/dl19")
    monkeypatch.delenv(bench_inputs.DL19_ENV)
    importlib.reload(bench_inputs)
