"""A tiny Qwen2-architecture model with a small tokenizer for the toy task, built locally.

Why a small tokenizer: with Qwen's 151k-token vocabulary a 1M-parameter model spends almost all
of its compute and memory on the output layer (a 300-token window prompt has 45M logits) and
learns its embeddings slowly. A byte-level BPE trained on the toy task's own prompts and teacher
outputs (a few hundred tokens) keeps what matters for the pipeline:

* the **real Qwen2.5 chat template** (taken from the Qwen tokenizer, by default the one inside
  the embedded GGUF that ``reasonrank[embedded]`` ships), with its ``<|im_start|>``/``<|im_end|>``
  special tokens and ``<|im_end|>`` as end of turn, so SFT, GRPO and the rerankers render prompts
  exactly as for a real Qwen model;
* byte-level decoding that gives back the exact text, so the real reward code parses it;
* ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` as ordinary (non-special) added tokens, as
  reasoning Qwen tokenizers have them: decoding with ``skip_special_tokens=True`` (TRL's rollouts
  do) keeps them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from reasonrank.prompts.reasoning import DEFAULT_FORMAT

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TAG_TOKENS = tuple(DEFAULT_FORMAT.tags.values())  # <think> </think> <answer> </answer>


@dataclass(frozen=True)
class ToyModelConfig:
    """Shape of the toy model (Qwen2 architecture)."""

    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 1024
    vocab_size: int = 768


def qwen_chat_template(tokenizer_source: str | Path | None = None) -> str:
    """The Qwen2.5 chat template, from ``tokenizer_source`` (a tokenizer folder or hub id) or, by
    default, from the Qwen tokenizer inside the embedded GGUF (extracted once into the cache)."""
    from transformers import AutoTokenizer

    if tokenizer_source is not None:
        return _saved_template(Path(tokenizer_source)) or AutoTokenizer.from_pretrained(
            str(tokenizer_source)).chat_template
    from reasonrank.testing.tiny_model import qwen_tokenizer_dir

    # The tiny test models' tokenizer folder, so a machine extracts the GGUF tokenizer once.
    target = qwen_tokenizer_dir()
    return _saved_template(target) or AutoTokenizer.from_pretrained(str(target)).chat_template


def _saved_template(folder: Path) -> str | None:
    """The ``chat_template.jinja`` transformers saves next to a tokenizer, if there is one (reading
    it skips loading Qwen's 150k-token tokenizer: 6-12 s on a loaded 2-core machine)."""
    path = folder / "chat_template.jinja"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def train_tokenizer(texts: Iterable[str], *, vocab_size: int, chat_template: str,
                    fixed_phrases: Iterable[str] = ()):
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a ``PreTrainedTokenizerFast``
    with Qwen's special tokens and chat template. Each of ``fixed_phrases`` (the prompt's
    instruction text, identical in every example) becomes one added token: it carries no
    information for a model trained from scratch, and as ~200 BPE tokens it would be most of
    every sequence's compute. It still decodes to the exact text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"], chat_template=chat_template,
    )
    phrases = sorted(set(fixed_phrases), key=len, reverse=True)
    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in (*phrases, *TAG_TOKENS)])
    return fast


def build_toy_model(out_dir: str | Path, texts: Iterable[str], *, seed: int = 0,
                    config: ToyModelConfig = ToyModelConfig(), chat_template: str | None = None,
                    fixed_phrases: Iterable[str] = ()) -> Path:
    """Train the tokenizer on ``texts`` (``fixed_phrases`` as single tokens), build a randomly initialised Qwen2 model, save both to
    ``out_dir`` (loadable with ``AutoModelForCausalLM``/``AutoTokenizer``) and return it."""
    import json

    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size=config.vocab_size, fixed_phrases=fixed_phrases,
                                chat_template=chat_template or qwen_chat_template())
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    shape = {k: v for k, v in asdict(config).items() if k != "vocab_size"}
    # rope_theta and torch_dtype go through Qwen2Config's **kwargs (its typed signature lacks them).
    model_config = Qwen2Config(  # type: ignore[call-arg]
        vocab_size=len(tokenizer), eos_token_id=eos, bos_token_id=None,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True, rope_theta=10000.0,
        torch_dtype="float32", **shape,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(model_config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "toy-model.json").write_text(json.dumps({"seed": seed, **asdict(config)}, indent=2))
    return out
