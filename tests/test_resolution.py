"""One resolution (issue 36 item 4): a spec becomes its engine description in one function, which
building and a cascade's engine sharing both use; credentials take part in the key by their
value's equality, never their printed form; spec, factory and cascade import no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.methods.cascade import CascadeReranker
from reasonrank.resolution import EngineDescription, describe_engine
from reasonrank.secret import Secret
from reasonrank.spec import RerankerSpec

CORE = Path(__file__).resolve().parents[1] / "core"
CANARY = "sk-canary-36-4-do-not-print"
DOCS = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(6)]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Every engine the resolution creates (a model load), as (name, options); each a scripted
    engine that answers listwise and relevance requests."""
    made: list[tuple[str, dict]] = []

    def create(name: str, **options: object) -> ScriptedEngine:
        made.append((name, options))
        return ScriptedEngine(lambda r: "<answer>[1] > [2]</answer>", lambda r, choices: {c: -1.0 for c in choices})

    monkeypatch.setattr("reasonrank.resolution.create_engine", create)
    return made


def cascade(*stages: dict, **spec: object) -> RerankerSpec:
    return RerankerSpec(method="cascade", cache=False, method_options={"stages": list(stages), "depths": [6, 3]},
                        **spec)  # type: ignore[arg-type]


def test_transformers_and_embedded_hf_stages_on_one_model_load_it_once(loads) -> None:
    spec = cascade({"method": "relevance", "engine": "transformers", "model": "embedded-1.5b"},
                   {"method": "listwise", "engine": "embedded-hf", "model": "embedded-1.5b"})
    reranker = spec.build()
    assert isinstance(reranker, CascadeReranker)
    assert loads == [("embedded-hf", {"model": "embedded-1.5b"})]  # one engine, one load
    assert reranker.stages[0].engine is reranker.stages[1].engine
    result = reranker.rerank("q", DOCS)
    assert sorted(result.ids) == sorted(d["id"] for d in DOCS)


def test_the_description_is_what_is_built(loads) -> None:
    spec = RerankerSpec(method="listwise", engine="transformers", model="embedded-1.5b", cache=False)
    description = describe_engine(spec)
    assert (description.name, description.model) == ("embedded-hf", "embedded-1.5b")
    spec.build_engine()
    assert loads == [(description.name, {"model": description.model})]


def test_credentials_key_by_their_value_never_by_their_printed_form(loads) -> None:
    def described(key: object) -> EngineDescription:
        return RerankerSpec(engine="openai", model="m", base_url="http://x/v1", cache=False,
                            engine_options={"api_key": key}).engine_description()

    one, same, other = described(CANARY), described(Secret.from_token(CANARY)), described("sk-another")
    assert one == same and hash(one) == hash(same)
    assert one != other  # both print as Secret(**********): a printed key would merge them
    assert one != described(Secret.from_env_var("RR_TEST_KEY"))
    assert CANARY not in repr(one.key) and CANARY not in str(one)
    # a cascade whose stages send different keys upstream builds two engines
    spec = cascade({"method": "listwise", "engine_options": {"api_key": CANARY}},
                   {"method": "listwise", "engine_options": {"api_key": "sk-another"}},
                   engine="openai", model="m", base_url="http://x/v1")
    reranker = spec.build()
    assert len(loads) == 2 and reranker.stages[0].engine is not reranker.stages[1].engine


def test_a_spec_and_a_method_reject_a_bad_shared_option_alike() -> None:
    from reasonrank.methods.listwise import ListwiseReranker

    for bad in ({"on_error": "ignore"}, {"on_parse_error": "skip"}, {"depth": 0}):
        with pytest.raises(InvalidInputError) as from_spec:
            RerankerSpec(**bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError) as from_method:
            ListwiseReranker(ScriptedEngine(), **bad)  # type: ignore[arg-type]
        assert str(from_spec.value) == str(from_method.value)


# -- no import cycle among the spec, the factory, the resolution and the cascade ------------------
def _module(path: Path) -> str:
    parts = ["reasonrank", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """What importing or running the module imports (function-level imports included; those
    under ``if TYPE_CHECKING`` are not run); ``a.b.c`` also imports the package ``a.b``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            found.update(".".join(parts[:k]) for k in range(2, len(parts) + 1))
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("module", ["reasonrank.spec", "reasonrank.factory", "reasonrank.resolution",
                                    "reasonrank.methods.cascade_spec", "reasonrank.methods.cascade"])
def test_no_import_cycle_through(module: str) -> None:
    files = {_module(p): p for p in CORE.rglob("*.py")}
    graph = {m: {i for i in _runtime_imports(p) if i in files and i != m} for m, p in files.items()}
    seen, todo = set(), [module]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert module not in seen, f"{module} imports itself back"
