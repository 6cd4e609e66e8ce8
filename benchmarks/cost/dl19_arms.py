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

The summary adds an adaptive cascade with the score-margin rule at several margins, computed from
the saved ``cheap`` and ``cascade`` arms (``margin_sweep``): the default adaptive rule (top-3
agreement with BM25) is what ``cascade_adaptive`` runs.

Per arm: nDCG@10 of the reranker and of BM25 on the same queries, generated (completion) tokens,
thinking tokens, forced answers, windows whose ids were taken from an unfinished thought (the
parser's "reasoning not closed" warning), engine seconds, wall seconds, and for cascades the
stages each query ran. Prints a table and writes ``--out`` (JSON).

    .venv/bin/python benchmarks/cost/dl19_arms.py --queries 15
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
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "trec-dl19"

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
}
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


def summarize(arm: str, out: Path, cheap: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    folder = out / arm
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


def margin_sweep(out: Path, margins: list[float]) -> dict[str, Any] | None:
    """What the adaptive cascade with ``margin=m`` would do, from the saved arms: its cheap stage is
    the ``cheap`` arm's result (the same requests over the same top 100), and a query that does
    not skip gets the fixed ``cascade`` arm's result (greedy decoding: the same listwise window).
    The rule is the library's own (:func:`reasonrank.methods.cascade.score_margin`)."""
    from reasonrank.methods.cascade import score_margin

    cheap, fixed = per_query(out / "cheap"), per_query(out / "cascade")
    metrics_paths = [out / arm / "metrics.json" for arm in ("cheap", "cascade")]
    qids = sorted(set(cheap) & set(fixed))
    if not qids or not all(p.exists() for p in metrics_paths):
        return None
    cheap_ndcg, fixed_ndcg = ({q: json.loads(p.read_text())["per_query"][q]["reranker"]["nDCG@10"] for q in qids}
                              for p in metrics_paths)
    gaps = {q: score_margin([r["score"] for r in cheap[q]["results"]]) for q in qids}
    fixed_tokens = sum(fixed[q]["usage"]["completion_tokens"] for q in qids)
    rows = []
    for m in margins:
        skip = [q for q in qids if gaps[q] is not None and gaps[q] >= m]
        tokens = sum(fixed[q]["usage"]["completion_tokens"] for q in qids if q not in skip)
        ndcg = statistics.fmean(cheap_ndcg[q] if q in skip else fixed_ndcg[q] for q in qids)
        rows.append({"margin": m, "queries_skipping": len(skip), "completion_tokens": tokens,
                     "token_share_of_fixed": tokens / fixed_tokens if fixed_tokens else None, "ndcg10": ndcg})
    return {"queries": len(qids), "fixed_cascade_ndcg10": statistics.fmean(fixed_ndcg.values()),
            "fixed_cascade_completion_tokens": fixed_tokens, "margins": rows,
            "normalised_gaps": {q: gaps[q] for q in qids}}


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
            if arm != "cheap" and ARMS[arm][2] == "cheap" and not cache_dir(args.out, "cheap").exists():
                run_arm("cheap", args)
            wall[arm] = run_arm(arm, args)
    cheap = per_query(args.out / "cheap")
    report = {"dataset": str(args.dataset), "queries": args.queries, "machine": platform.platform(),
              "load_average_at_end": os.getloadavg(), "wall_seconds_this_call": wall,
              "arms": {arm: summarize(arm, args.out, cheap) for arm in ARMS}}
    report["adaptive_margin_sweep"] = margin_sweep(args.out, [0.05, 0.1, 0.2, 0.3, 0.5])
    (args.out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    if report["adaptive_margin_sweep"]:
        print("adaptive margin sweep (from the saved arms):")
        for row in report["adaptive_margin_sweep"]["margins"]:
            print(f"  margin {row['margin']}: {row['queries_skipping']} queries skip, "
                  f"{row['completion_tokens']} tokens ({row['token_share_of_fixed']:.2f} of fixed), "
                  f"nDCG@10 {row['ndcg10']:.4f}")
    print(f"wrote {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
