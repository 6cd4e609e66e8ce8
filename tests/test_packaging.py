"""Both a regular and an editable install give the four import names, and no top-level
``core`` or ``training`` package is installed (DESIGN.md, Layout)."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAMES = ("reasonrank", "reasonrank.training", "llama_index_reasonrank", "haystack_reasonrank")
PROBE = (
    "import importlib, importlib.util, json, sys\n"
    f"names = {NAMES!r}\n"
    # find_spec gives where each name resolves without importing the frameworks it wraps
    # (the editable venv below has none of the optional dependencies).
    "mods = {n: importlib.util.find_spec(n).origin for n in names}\n"
    "stray = [n for n in ('core', 'training') if importlib.util.find_spec(n)]\n"
    "from reasonrank.presets import list_presets\n"
    "from reasonrank.prompts import load_prompt\n"
    "load_prompt('reasonrank')\n"
    "print(json.dumps({'mods': mods, 'stray': stray, 'presets': len(list_presets())}))\n"
)


def _probe(python: str, cwd: Path, env_path: str | None = None) -> dict:
    import json
    import os

    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if env_path:
        env["PYTHONPATH"] = env_path
    out = subprocess.run([python, "-c", PROBE], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_regular_install_gives_the_four_import_names(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    assert (target / "reasonrank" / "training" / "rewards.py").is_file()
    assert (target / "reasonrank" / "training" / "distill" / "run.py").is_file()  # subpackages are listed
    assert (target / "reasonrank" / "prompts" / "reasonrank.toml").is_file()
    assert not (target / "core").exists() and not (target / "training").exists()
    # Other dependencies come from this environment; the package itself only from the target.
    info = _probe(sys.executable, tmp_path, env_path=str(target))
    assert set(info["mods"]) == set(NAMES)
    assert all(str(target) in path for path in info["mods"].values())
    assert info["stray"] == [] and info["presets"] > 0


@pytest.mark.slow
def test_editable_install_gives_the_four_import_names(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    # The fresh venv's own setuptools (from ensurepip) may predate PEP 660 editable installs.
    subprocess.run([python, "-m", "pip", "install", "-q", "setuptools>=68", "wheel"],
                   check=True, capture_output=True, timeout=300)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    info = _probe(python, tmp_path)
    assert set(info["mods"]) == set(NAMES)
    assert info["mods"]["reasonrank"] == str(REPO / "core" / "__init__.py")
    assert info["mods"]["reasonrank.training"] == str(REPO / "training" / "__init__.py")
    assert info["stray"] == [] and info["presets"] > 0
