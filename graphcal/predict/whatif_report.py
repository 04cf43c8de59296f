"""What-ifs rendered: a table, rows (CSV), JSON objects and a plot of latency and throughput
against batch, one line per (threads, dtype)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from graphcal.errors import GraphcalError
from graphcal.predict.llm import LLMPrediction
from graphcal.predict.prediction import Prediction
from graphcal.predict.report import human_count, human_time, llm_json, prediction_json, render_unsupported
from graphcal.predict.whatif import WhatIf


def main_bound(p: Prediction) -> tuple[str, float]:
    """The bound holding the largest share of the predicted time, and that share."""
    times: dict[str, float] = {}
    for op in p.ops:
        times[op.time.bound] = times.get(op.time.bound, 0.0) + op.time.total_s
    if not times or not p.latency_s:
        return "-", 0.0
    bound = max(times, key=times.get)
    return bound, times[bound] / p.latency_s


def uncalibrated_share(p: Prediction) -> float:
    """Share of the predicted time the profile's fits never saw: the op families without rows,
    or all of it at a thread count that was never calibrated."""
    return 1.0 if not p.threads_calibrated else sum(share for _, share in p.uncalibrated())


def whatif_rows(whatifs: list[WhatIf]) -> list[dict[str, Any]]:
    """One row per combination: the CSV."""
    rows = []
    for w in whatifs:
        p = w.prediction
        bound, share = main_bound(p)
        rows.append({
            "model": p.model, "hardware": p.target.profile.name, "batch": w.batch, "threads": p.target.threads,
            "dtype": p.target.precision.value, "latency_s": p.latency_s, "throughput_per_s": w.throughput_per_s,
            "bound": bound, "bound_share": share, "uncalibrated_share": uncalibrated_share(p),
            "threads_calibrated": p.threads_calibrated, "unsupported_ops": sum(p.unsupported.values()),
        })
    return rows


def whatif_json(whatifs: list[WhatIf], max_latency_s: float | None = None) -> list[dict[str, Any]]:
    """The usual prediction objects, with the batch and the throughput added."""
    return [prediction_json(w.prediction, max_latency_s) | {"batch": w.batch, "throughput_per_s": w.throughput_per_s}
            for w in whatifs]


def describe(w: WhatIf) -> str:
    p = w.prediction
    return (f"batch {w.batch}, {p.target.threads} threads, {p.target.precision.value}: "
            f"{human_time(p.latency_s)}, {human_count(w.throughput_per_s)} items/s")


def render_whatifs(model: str, whatifs: list[WhatIf], console: Console) -> None:
    profile = whatifs[0].prediction.target.profile.name
    table = Table(title=f"{model} on {profile}: {len(whatifs)} what-ifs")
    for column in ("batch", "threads", "dtype", "latency", "items/s", "bound", "uncalibrated"):
        table.add_column(column, justify="left" if column in ("dtype", "bound") else "right")
    for w, row in zip(whatifs, whatif_rows(whatifs)):
        note = "" if row["threads_calibrated"] else " *"
        table.add_row(str(w.batch), str(row["threads"]), row["dtype"], human_time(row["latency_s"]),
                      human_count(row["throughput_per_s"]), f"{row['bound']} {row['bound_share']:.0%}",
                      f"{row['uncalibrated_share']:.1%}{note}")
    console.print(table)
    unsupported: dict[str, int] = {}
    for w in whatifs:
        for target, count in w.prediction.unsupported.items():
            unsupported[target] = max(unsupported.get(target, 0), count)
    render_unsupported(unsupported, console)
    if any(not w.prediction.threads_calibrated for w in whatifs):
        counts = ", ".join(map(str, whatifs[0].prediction.target.profile.calibrated_threads)) or "none recorded"
        console.print(f"[yellow]threads:[/] rows marked * run at a thread count {profile} was never "
                      f"calibrated for (calibrated: {counts}): their whole time is extrapolated", soft_wrap=True)


def render_best(best: WhatIf | None, max_latency_s: float, console: Console) -> None:
    if best is None:
        console.print(f"budget {human_time(max_latency_s)}: [bold red]no combination fits[/]")
    else:
        console.print(f"budget {human_time(max_latency_s)}: [bold green]best[/] {describe(best)}")


def llm_whatif_rows(predictions: list[LLMPrediction]) -> list[dict[str, Any]]:
    rows = []
    for p in predictions:
        rows.append({
            "model": p.model, "hardware": p.target.profile.name, "batch": p.generation.batch,
            "threads": p.target.threads, "dtype": p.target.precision.value, "prompt": p.generation.prompt,
            "new_tokens": p.generation.new_tokens, "ttft_s": p.ttft_s, "decode_first_s": p.decode_first.latency_s,
            "tokens_per_s": p.tokens_per_s, "total_s": p.total_s,
            "uncalibrated_share": uncalibrated_share(p.decode_first),
            "threads_calibrated": p.decode_first.threads_calibrated,
        })
    return rows


def llm_whatif_json(predictions: list[LLMPrediction]) -> list[dict[str, Any]]:
    return [llm_json(p) for p in predictions]


def render_llm_whatifs(model: str, predictions: list[LLMPrediction], console: Console) -> None:
    first = predictions[0]
    table = Table(title=f"{model} on {first.target.profile.name}: prompt {first.generation.prompt}, "
                        f"{first.generation.new_tokens} new tokens, {len(predictions)} what-ifs")
    for column in ("batch", "threads", "dtype", "first token", "decode step", "tokens/s", "total", "uncalibrated"):
        table.add_column(column, justify="left" if column == "dtype" else "right")
    for row in llm_whatif_rows(predictions):
        note = "" if row["threads_calibrated"] else " *"
        table.add_row(str(row["batch"]), str(row["threads"]), row["dtype"], human_time(row["ttft_s"]),
                      human_time(row["decode_first_s"]), f"{row['tokens_per_s']:.3g}", human_time(row["total_s"]),
                      f"{row['uncalibrated_share']:.1%}{note}")
    console.print(table)


def require_matplotlib() -> Any:
    """pyplot with a file backend, or a one-line error saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GraphcalError(
            "--plot needs matplotlib, which is not installed: pip install 'graphcal[plot]' (or pip install matplotlib)"
        ) from None
    return plt


def plot_whatifs(model: str, rows: list[dict[str, Any]], path: Path,
                 latency: tuple[str, str] = ("latency_s", "latency (ms)"),
                 throughput: tuple[str, str] = ("throughput_per_s", "throughput (items/s)")) -> None:
    """Latency and throughput (the rows' columns, with their axis titles) against batch, one line
    per (threads, dtype), written to `path`."""
    plt = require_matplotlib()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    series: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault((row["threads"], row["dtype"]), []).append(row)
    for (threads, dtype), points in series.items():
        points = sorted(points, key=lambda r: r["batch"])
        batches = [r["batch"] for r in points]
        label = f"{threads} threads, {dtype}"
        left.plot(batches, [r[latency[0]] * 1e3 for r in points], marker="o", label=label)
        right.plot(batches, [r[throughput[0]] for r in points], marker="o", label=label)
    for axis, title in ((left, latency[1]), (right, throughput[1])):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("batch")
        axis.set_ylabel(title)
        axis.grid(True, alpha=0.3)
    right.legend(fontsize="small")
    figure.suptitle(f"{model} on {rows[0]['hardware']}")
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise GraphcalError(f"--plot {path}: cannot write: {exc.strerror}") from None
    finally:
        plt.close(figure)
