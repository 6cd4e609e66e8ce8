"""The code blocks of README.md and docs/ are checked, so the documentation cannot drift from
the code.

A block marked on the line above it is not run: ``<!-- needs: gpu -->`` (a CUDA GPU),
``network`` (a running server, a hub, a download CI does not make), ``data`` (the reader's own
files or objects, e.g. a vector store) or ``slow`` (a benchmark run of many minutes, which its
own test covers); every other command or Python block is run. For all of them, marked or not, every ``reasonrank`` command line is parsed by
the real CLI parser (flags, choices, preset names), every ``pip install`` names extras that
exist, every ``python examples/...`` call uses flags the example has, and every script exists. A
block marked ``<!-- output -->`` is the output of the runnable block before it and is compared
with what that block really prints. Runnable blocks use the no-option default model, so this
costs a model load per block (about a minute in all on 2 CPU cores with the model cached).
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_LANGS = {"bash", "sh", "shell", "console"}
PYTHON_LANGS = {"python", "py"}
NEEDS = {"gpu", "network", "data", "slow"}
MARK = re.compile(r"^<!--\s*(needs|output)\s*:?\s*([\w ,-]*?)\s*-->$")
FENCE = re.compile(r"^(\s*)```(\w*)")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    needs: set[str] = field(default_factory=set)
    output: bool = False

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return not self.needs and not self.output and self.lang in COMMAND_LANGS | PYTHON_LANGS


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page with the marker on the line above each, if any."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, lang = fence.group(1), fence.group(2).lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i].removeprefix(indent))
            i += 1
        i += 1
        block = Block(page, start + 1, lang, "\n".join(body) + "\n")
        above = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(above)
        if mark and mark.group(1) == "output":
            block.output = True
        elif mark:
            block.needs = {w.strip() for w in mark.group(2).split(",") if w.strip()}
        blocks.append(block)
    return blocks


BLOCKS = [b for page in PAGES for b in read_blocks(page)]


def command_lines(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    logical: list[str] = []
    for line in joined.splitlines():  # a quoted argument may span lines: keep them together
        if logical and _open_quote(logical[-1]):
            logical[-1] += " " + line.strip()
        else:
            logical.append(line)
    out = []
    for line in logical:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
        line = re.sub(r"\s&$", "", line)  # run in the background
        out.extend(part.strip() for part in re.split(r"\s&&\s|;\s", line) if part.strip())
    return out


def _open_quote(line: str) -> bool:
    """Whether ``line`` ends inside a quoted string."""
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return True
    return False


def argv_of(command: str) -> list[str]:
    """The argv of a command line, a `.venv/bin/` prefix dropped."""
    argv = shlex.split(command, comments=True)
    if argv and argv[0].startswith(".venv/bin/"):
        argv[0] = argv[0].removeprefix(".venv/bin/")
    return argv


def kind_of(argv: list[str]) -> str:
    if not argv:
        return "empty"
    if argv[0] == "reasonrank":
        return "reasonrank"
    if argv[:2] == ["pip", "install"] or argv[:4] == ["python", "-m", "pip", "install"]:
        return "pip"
    if argv[0] in ("python", "python3") and len(argv) > 1 and argv[1].startswith("examples/"):
        return "example"
    if argv[0] == "bash" and len(argv) > 1 and argv[1].startswith("scripts/"):
        return "script"
    return "other"


def extras() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(data["project"]["optional-dependencies"])


def test_the_pages_have_checked_blocks():
    assert len(PAGES) >= 10
    assert sum(b.runnable for b in BLOCKS) >= 5
    assert all(not b.needs or b.needs <= NEEDS for b in BLOCKS), [(b.where, b.needs) for b in BLOCKS if b.needs - NEEDS]


def test_every_unmarked_command_is_one_the_tests_can_run_or_check():
    bad = []
    for b in BLOCKS:
        if b.runnable and b.lang in COMMAND_LANGS:
            bad += [f"{b.where}: {c}" for c in command_lines(b.code) if kind_of(argv_of(c)) == "other"]
    assert not bad, "commands that need a marker (<!-- needs: gpu|network|data|slow -->):\n" + "\n".join(bad)


def test_every_reasonrank_command_parses_with_the_real_cli():
    from reasonrank.cli import build_parser
    from reasonrank.presets import list_presets

    parser = build_parser()
    presets = set(list_presets())
    checked = 0
    for b in BLOCKS:
        if b.lang not in COMMAND_LANGS:
            continue
        for command in command_lines(b.code):
            argv = argv_of(command)
            if kind_of(argv) != "reasonrank" or argv[1:] in (["--help"], ["--version"]):
                continue
            argv = ["x" if a == "..." else a for a in argv[1:]]  # a placeholder value
            try:
                args = parser.parse_args(argv)
            except (SystemExit, argparse.ArgumentError):
                pytest.fail(f"{b.where}: the CLI refuses: {command}")
            preset = getattr(args, "preset", None)
            if preset and not preset.endswith(".toml"):
                assert preset in presets, f"{b.where}: no preset {preset!r}: {command}"
            checked += 1
    assert checked >= 15


def test_every_pip_install_names_extras_that_exist():
    known = extras()
    for b in BLOCKS + [Block(p, 0, "python", p.read_text()) for p in (REPO / "examples").glob("*.py")]:
        for names in re.findall(r"reasonrank\[([\w,.-]+)\]|\.\[([\w,.-]+)\]", b.code):
            for extra in filter(None, ",".join(names).split(",")):
                assert extra in known, f"{b.where}: no extra {extra!r}"


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*_rag.py")))
def test_example_install_line_covers_what_it_imports(example):
    """An example's "Needs: pip install" line names extras that bring what it runs: its
    framework, and llama.cpp (its default engine answers with the embedded model)."""
    source = (REPO / "examples" / example).read_text()
    line = re.search(r'pip install "reasonrank\[([\w,.-]+)\]"', source)
    assert line, f"{example}: no install line"
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def closure(names: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for req in data.get(name, []):
                inner = re.match(r"reasonrank\[([\w,.-]+)\]", req)
                if inner:
                    todo += inner.group(1).split(",")
        return seen

    have = closure(line.group(1).split(","))
    needed = {"llamacpp"}
    needed |= {"haystack"} if re.search(r"^\s*(from|import) haystack", source, re.MULTILINE) else set()
    needed |= {"llama-index"} if re.search(r"^\s*(from|import) llama_index", source, re.MULTILINE) else set()
    assert needed <= have, f"{example}: its install line lacks {needed - have}"


def test_example_calls_use_flags_the_examples_have():
    helps: dict[str, str] = {}
    for b in BLOCKS:
        if b.lang not in COMMAND_LANGS:
            continue
        for command in command_lines(b.code):
            argv = argv_of(command)
            if kind_of(argv) != "example":
                continue
            script = REPO / argv[1]
            assert script.is_file(), f"{b.where}: no {argv[1]}"
            if argv[1] not in helps:
                proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                      cwd=REPO, timeout=120, check=False)
                assert proc.returncode == 0, proc.stderr[-2000:]
                helps[argv[1]] = proc.stdout
            for flag in (a.split("=")[0] for a in argv[2:] if a.startswith("--")):
                assert flag in helps[argv[1]], f"{b.where}: {argv[1]} has no {flag}"


def test_scripts_named_in_the_docs_exist():
    for b in BLOCKS:
        if b.lang in COMMAND_LANGS:
            for command in command_lines(b.code):
                argv = argv_of(command)
                if kind_of(argv) == "script":
                    assert (REPO / argv[1]).is_file(), f"{b.where}: no {argv[1]}"


def test_yaml_blocks_load():
    for b in BLOCKS:
        if b.lang == "yaml":
            assert yaml.safe_load(b.code) is not None, b.where


def run_block(b: Block) -> str:
    """Run a runnable block from the repository root; its stdout."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    if b.lang in PYTHON_LANGS:
        cmd = [sys.executable, "-c", b.code]
    else:
        cmds = [c for c in command_lines(b.code) if kind_of(argv_of(c)) == "reasonrank"]
        cmd = ["bash", "-euo", "pipefail", "-c", "\n".join(" ".join(shlex.quote(a) for a in argv_of(c)) for c in cmds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600, check=False)
    assert proc.returncode == 0, f"{b.where} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(-?[\d.]+)\s+(\S+)")


def same_output(expected: str, actual: str) -> None:
    """Rows of a ranking (rank, input rank, id) must match; a Python result line exactly; lines
    with timings or an ellipsis are not compared."""
    got = actual.splitlines()
    for line in expected.splitlines():
        if not line.strip() or "..." in line or "seconds" in line:
            continue
        row = ROW.match(line)
        if row:
            match = [g for g in got if (m := ROW.match(g)) and m.group(1) == row.group(1)]
            assert match, f"no row {row.group(1)} in:\n{actual}"
            m = ROW.match(match[0])
            assert m is not None and (m.group(2), m.group(4)) == (row.group(2), row.group(4)), (line, match[0])
        else:
            assert line.rstrip() in [g.rstrip() for g in got], f"{line!r} not in:\n{actual}"


RUNNABLE = [b for b in BLOCKS if b.runnable]


@pytest.mark.embedded
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_runnable_block_runs_and_prints_its_documented_output(block):
    out = run_block(block)
    index = BLOCKS.index(block)
    following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else None
    if following is not None and following.output and following.page == block.page:
        same_output(following.code, out)
