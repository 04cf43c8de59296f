"""The sweep's rich progress bar (on stderr) and its closing summary (on stdout)."""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from graphcal.sweep.csvfile import MEASURE, OP_SCOPE, relative_difference
from graphcal.sweep.runner import Progress, SweepResult


class RichProgress(Progress):
    """A bar with ETA; its description is the configuration being sampled right now."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            TextColumn("{task.description}", style="cyan"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            refresh_per_second=4,
        )
        self._task = None
        self._current = ""

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("costing", total=total)

    def timing(self, workload: str) -> None:
        if workload != self._current and self._task is not None:
            self._current = workload
            self._bar.update(self._task, description=f"{workload:<34.34}")

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)

    def stop(self) -> None:
        self._bar.stop()


def render_summary(result: SweepResult, console: Console, noisiest: int = 5) -> None:
    """Rows, elapsed time, how it stopped, repeatability and the noisiest configurations."""
    state = {
        "": "complete",
        "interrupt": "interrupted (Ctrl-C): the block in flight was finished and written",
        "budget": "stopped: --budget-s reached",
    }[result.stopped]
    console.print(
        f"[bold]{result.out}[/]: {len(result.rows)} row(s) written in {result.elapsed_s:.1f} s"
        + (f", {result.skipped} already there" if result.skipped else "")
        + f"; {state}"
        + (f"; {result.left} configuration-pass(es) left: run again with --resume" if result.left else ""),
        soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True, markup=False)
    if result.repeats:
        diffs = [relative_difference(float(m["latency_s"]), float(r["latency_s"])) for m, r in result.repeats]
        console.print(
            f"repeatability: {len(diffs)} configuration(s) re-timed at the end moved by "
            f"{statistics.median(diffs):.1%} (median), {max(diffs):.1%} (max) in latency_s",
            soft_wrap=True,
        )
    whole = [row for row in result.rows if row["scope"] != OP_SCOPE]
    _render_in_model(result.rows, console)
    passes: dict[str, dict[str, float]] = {}
    for row in whole:
        passes.setdefault(row["workload"], {})[row["pass"]] = float(row["latency_s"])
    between = [relative_difference(t["1"], t["2"]) for t in passes.values() if "1" in t and "2" in t]
    if between:
        console.print(
            f"between passes: {len(between)} configuration(s) timed in passes 1 and 2 differ by "
            f"{statistics.median(between):.1%} (median), {statistics.fmean(between):.1%} (mean), "
            f"{max(between):.1%} (max); each one's latency is its faster pass",
            soft_wrap=True,
        )
    if whole:
        table = Table(title="noisiest configurations (range of round medians / min)", title_justify="left")
        for column in ("workload", "pass", "latency_s", "median_s", "p90_s", "spread"):
            table.add_column(column, justify="left" if column == "workload" else "right")
        for row in sorted(whole, key=lambda r: -float(r["spread"]))[:noisiest]:
            table.add_row(
                row["workload"], row["pass"],
                *(f"{float(row[c]) * 1e6:.1f} us" for c in ("latency_s", "median_s", "p90_s")),
                f"{float(row['spread']):.1%}",
            )
        console.print(table)


def _render_in_model(rows: list[dict], console: Console) -> None:
    """Per model timed with --per-op: its op rows, and the sum of their latencies against the
    model's own (uninstrumented) latency: what timing op by op costs or misses."""
    sums: dict[tuple, float] = {}
    counts: dict[tuple, int] = {}
    models: dict[tuple, float] = {}
    for row in rows:
        key = (row["workload"], row["threads"], row["pass"])
        if row["scope"] == OP_SCOPE:
            sums[key] = sums.get(key, 0.0) + float(row["latency_s"])
            counts[key] = counts.get(key, 0) + 1
        elif row["role"] == MEASURE:
            models[key] = float(row["latency_s"])
    ratios = [sums[k] / models[k] for k in sums if k in models]
    if ratios:
        console.print(
            f"in-model: {sum(counts.values())} op row(s) from {len(ratios)} model timing(s); the sum of a model's "
            f"op latencies is {statistics.median(ratios):.2f}x its whole latency (median; "
            f"{min(ratios):.2f}x-{max(ratios):.2f}x)",
            soft_wrap=True,
        )
