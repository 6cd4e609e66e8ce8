"""Cost controls on real data (issue 27): TREC DL19, the shipped BM25 top-100, the embedded models.

Each arm is one ``reasonrank eval`` run (a subprocess, so each arm's engine is loaded and freed
on its own, and a stopped run resumes where it stopped), on the same first ``--queries`` judged
queries. The arms, in the order they run:

* ``cheap``: the cascade's cheap stage alone — ``embedded-relevance`` (Rank1-prompt p(true), one
  forward pass per passage, 0.5B) over the top 100. It writes an on-disk result cache.
* ``listwise20``: ``embedded-listwise`` (ReasonRank prompt, 0.5B, as shipped) over the top 20.
* ``cascade``: the ``embedded-cascade`` preset: the cheap stage over the top 100, listwise over its
  top 20. It starts from a copy of ``cheap``'s cache, so its first stage is answered from the
  cache (the same requests); its cost below is its own listwise stage plus the ``cheap`` arm's
  cost of the same query. ``cascade_adaptive`` is the same with ``adaptive=true`` (its own copy
  of ``cheap``'s cache, so its listwise stage is never answered by the fixed cascade's).
* ``budget64_scraped`` / ``budget64_forced``: listwise top 20 at ``reasoning_budget=64`` with
  ``force_answer`` off / on, on the 1.5B model (the 0.5B model wrote no ``<think>`` in any top-20
  window of ``listwise20``, so a budget could not cut its thought), result cache off.
* ``listwise100``: ``embedded-listwise`` over the top 100 (sliding window 20, stride 10: 9 windows
  per query) — the most expensive arm, run last.
* ``dense`` / ``dense_cascade`` / ``dense_cascade_adaptive`` (issue 34): the same cascade arms with a
  cheap stage that ranks — ``embedded-dense`` (the bundled all-MiniLM-L6-v2) over the top 100,
  then ``embedded-listwise`` over the dense top 20 (the ``embedded-dense-cascade`` preset).

The summary adds, for each cheap stage, what the adaptive cascade would do under either rule at
several settings, computed from the saved cheap and fixed-cascade arms (``adaptive_sweep``: the
score-margin rule at several margins, the top-k agreement rule at several k); the arms named
``*_adaptive`` run the preset with ``adaptive=true`` and the library's default rule.

Per arm: nDCG@10 of the reranker and of BM25 on the same queries, generated (completion) tokens,
thinking tokens, forced answers, windows whose ids were taken from an unfinished thought (the
parser's "reasoning not closed" warning), engine seconds, wall seconds, and for cascades the
stages each query ran. Prints a table and writes ``--out`` (JSON).

    .venv/bin/python benchmarks/cost/dl19_arms.py --dataset "$REASONRANK_DL19" --queries 15
    .venv/bin/python benchmarks/cost/dl19_arms.py --queries 15 --arms dense dense_cascade dense_cascade_adaptive
    .venv/bin/python benchmarks/cost/dl19_arms.py --queries 15 --arms listwise100 --report-only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(os.environ.get("REASONRANK_DL19", "dl19"))

# name -> (reranker flags, depth, cache source).  cache: "off", "own" (writes its own store) or the
# name of the arm whose store it starts from (a copy).
ARMS: dict[str, tuple[list[str], int, str]] = {
    "cheap": (["--preset", "embedded-relevance"], 100, "own"),
    "listwise20": (["--preset", "embedded-listwise"], 20, "off"),
    "cascade": (["--preset", "embedded-cascade"], 100, "cheap"),
    "cascade_adaptive": (["--preset", "embedded-cascade", "--method-options", '{"adaptive": true}'], 100, "cheap"),
    "budget64_scraped": (["--preset", "embedded-listwise", "--model", "embedded-1.5b", "--method-options",
                          '{"reasoning_budget": 64, "force_answer": false}'], 20, "off"),
    "budget64_forced": (["--preset", "embedded-listwise", "--model", "embedded-1.5b", "--method-options",
                         '{"reasoning_budget": 64, "force_answer": true}'], 20, "off"),
    "listwise100": (["--preset", "embedded-listwise"], 100, "off"),
    "dense": (["--preset", "embedded-dense"], 100, "own"),
    "dense_cascade": (["--preset", "embedded-dense-cascade"], 100, "dense"),
    "dense_cascade_adaptive": (["--preset", "embedded-dense-cascade", "--method-options", '{"adaptive": true}'],
                               100, "dense"),
}
# (cheap arm, fixed cascade arm) pairs the adaptive sweep reads.
CASCADES = (("cheap", "cascade"), ("dense", "dense_cascade"))
UNFINISHED = "reasoning not closed"


def cache_dir(out: Path, arm: str) -> Path:
    return out / arm / "cache"


def run_arm(arm: str, args: argparse.Namespace) -> float:
    """Run (or resume) one arm; returns its wall seconds in this call."""
    flags, depth, cache = ARMS[arm]
    folder = args.out / arm
    folder.mkdir(parents=True, exist_ok=True)
    if cache == "off":
        cache_flags = ["--cache", "off"]
    else:
        store = cache_dir(args.out, arm)
        if cache != "own" and not store.exists():
            shutil.copytree(cache_dir(args.out, cache), store)
        cache_flags = ["--cache", str(store)]
    cmd = [args.reasonrank, "eval", str(args.dataset), *flags, "--depth", str(depth), "--limit-queries",
           str(args.queries), "--output", str(folder), "--no-progress", "--batch-size", "1", *cache_flags]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    with open(folder / "log.txt", "a") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - started


def per_query(folder: Path) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    path = folder / "results.jsonl"
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[str(row["query_id"])] = row
    return rows


def summarize(arm: str, out: Path) -> dict[str, Any] | None:
    folder = out / arm
    source = ARMS[arm][2]
    cheap = per_query(out / source) if source not in ("off", "own") else {}
    metrics_path = folder / "metrics.json"
    rows = per_query(folder)
    if not metrics_path.exists() or not rows:
        return None
    metrics = json.loads(metrics_path.read_text())
    qids = sorted(rows)
    ndcg = [metrics["per_query"][q]["reranker"]["nDCG@10"] for q in qids]
    bm25 = [metrics["per_query"][q]["first_stage"]["nDCG@10"] for q in qids]

    def total(key: str, source: dict[str, dict[str, Any]] = rows) -> float:
        return sum(float(source[q]["usage"].get(key, 0) or 0) for q in qids if q in source)

    summary: dict[str, Any] = {
        "queries": len(qids), "query_ids": qids,
        "ndcg10": statistics.fmean(ndcg), "bm25_ndcg10": statistics.fmean(bm25),
        "per_query_ndcg10": dict(zip(qids, ndcg, strict=True)),
        "completion_tokens": total("completion_tokens"), "prompt_tokens": total("prompt_tokens"),
        "thinking_tokens": total("thinking_tokens"), "forced_answers": total("forced_answers"),
        "engine_seconds": total("engine_seconds"), "fallbacks": total("fallbacks"),
        "cache_hits": total("cache_hits"),
        "windows": sum(sum(t.get("kind") == "window" for t in rows[q].get("traces", [])) for q in qids),
        "answered_from_unfinished_thought": sum(sum(UNFINISHED in w for w in rows[q].get("warnings", []))
                                                for q in qids),
    }
    # A cascade: add the cheap stage's engine seconds of the same queries (its replies came from the
    # cache, at 0 s; their prompt tokens are already counted: a hit keeps its reply's token counts).
    if ARMS[arm][2] not in ("off", "own"):
        summary["engine_seconds_with_cheap_stage"] = summary["engine_seconds"] + total("engine_seconds", cheap)
        stages = {q: rows[q].get("stages") or [] for q in qids}
        summary["stages_per_query"] = stages
        summary["queries_skipping_expensive_stage"] = sum(len(s) < 2 for s in stages.values())
    return summary


def adaptive_sweep(out: Path, cheap_arm: str, fixed_arm: str, margins: list[float],
                   agree: list[int]) -> dict[str, Any] | None:
    """What the adaptive cascade would do under each rule, from the saved arms: its cheap stage is
    the ``cheap_arm``'s result (the same requests over the same top 100), and a query that does not
    skip gets the ``fixed_arm``'s result (greedy decoding: the same listwise window). The rules are
    the library's own: :func:`reasonrank.methods.cascade.score_margin` (``margin=m``) and top-``k``
    agreement with the first stage (``agree_top=k``, the default rule)."""
    from reasonrank.methods.cascade import score_margin

    cheap, fixed = per_query(out / cheap_arm), per_query(out / fixed_arm)
    metrics_paths = [out / arm / "metrics.json" for arm in (cheap_arm, fixed_arm)]
    qids = sorted(set(cheap) & set(fixed))
    if not qids or not all(p.exists() for p in metrics_paths):
        return None
    cheap_ndcg, fixed_ndcg = ({q: json.loads(p.read_text())["per_query"][q]["reranker"]["nDCG@10"] for q in qids}
                              for p in metrics_paths)
    gaps = {q: score_margin([r["score"] for r in cheap[q]["results"]]) for q in qids}

    def tokens(q: str) -> float:  # the LLM stage's tokens: what skipping saves
        usage = fixed[q]["usage"]
        return float(usage["completion_tokens"] + usage["prompt_tokens"] - cheap[q]["usage"]["prompt_tokens"])

    fixed_tokens = sum(tokens(q) for q in qids)
    fixed_generated = sum(fixed[q]["usage"]["completion_tokens"] for q in qids)

    def row(rule: str, value: float, skip: list[str]) -> dict[str, Any]:
        spent = sum(tokens(q) for q in qids if q not in skip)
        generated = sum(fixed[q]["usage"]["completion_tokens"] for q in qids if q not in skip)
        return {"rule": rule, "value": value, "queries_skipping": len(skip), "llm_tokens": spent,
                "token_share_of_fixed": spent / fixed_tokens if fixed_tokens else None,
                "generated_share_of_fixed": generated / fixed_generated if fixed_generated else None,
                "ndcg10": statistics.fmean(cheap_ndcg[q] if q in skip else fixed_ndcg[q] for q in qids)}

    rows = [row("margin", m, [q for q in qids if gaps[q] is not None and gaps[q] >= m]) for m in margins]
    for k in agree:
        skip = [q for q in qids if {r["id"] for r in cheap[q]["results"] if r["rank"] < k}
                == {r["id"] for r in cheap[q]["results"] if r["input_rank"] < k}]
        rows.append(row("agree_top", k, skip))
    return {"cheap_arm": cheap_arm, "fixed_arm": fixed_arm, "queries": len(qids),
            "cheap_ndcg10": statistics.fmean(cheap_ndcg.values()),
            "fixed_cascade_ndcg10": statistics.fmean(fixed_ndcg.values()), "fixed_cascade_llm_tokens": fixed_tokens,
            "rules": rows, "normalised_gaps": {q: gaps[q] for q in qids}}


def table(report: dict[str, Any]) -> str:
    header = ("| arm | queries | nDCG@10 | BM25 | generated tokens | thinking | forced | from unfinished thought |"
              " engine s (with cheap stage) | skipped expensive |")
    lines = [header, "|" + " --- |" * 10]
    for arm, s in report["arms"].items():
        if s is None:
            lines.append(f"| {arm} | not run | | | | | | | | |")
            continue
        seconds = f"{s['engine_seconds']:.0f}"
        if "engine_seconds_with_cheap_stage" in s:
            seconds += f" ({s['engine_seconds_with_cheap_stage']:.0f})"
        lines.append(f"| {arm} | {s['queries']} | {s['ndcg10']:.4f} | {s['bm25_ndcg10']:.4f} | "
                     f"{s['completion_tokens']:.0f} | {s['thinking_tokens']:.0f} | {s['forced_answers']:.0f} | "
                     f"{s['answered_from_unfinished_thought']} / {s['windows']} | {seconds} | "
                     f"{s.get('queries_skipping_expensive_stage', '')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=int, default=15, help="the first N judged queries (default 15)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dl19_arms")
    parser.add_argument("--report-only", action="store_true", help="only summarize what the arms wrote")
    parser.add_argument("--reasonrank", default=str(Path(sys.executable).with_name("reasonrank")))
    args = parser.parse_args()
    if not args.dataset.is_dir():
        parser.error(f"no dataset folder at {args.dataset} (pass --dataset)")
    wall: dict[str, float] = {}
    if not args.report_only:
        for arm in args.arms:
            source = ARMS[arm][2]
            if source not in ("off", "own") and source != arm and not cache_dir(args.out, source).exists():
                run_arm(source, args)
            wall[arm] = run_arm(arm, args)
    report = {"dataset": str(args.dataset), "queries": args.queries, "machine": platform.platform(),
              "load_average_at_end": os.getloadavg(), "wall_seconds_this_call": wall,
              "arms": {arm: summarize(arm, args.out) for arm in ARMS}}
    report["adaptive_sweep"] = [sweep for cheap_arm, fixed_arm in CASCADES if (sweep := adaptive_sweep(
        args.out, cheap_arm, fixed_arm, [0.05, 0.1, 0.2, 0.3, 0.5], [1, 2, 3, 5])) is not None]
    (args.out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    for sweep in report["adaptive_sweep"]:
        print(f"adaptive rules over {sweep['cheap_arm']} -> {sweep['fixed_arm']} (from the saved arms; cheap "
              f"{sweep['cheap_ndcg10']:.4f}, fixed cascade {sweep['fixed_cascade_ndcg10']:.4f}):")
        for row in sweep["rules"]:
            print(f"  {row['rule']} {row['value']}: {row['queries_skipping']} queries skip, "
                  f"{row['llm_tokens']:.0f} LLM tokens ({row['token_share_of_fixed']:.2f} of fixed), "
                  f"nDCG@10 {row['ndcg10']:.4f}")
    print(f"wrote {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
