"""A picture of a :func:`~reasonrank.evaluate.benchmark` report (matplotlib, loaded on use)."""
from __future__ import annotations

import os
from typing import Any


def plot_benchmark(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """A PNG: per-query latency with p50/p90/p99, and engine time against library overhead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    lat = [p["latency_seconds"] for p in report["per_query"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    ax1.bar(range(len(lat)), lat, color="#4c72b0")
    for name, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
        value = report["latency_seconds"][name]
        ax1.axhline(value, color="#c44e52", linestyle=style, label=f"{name} {value:.2f}s")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("query (benchmark order)")
    ax1.set_ylabel("latency (s)")
    ax1.set_title(
        f"{report['method']} / {report['engine']} / {report['model']}\n"
        f"{report['dataset']}, top-{report['top_k']}: {report['queries_per_second']:.3f} q/s, "
        f"{report['passages_per_second']:.2f} passages/s",
        fontsize=9,
    )
    ax1.legend(fontsize=8)
    ax2.bar(["time"], [report["engine_seconds"]], color="#55a868", label="engine")
    ax2.bar(["time"], [report["overhead_seconds"]], bottom=[report["engine_seconds"]], color="#dd8452",
            label=f"library {100 * report['overhead_fraction']:.1f}%")
    ax2.set_ylabel("seconds")
    ax2.set_title(f"{report['generated_tokens']} generated tokens", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["plot_benchmark"]
