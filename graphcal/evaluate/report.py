"""Render a comparison of predictions with measurements: rich tables, and a plot (also used by
the fit report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from graphcal.errors import GraphcalError
from graphcal.evaluate.compare import Comparison
from graphcal.evaluate.metrics import Metrics, percent, relative_errors
from graphcal.predict.report import human_time
from graphcal.predict.whatif_report import require_matplotlib

REGIME_COLOURS = {"compute": "tab:red", "memory": "tab:blue", "overhead": "tab:green"}


def metrics_table(title: str, groups: dict[str, Metrics], first: str) -> Table:
    table = Table(title=title)
    for column in (first, "n", "MAPE", "within ±10%", "RMSPE"):
        table.add_column(column, justify="left" if column == first else "right")
    for name, m in groups.items():
        table.add_row(name, str(m.n), percent(m.mape), percent(m.within_10), percent(m.rmspe))
    return table


def render_comparison(comparison: Comparison, console: Console) -> None:
    m = comparison.overall
    console.print(
        f"[bold]{comparison.overall.n}[/] measured rows on [bold]{comparison.profile}[/]: MAPE {percent(m.mape)}, "
        f"within ±10% {percent(m.within_10)}, RMSPE {percent(m.rmspe)}"
    )
    console.print(metrics_table("by regime", comparison.by_regime, "regime"))
    console.print(metrics_table("by op class", comparison.by_op_class, "op class"))
    errors = relative_errors(comparison.predicted_s, comparison.measured_s)
    table = Table(title="rows")
    for column in ("workload", "dtype", "threads", "measured", "predicted", "error", "regime"):
        table.add_column(column, justify="left" if column in ("workload", "dtype", "regime") else "right")
    for row, meas, pred, err, regime in zip(
        comparison.rows, comparison.measured_s, comparison.predicted_s, errors, comparison.regimes
    ):
        table.add_row(
            row.workload, row.dtype, str(row.threads), human_time(meas), human_time(pred), f"{err:+.1%}", str(regime)
        )
    console.print(table)
    if comparison.unsupported_rows:
        console.print(
            f"[yellow]{comparison.unsupported_rows} row(s) have ops graphcal cannot cost; "
            "their predictions are understated[/]"
        )


# --- plots --------------------------------------------------------------------------------------


def plot_predicted_vs_measured(
    path: Path, title: str, series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
) -> None:
    """Log-log scatter of predicted against measured, coloured by regime; each series is
    (label, measured_s, predicted_s, regimes) with its own marker."""
    plt = require_matplotlib()
    figure, axes = plt.subplots(figsize=(6.5, 6))
    markers = ("o", "x", "^", "s")
    everything = []
    for (label, measured, predicted, regimes), marker in zip(series, markers):
        for regime, colour in REGIME_COLOURS.items():
            mask = np.asarray(regimes) == regime
            if mask.any():
                axes.scatter(measured[mask], predicted[mask], marker=marker, color=colour, alpha=0.75, s=22,
                             label=f"{label}: {regime}-bound ({int(mask.sum())})")
        everything.extend([measured, predicted])
    values = np.concatenate(everything) if everything else np.array([1e-6, 1.0])
    low, high = values.min() / 1.5, values.max() * 1.5
    line = np.array([low, high])
    axes.plot(line, line, color="black", linewidth=1, label="predicted = measured")
    for factor in (0.9, 1.1):
        axes.plot(line, line * factor, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel("measured latency (s)")
    axes.set_ylabel("predicted latency (s)")
    axes.set_title(title)
    axes.legend(fontsize=7, loc="upper left")
    axes.grid(True, which="both", alpha=0.2)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise GraphcalError(f"--plot {path}: cannot write the figure: {exc.strerror}") from None
    finally:
        plt.close(figure)


def plot_comparison(comparison: Comparison, path: Path) -> None:
    plot_predicted_vs_measured(
        path,
        f"{comparison.profile}: MAPE {percent(comparison.overall.mape)}",
        [("rows", comparison.measured_s, comparison.predicted_s, comparison.regimes)],
    )
