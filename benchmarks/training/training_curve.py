"""Training shown to learn: the toy chain synthesize -> SFT -> GRPO, with its curves, per seed.

Runs :func:`reasonrank.training.toy_chain.run_toy_chain` (toy task and model documented in
``training/toy_task.py`` and ``training/toy_model.py``): a rule-based teacher labels the train
split through ``train synthesize``'s code path and self-consistency filter, a tiny Qwen2-shaped
model (real Qwen2.5 chat template, small BPE) is fine-tuned on the kept examples, then trained
with GRPO on the multi-view reward + format reward. After each stage the held-out split is
scored (format rate, nDCG@10, mean multi-view reward under greedy decoding) next to the
random-order baseline. Each seed draws its own task, model init and training order.

    .venv/bin/python benchmarks/training/training_curve.py --seeds 0 1 2          # CPU, the chain's defaults
    python3 benchmarks/training/training_curve.py --device cuda --size gpu --seeds 0 1 2 --max-minutes 3.3 \\
        --chat-template-from QWEN_TOKENIZER_FOLDER --out $OUT --name training_curve_gpu  # a GPU

Writes ``<name>.json`` (one report per seed + a summary + the machine) and ``<name>.png`` (SFT
loss, GRPO reward per step, held-out metrics per stage; all seeds) to
``benchmarks/training/results/`` or ``--out``. The JSON is rewritten after every seed, so a run cut short keeps the finished seeds.
Exit status: 0 ok, 1 on any error, 2 for bad arguments (e.g. ``--device cuda`` without a GPU).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# --size gpu: what changes for a GPU run (the rest is the chain's CPU defaults). Sized for an
# H100 to finish 3 seeds in about 3-4 minutes (estimated, not measured: HF generate of ~50
# tokens dominates a GRPO step); --max-minutes skips seeds that would not fit.
GPU_SIZE: dict[str, Any] = {
    "train_queries": 1200, "heldout_queries": 100, "rl_examples": 600,
    "model": {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
              "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 32},
    # ~360 SFT steps: on CPU the 2-layer model needed ~240 to get past its plateau (every
    # <think> count 0) to format >= 0.92.
    "sft": {"num_train_epochs": 10.0, "per_device_train_batch_size": 32, "learning_rate": 2e-3},
    # 8 prompts x 8 rollouts a step: less step-to-step noise than the CPU run's 4 prompts.
    "grpo": {"max_steps": 50, "per_device_train_batch_size": 64, "learning_rate": 2e-4},
}


def plot(reports: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for rep in reports:
        seed = rep["settings"]["seed"]
        losses = rep["sft"]["losses"]
        axes[0].plot(range(1, len(losses) + 1), losses, label=f"seed {seed}")
        curve = rep["grpo"]["curve"]
        steps = [c["step"] for c in curve]
        mean = [c["reward"] for c in curve]
        std = [c.get("reward_std", 0.0) for c in curve]
        line, = axes[1].plot(steps, mean, label=f"seed {seed}")
        axes[1].fill_between(steps, [m - s for m, s in zip(mean, std)],
                             [m + s for m, s in zip(mean, std)], alpha=0.12, color=line.get_color())
    axes[0].set(title="SFT loss (completion tokens)", xlabel="logged step", ylabel="loss", yscale="log")
    axes[0].legend(fontsize=8)
    axes[1].set(title="GRPO rollout reward (multi-view + 0.5 x format), ± std in groups",
                xlabel="step", ylabel="mean reward")
    axes[1].legend(fontsize=8)

    ax = axes[2]
    stages = ["base", "sft", "grpo"]
    for k, (metric, offset) in enumerate((("format_rate", -0.2), ("ndcg10", 0.2))):
        means = [sum(r["heldout"][s][metric] for r in reports) / len(reports) for s in stages]
        ax.bar([i + offset for i in range(3)], means, width=0.4, color=f"C{k}",
               label=f"{metric} (mean over seeds)")
        for r in reports:
            ax.scatter([i + offset for i in range(3)], [r["heldout"][s][metric] for s in stages],
                       color="black", s=8, zorder=3)
    baseline = sum(r["random_order_ndcg10"] for r in reports) / len(reports)
    ax.axhline(baseline, color="gray", ls="--", label="random-order nDCG@10")
    ax.set_xticks(range(3), stages)
    ax.set(title="held-out (greedy); dots: seeds", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed: held-out numbers per stage and the GRPO reward trend; and how many seeds rose."""
    rows = []
    for r in reports:
        curve = r["grpo"]["curve"]
        rows.append({
            "seed": r["settings"]["seed"],
            "heldout": {s: {k: r["heldout"][s][k] for k in ("format_rate", "ndcg10", "mean_reward")}
                        for s in ("base", "sft", "grpo")},
            "random_order_ndcg10": r["random_order_ndcg10"],
            "grpo_trend": r["grpo"]["trend"],
            "steps_with_reward_std": sum(c.get("reward_std", 0) > 0 for c in curve),
            "grpo_steps": len(curve),
            "timings": r["timings"],
        })
    rose = sum(t["grpo_trend"]["last_quarter"] > t["grpo_trend"]["first_quarter"]
               and t["grpo_trend"]["slope_per_step"] > 0 for t in rows)
    return {"seeds": rows, "seeds_with_reward_rise": rose}


def print_seed(rep: dict[str, Any]) -> None:
    held, curve = rep["heldout"], rep["grpo"]["curve"]
    print(f"== seed {rep['settings']['seed']}  synthesis: {rep['synthesis']}")
    print(f"random-order nDCG@10: {rep['random_order_ndcg10']:.3f}")
    for stage in ("base", "sft", "grpo"):
        h = held[stage]
        print(f"{stage:>5}: format rate {h['format_rate']:.2f}  nDCG@10 {h['ndcg10']:.3f}  "
              f"mean reward {h['mean_reward']:.3f}")
    for name in ("trend", "format_trend"):
        t = rep["grpo"][name]
        print(f"GRPO {name}: first quarter {t['first_quarter']:.3f} -> last quarter "
              f"{t['last_quarter']:.3f}, slope {t['slope_per_step']:+.4f}/step over {t['steps']} steps")
    print(f"steps with reward std > 0: {sum(c.get('reward_std', 0) > 0 for c in curve)}/{len(curve)}")
    print(f"timings (s): { {k: round(v, 1) for k, v in rep['timings'].items()} }", flush=True)


def build_settings(args: argparse.Namespace, seed: int):
    from reasonrank.training.toy_chain import ToyChainSettings

    settings = ToyChainSettings(seed=seed, device=args.device,
                                chat_template_source=args.chat_template_from)
    if args.size == "gpu":
        for key, value in GPU_SIZE.items():
            current = getattr(settings, key)
            setattr(settings, key, current | value if isinstance(current, dict) else value)
    if args.device == "cuda":
        settings.threads = None
    for key in ("train_queries", "heldout_queries"):
        if getattr(args, key) is not None:
            setattr(settings, key, getattr(args, key))
    if args.sft_epochs is not None:
        settings.sft["num_train_epochs"] = args.sft_epochs
    if args.grpo_steps is not None:
        settings.grpo["max_steps"] = args.grpo_steps
    if args.grpo_lr is not None:
        settings.grpo["learning_rate"] = args.grpo_lr
    return settings


def combine(paths: list[str], out: Path, name: str) -> int:
    """One summary and plot over seeds that ran as separate commands (e.g. side by side)."""
    reports = [run for path in paths for run in json.loads(Path(path).read_text(encoding="utf-8"))["runs"]]
    result = {"summary": summarize(reports), "combined_from": [Path(p).name for p in paths]}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    plot(reports, out / f"{name}.png")
    print(f"GRPO reward rose on {result['summary']['seeds_with_reward_rise']}/{len(reports)} seeds; "
          f"wrote {out / (name + '.json')} and .png")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one chain per seed (default: 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--size", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: the chain's defaults; gpu: larger model, more data and GRPO steps")
    p.add_argument("--train-queries", type=int, default=None, help="default: the size's")
    p.add_argument("--heldout-queries", type=int, default=None, help="default: the size's")
    p.add_argument("--sft-epochs", type=float, default=None, help="default: the size's")
    p.add_argument("--grpo-steps", type=int, default=None, help="default: the size's")
    p.add_argument("--grpo-lr", type=float, default=None, help="default: the size's")
    p.add_argument("--chat-template-from", default=None, metavar="DIR",
                   help="Qwen tokenizer folder for the chat template (default: the embedded GGUF's)")
    p.add_argument("--work-dir", default=None, help="keep checkpoints here (default: a temp dir)")
    p.add_argument("--out", default=None, help=f"results folder (default: {RESULTS})")
    p.add_argument("--name", default="training_curve", help="results file stem")
    p.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                   help="run nothing: merge the runs of these results files into <name>.json/.png")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="start no further seed when another one (as long as the longest so far) "
                        "would end past this many minutes")
    args = p.parse_args(argv)

    if args.combine:
        return combine(args.combine, Path(args.out) if args.out else RESULTS, args.name)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # TRL trains on any visible GPU; keep this on CPU
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    from reasonrank.training.toy_chain import run_toy_chain

    out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "device": args.device,
               "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
               "torch": torch.__version__}
    reports: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for seed in args.seeds:
        elapsed = time.perf_counter() - t_all
        longest = max((r["wall_s"] for r in reports), default=0.0)
        if args.max_minutes is not None and reports and elapsed + longest > 60 * args.max_minutes:
            print(f"stopping before seed {seed}: another seed (~{longest:.0f} s) would pass "
                  f"--max-minutes {args.max_minutes}", flush=True)
            break
        settings = build_settings(args, seed)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work_dir) / f"seed{seed}" if args.work_dir else Path(tmp)
            report = run_toy_chain(work, settings)
        report["wall_s"] = time.perf_counter() - t0
        reports.append(report)
        print_seed(report)
        machine["load_avg_at_end"] = os.getloadavg()
        if args.device == "cpu":
            machine["note"] = "2 CPU cores shared with other jobs"
        result = {"summary": summarize(reports), "runs": reports, "machine": machine,
                  "wall_s": time.perf_counter() - t_all, "argv": sys.argv[1:]}
        (out / f"{args.name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        plot(reports, out / f"{args.name}.png")
    summary = summarize(reports)
    print(f"GRPO reward rose (last quarter > first and slope > 0) on "
          f"{summary['seeds_with_reward_rise']}/{len(reports)} seeds")
    print(f"wrote {out / (args.name + '.json')} and .png ({time.perf_counter() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
