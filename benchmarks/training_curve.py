"""Training shown to learn: the toy chain synthesize -> SFT -> GRPO, with its curves.

Runs :func:`reasonrank.training.toy_chain.run_toy_chain` (toy task and model documented in
``training/toy_task.py`` and ``training/toy_model.py``): a rule-based teacher labels the train
split through ``train synthesize``'s code path and self-consistency filter, a tiny Qwen2-shaped
model (real Qwen2.5 chat template, small BPE) is fine-tuned on the kept examples, then trained
with GRPO on the multi-view reward + format reward. After each stage the held-out split is
scored (format rate, nDCG@10, mean multi-view reward under greedy decoding) next to the
random-order baseline.

    .venv/bin/python benchmarks/training_curve.py                 # CPU run, ~5 min
    .venv/bin/python benchmarks/training_curve.py --grpo-steps 80 --name training_curve_long

Writes ``benchmarks/results/<name>.json`` (report + machine) and ``<name>.png`` (SFT loss, GRPO
reward and its spread per step, held-out metrics per stage).
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

from reasonrank.training.toy_chain import ToyChainSettings, run_toy_chain

RESULTS = Path(__file__).resolve().parent / "results"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    losses = report["sft"]["losses"]
    axes[0].plot(range(1, len(losses) + 1), losses)
    axes[0].set(title="SFT loss (completion tokens)", xlabel="step", ylabel="loss")

    curve = report["grpo"]["curve"]
    steps = [c["step"] for c in curve]
    mean = [c["reward"] for c in curve]
    std = [c.get("reward_std", 0.0) for c in curve]
    ax = axes[1]
    ax.plot(steps, mean, label="reward (multi-view + 0.5 x format)")
    ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                    alpha=0.2, label="± reward std within groups")
    if curve and "rewards/listwise_rewards/mean" in curve[0]:
        ax.plot(steps, [c["rewards/listwise_rewards/mean"] for c in curve], label="multi-view reward")
    if curve and "rewards/format_rewards/mean" in curve[0]:
        ax.plot(steps, [c["rewards/format_rewards/mean"] for c in curve], label="format reward (0/1)")
    ax.set(title="GRPO rollouts", xlabel="step", ylabel="reward")
    ax.legend(fontsize=8)

    ax = axes[2]
    stages = ["base", "sft", "grpo"]
    held = report["heldout"]
    x = range(len(stages))
    ax.bar([i - 0.2 for i in x], [held[s]["format_rate"] for s in stages], width=0.4, label="format rate")
    ax.bar([i + 0.2 for i in x], [held[s]["ndcg10"] for s in stages], width=0.4, label="nDCG@10")
    ax.axhline(report["random_order_ndcg10"], color="gray", ls="--", label="random-order nDCG@10")
    ax.set_xticks(list(x), stages)
    ax.set(title="held-out (greedy)", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-queries", type=int, default=240)
    p.add_argument("--heldout-queries", type=int, default=60)
    p.add_argument("--sft-epochs", type=float, default=None, help="default: the chain's")
    p.add_argument("--grpo-steps", type=int, default=None, help="default: the chain's")
    p.add_argument("--work-dir", default=None, help="keep checkpoints here (default: a temp dir)")
    p.add_argument("--name", default="training_curve", help="results file stem")
    args = p.parse_args(argv)

    settings = ToyChainSettings(seed=args.seed, train_queries=args.train_queries,
                                heldout_queries=args.heldout_queries)
    if args.sft_epochs is not None:
        settings.sft["num_train_epochs"] = args.sft_epochs
    if args.grpo_steps is not None:
        settings.grpo["max_steps"] = args.grpo_steps
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_toy_chain(args.work_dir or tmp, settings)
    report["wall_s"] = time.perf_counter() - t0
    report["machine"] = {
        "platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(),
        "note": "2 CPU cores shared with other jobs",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot(report, RESULTS / f"{args.name}.png")
    held, curve = report["heldout"], report["grpo"]["curve"]
    print(f"synthesis: {report['synthesis']}")
    print(f"random-order nDCG@10: {report['random_order_ndcg10']:.3f}")
    for stage in ("base", "sft", "grpo"):
        h = held[stage]
        print(f"{stage:>5}: format rate {h['format_rate']:.2f}  nDCG@10 {h['ndcg10']:.3f}  "
              f"mean reward {h['mean_reward']:.3f}")
    for name in ("trend", "format_trend"):
        t = report["grpo"][name]
        print(f"GRPO {name}: first quarter {t['first_quarter']:.3f} -> last quarter "
              f"{t['last_quarter']:.3f}, slope {t['slope_per_step']:+.4f}/step over {t['steps']} steps")
    print(f"steps with reward std > 0: {sum(c.get('reward_std', 0) > 0 for c in curve)}/{len(curve)}")
    print(f"wrote {RESULTS / (args.name + '.json')} and .png ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
