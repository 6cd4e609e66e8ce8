"""The sentence-transformers engine on real models: the bundled all-MiniLM-L6-v2 and tiny random
BERTs saved with its real tokenizer (a CrossEncoder folder, an e5-style bi-encoder with prompts).
Replies are compared with sentence-transformers' own encode/predict on the same inputs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")

from reasonrank.engines import EncodeRequest, create_engine
from reasonrank.engines.bundled_encoder import FILE_SHA256, bundled_encoder_path, check_files
from reasonrank.engines.encoders import SentenceTransformersEngine, detect_kind, encoder_kind_of
from reasonrank.errors import EngineUnavailableError, InvalidInputError
from reasonrank.testing.tiny_encoder import (
    TINY_PROMPTS,
    plain_encoder_dir,
    tiny_bi_encoder_dir,
    tiny_cross_encoder_dir,
)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformersEngine:
    """float32, to compare with sentence-transformers' own (float32) results to the letter."""
    return SentenceTransformersEngine(dtype="float32")


def test_the_bundled_model_needs_no_hub_and_says_what_it_is(minilm) -> None:
    assert minilm.encoder_kind == "dense" and minilm.model_name == "embedded-minilm"
    assert minilm.max_length == 256 and minilm.similarity == "cosine"
    assert Path(minilm.model_path) == bundled_encoder_path()
    # the hub ids of the same weights resolve to the bundled folder
    assert create_engine("sentence-transformers", model="sentence-transformers/all-MiniLM-L6-v2").model_path == minilm.model_path


def test_embeddings_equal_sentence_transformers_own_encode(minilm) -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    texts = ["how long is the river thames", "The Thames is 346 km long.", "Die Themse fließt durch London."]
    ours = minilm.encode_batch([EncodeRequest(texts[0], role="query")] + [EncodeRequest(t) for t in texts[1:]])
    ref = SentenceTransformer(str(bundled_encoder_path()), device="cpu").encode(texts)
    assert np.allclose([e.vector for e in ours], ref, atol=1e-5)
    assert all(e.prompt_tokens > 2 and not e.truncated for e in ours)


def test_inputs_over_the_maximum_are_truncated_and_flagged(minilm) -> None:
    long = " ".join(["river"] * 400)
    short, cut = minilm.encode_batch([EncodeRequest("river"), EncodeRequest(long)])
    assert not short.truncated and cut.truncated and cut.prompt_tokens == 256


def test_the_models_own_prompts_are_used_by_role() -> None:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    engine = SentenceTransformersEngine(str(tiny_bi_encoder_dir()), dtype="float32")
    ref = SentenceTransformer(str(tiny_bi_encoder_dir()), device="cpu")
    q, p = engine.encode_batch([EncodeRequest("rivers", role="query"), EncodeRequest("rivers")])
    assert np.allclose(q.vector, ref.encode(TINY_PROMPTS["query"] + "rivers"), atol=1e-5)
    assert np.allclose(p.vector, ref.encode(TINY_PROMPTS["document"] + "rivers"), atol=1e-5)
    assert not np.allclose(q.vector, p.vector)  # same text, other prompt
    # an explicit prompt overrides the model's
    override = SentenceTransformersEngine(str(tiny_bi_encoder_dir()), query_prompt="", dtype="float32")
    assert np.allclose(override.encode_batch([EncodeRequest("rivers", role="query")])[0].vector,
                       ref.encode("rivers"), atol=1e-5)


@pytest.mark.parametrize("labels", [1, 2])
def test_cross_encoder_scores_are_its_logits(labels: int) -> None:
    import math

    import torch
    from sentence_transformers import CrossEncoder

    folder = tiny_cross_encoder_dir(num_labels=labels)
    engine = SentenceTransformersEngine(str(folder), dtype="float32")
    assert engine.encoder_kind == "cross"
    pairs = [("rivers of europe", "The Danube flows through ten countries."), ("rivers", "")]
    ours = engine.encode_batch([EncodeRequest(q, pair=p) for q, p in pairs])
    logits = CrossEncoder(str(folder), device="cpu").predict(pairs, activation_fn=torch.nn.Identity())
    for enc, row in zip(ours, logits):
        if labels == 1:
            assert enc.score == pytest.approx(float(row), abs=1e-5)
        else:  # log p(last label)
            expected = float(row[-1]) - math.log(sum(math.exp(float(v)) for v in row))
            assert enc.score == pytest.approx(expected, abs=1e-5)


def test_folder_kinds_are_detected_from_their_files(tmp_path) -> None:
    assert detect_kind(bundled_encoder_path()) == "dense"
    assert detect_kind(tiny_bi_encoder_dir()) == "dense"
    assert detect_kind(plain_encoder_dir()) == "dense"  # a bare BERT: mean pooling
    assert detect_kind(tiny_cross_encoder_dir()) == "cross"
    # sentence-transformers v5+ writes a modules.json for cross-encoders too
    from sentence_transformers import CrossEncoder

    CrossEncoder(str(tiny_cross_encoder_dir())).save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "modules.json").is_file() and detect_kind(tmp_path / "saved") == "cross"
    assert encoder_kind_of("embedded-minilm") == "dense" and encoder_kind_of("Qwen/Qwen2.5-7B") is None


def test_a_folder_of_the_wrong_kind_is_one_clear_error_before_any_query() -> None:
    with pytest.raises(InvalidInputError, match="cross-encoder"):
        SentenceTransformersEngine(str(tiny_bi_encoder_dir()), kind="cross")
    with pytest.raises(InvalidInputError, match="bi-encoder"):
        SentenceTransformersEngine(str(tiny_cross_encoder_dir()), kind="dense")


def test_missing_corrupt_and_generative_folders_are_clear_errors(tmp_path, tiny_model_path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        SentenceTransformersEngine(str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="not a model folder"):
        SentenceTransformersEngine(str(empty))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_cross_encoder_dir(), broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(EngineUnavailableError, match="could not load .* as a cross-encoder"):
        SentenceTransformersEngine(str(broken))
    garbled = tmp_path / "garbled"
    shutil.copytree(tiny_cross_encoder_dir(), garbled)
    (garbled / "config.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="unreadable model configuration"):
        SentenceTransformersEngine(str(garbled))
    with pytest.raises(InvalidInputError, match="generative model"):
        SentenceTransformersEngine(str(tiny_model_path))


def test_a_damaged_bundled_file_is_named(tmp_path) -> None:
    copy = tmp_path / "minilm"
    shutil.copytree(bundled_encoder_path(), copy)
    check_files(copy, FILE_SHA256)  # intact: no error
    (copy / "vocab.txt").write_text("changed")
    (copy / "modules.json").unlink()
    with pytest.raises(EngineUnavailableError, match=r"modules.json is missing; vocab.txt has SHA-256"):
        check_files(copy, FILE_SHA256)


def test_the_encoder_engine_refuses_generation_clearly(minilm) -> None:
    from reasonrank.engines.base import ChatRequest, SamplingParams

    with pytest.raises(EngineUnavailableError, match="cannot generate"):
        minilm.generate([ChatRequest.of([{"role": "user", "content": "hi"}])], SamplingParams())
    assert minilm.count_tokens("river thames") == 2
    assert minilm.truncate_tokens("one two three four", 2) == "one two"


@pytest.mark.parametrize("options", [{"quantize": "int8"}, {"dtype": "bfloat16"}])
def test_faster_precisions_keep_a_clear_ranking(minilm, options) -> None:
    fast = SentenceTransformersEngine(**options)
    texts = [EncodeRequest("rivers in europe", role="query"), EncodeRequest("The Danube is a river in Europe."),
             EncodeRequest("A recipe for apple pie."), EncodeRequest("Stock prices fell on Monday.")]
    for engine in (minilm, fast):
        q, *ps = engine.encode_batch(texts)
        sims = [sum(a * b for a, b in zip(q.vector, p.vector)) for p in ps]
        assert sims[0] == max(sims)
    assert fast.describe()["quantize" if "quantize" in options else "dtype"] == next(iter(options.values()))
    with pytest.raises(InvalidInputError, match="quantize"):
        SentenceTransformersEngine(quantize="int4")
    with pytest.raises(InvalidInputError, match="dtype"):
        SentenceTransformersEngine(dtype="float7")
    with pytest.raises(InvalidInputError, match="cannot be quantized"):
        SentenceTransformersEngine(dtype="bfloat16", quantize="int8")


def test_auto_precision_is_bfloat16_only_where_the_hardware_runs_it() -> None:
    import torch
    from reasonrank.engines.encoders import native_bf16

    auto = SentenceTransformersEngine()
    assert auto.dtype == ("bfloat16" if native_bf16(torch, "cpu") else "float32")
    assert SentenceTransformersEngine(quantize="int8").dtype == "float32"
