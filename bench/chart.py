"""chart.png: one panel per scenario family, bars per server, log scale where needed.

A panel holding a headline row (settings.HEADLINE) gives its ratio in the
title, and an absolute goal as a dashed line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.fmt import ratio
from bench.results import Row, read_csv
from bench.settings import HEADLINE

PANELS = (
    ("Index pages: requests/s", "api-", "rps"),
    ("Index pages: P99 latency (ms)", "api-", "p99_ms"),
    ("Cached file: MB/s", "file-cached", "throughput_mbps"),
    ("Cached file: server CPU seconds per GB sent", "file-cached", "cpu_s_per_gb"),
    ("Cold file: time to first byte (ms)", "file-cold", "ttfb_ms"),
    ("First page request after start (ms)", "api-cold", None),
    ("Cold 3,000-file page, complete (ms, median)", "api-large-cold", "total_ms"),
    ("Loop stall: longest /health gap (ms)", "loop-stall", "max_stall_ms"),
    ("Coalescing: upstream requests", "coalesce-", "upstream_requests"),
    ("uv install (s)", "uv-", "wall_s"),
    ("Memory (MB)", "resources", "rss_mb"),
)
COLORS = {
    "groxpi": "#2a9d8f",
    "groxpi-2w": "#57cc99",
    "groxpi-s3": "#8ecae6",
    "proxpi": "#e76f51",
    "proxpi-2w": "#f4a261",
    "devpi": "#9b5de5",
    "aiohttp-bare": "#6c757d",
    "nginx": "#343a40",
    "upstream": "#bc6c25",
}


def _select(rows: list[Row], prefix: str, metric: str | None) -> list[Row]:
    def match(r: Row) -> bool:
        if not r.scenario.startswith(prefix):
            return False
        if metric is None:
            return r.metric.endswith("_ms")
        return r.metric == metric or (metric == "rss_mb" and r.metric.endswith("rss_mb"))

    return [r for r in rows if match(r)]


def _headline(prefix: str, metric: str | None, rows: list[Row]) -> tuple[str, list[float]]:
    """The panel's headline ratios as title text, and its absolute goals."""
    value = {(r.server, r.scenario, r.metric): r.value for r in rows}
    notes, goals = [], []
    for c in HEADLINE:
        if not (c.scenario.startswith(prefix) and c.metric == metric):
            continue
        mine = value.get((c.server, c.scenario, c.metric))
        if c.against is None:
            if c.bound is not None:
                goals.append(c.bound)
            continue
        theirs = value.get((c.against, c.scenario, c.metric))
        if mine is not None and theirs:
            where = "" if c.scenario == prefix else f" ({c.scenario.removeprefix('api-')})"
            notes.append(f"{c.server}/{c.against} {ratio(mine / theirs)}{where}")
    return "; ".join(notes), goals


def _panel(ax: Axes, title: str, rows: list[Row], servers: list[str]) -> None:
    groups = list(dict.fromkeys(
        (r.scenario if r.scenario != "resources" and not r.scenario.startswith("api-cold")
         else r.metric).removeprefix("api-")
        for r in rows
    ))  # fmt: skip
    present = [s for s in servers if any(r.server == s for r in rows)]
    width = 0.8 / max(len(present), 1)
    values = [r.value for r in rows if r.value > 0]
    for i, server in enumerate(present):
        xs, ys = [], []
        for r in rows:
            if r.server != server:
                continue
            key = (
                r.scenario
                if r.scenario != "resources" and not r.scenario.startswith("api-cold")
                else r.metric
            ).removeprefix("api-")
            xs.append(groups.index(key) + i * width - 0.4 + width / 2)
            ys.append(r.value)
        ax.bar(xs, ys, width, label=server, color=COLORS.get(server))
    if values and max(values) / max(min(values), 1e-9) > 30:
        ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)


def draw(csv_path: Path, png_path: Path, title: str = "groxpi benchmark") -> Path:
    rows = read_csv(csv_path)
    servers = list(dict.fromkeys(r.server for r in rows))
    panels = []
    for heading, prefix, metric in PANELS:
        selected = _select(rows, prefix, metric)
        if selected:
            notes, goals = _headline(prefix, metric, selected)
            panels.append((heading + (f"\n{notes}" if notes else ""), selected, goals))
    cols = 2
    nrows = max(1, (len(panels) + cols - 1) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(13, 3.4 * nrows), squeeze=False)
    for ax, (heading, selected, goals) in zip(axes.flat, panels, strict=False):
        _panel(ax, heading, selected, servers)
        for goal in goals:
            ax.axhline(goal, color="#d62828", linestyle="--", linewidth=1)
            ax.annotate(
                f"goal {goal:g}",
                (1, goal),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize=7,
                color="#d62828",
            )
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lb in zip(*ax.get_legend_handles_labels(), strict=True):
            if lb not in labels:
                handles.append(h)
                labels.append(lb)
    fig.suptitle(title, fontsize=11, y=0.995)
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.975),
        ncol=min(len(labels), 9),
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    fig.savefig(png_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return png_path
