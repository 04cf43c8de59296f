"""Render a calibration or a comparison: rich tables for people, a dict for --json, a plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from graphcal.errors import GraphcalError
from graphcal.evaluate import Metrics, breakdown, percent, relative_errors
from graphcal.fit import params as P
from graphcal.fit.calibrate import FITTED, Calibration
from graphcal.predict.report import human_time

REGIME_COLOURS = {"compute": "tab:red", "memory": "tab:blue", "overhead": "tab:green"}
WORST = 10


def fit_json(cal: Calibration, provenance: dict) -> dict:
    """The --json contract: coefficients, train, holdout (fractions), provenance."""
    keys = ("mape", "within_10", "n")
    return {
        "coefficients": {p.name: p.fitted for p in cal.params},
        "train": cal.train_metrics.as_dict(keys),
        "holdout": cal.holdout_metrics.as_dict(keys),
        "provenance": provenance,
    }


def metrics_table(title: str, groups: dict[str, Metrics], first: str) -> Table:
    table = Table(title=title)
    for column in (first, "n", "MAPE", "within ±10%", "RMSPE"):
        table.add_column(column, justify="left" if column == first else "right")
    for name, m in groups.items():
        table.add_row(name, str(m.n), percent(m.mape), percent(m.within_10), percent(m.rmspe))
    return table


def render_fit(cal: Calibration, console: Console, out: Path | None) -> None:
    hosts = sorted({r.host_id for r in cal.rows})
    console.print(
        f"[bold]fit[/] of {cal.base.name} ({cal.precision.value}) on {len(cal.rows)} rows from "
        f"{', '.join(p.name for p in cal.paths)} (host {', '.join(hosts)}): "
        f"{len(cal.train)} train, {len(cal.holdout)} held out (seed {cal.options.seed})"
    )
    table = Table(title="parameters (refit on every row)")
    for column in ("parameter", "base", "fitted", "± std. error", "status"):
        table.add_column(column, justify="left" if column in ("parameter", "status") else "right")
    for p in cal.params:
        if p.status != FITTED and P.BY_NAME[p.name].kind == "family":
            continue  # grouped in one note below
        status = p.status + (" (at a bound)" if p.name in cal.final.at_bounds else "")
        table.add_row(p.name, f"{p.base:.4g}", f"{p.fitted:.4g}", "-" if p.stderr is None else f"{p.stderr:.2g}", status)
    console.print(table)
    for note in cal.notes():
        console.print(f"[yellow]note:[/] {note}")

    console.print(metrics_table("error", {
        "train (fit on train rows)": cal.train_metrics,
        "holdout (same fit, unseen rows)": cal.holdout_metrics,
        "all rows (refit, in-sample)": cal.final_metrics,
    }, "rows"))
    floor = cal.noise_floor
    console.print(
        "noise floor (the sweep's own repeatability): "
        + (percent(floor) if floor is not None else "not recorded (the sweep files hold no repeat rows)")
    )
    measured_h = cal.measured_s[cal.holdout]
    if len(cal.holdout):
        console.print(metrics_table("holdout error by regime", breakdown(cal.holdout_predicted_s, measured_h, cal.regimes[cal.holdout]), "regime"))
        console.print(metrics_table("holdout error by op class", breakdown(cal.holdout_predicted_s, measured_h, cal.op_classes[cal.holdout]), "op class"))
    console.print(metrics_table("all rows (refit) by regime", breakdown(cal.final.predicted_s, cal.measured_s, cal.regimes), "regime"))
    console.print(metrics_table("all rows (refit) by op class", breakdown(cal.final.predicted_s, cal.measured_s, cal.op_classes), "op class"))
    worst_table(console, cal)
    if out is not None:
        console.print(f"wrote [bold]{out}[/] (extends {cal.base_ref}); holdout MAPE {percent(cal.holdout_metrics.mape)}")


def worst_table(console: Console, cal: Calibration) -> None:
    errors = relative_errors(cal.final.predicted_s, cal.measured_s)
    held = set(cal.holdout.tolist())
    table = Table(title=f"the {min(WORST, len(errors))} worst rows (refit)")
    for column in ("workload", "threads", "measured", "predicted", "error", "regime", "set"):
        table.add_column(column, justify="left" if column in ("workload", "regime", "set") else "right")
    for i in np.argsort(-np.abs(errors))[:WORST]:
        row = cal.rows[i]
        table.add_row(row.workload, str(row.threads), human_time(cal.measured_s[i]), human_time(cal.final.predicted_s[i]),
                      f"{errors[i]:+.1%}", str(cal.regimes[i]), "holdout" if i in held else "train")
    console.print(table)


def render_comparison(comparison, console: Console) -> None:
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
    for row, meas, pred, err, regime in zip(comparison.rows, comparison.measured_s, comparison.predicted_s, errors, comparison.regimes):
        table.add_row(row.workload, row.dtype, str(row.threads), human_time(meas), human_time(pred), f"{err:+.1%}", str(regime))
    console.print(table)
    if comparison.unsupported_rows:
        console.print(f"[yellow]{comparison.unsupported_rows} row(s) have ops graphcal cannot cost; their predictions are understated[/]")


# --- plots --------------------------------------------------------------------------------------

def require_matplotlib():
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


def plot_predicted_vs_measured(path: Path, title: str, series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> None:
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


def plot_fit(cal: Calibration, path: Path) -> None:
    plot_predicted_vs_measured(
        path,
        f"{cal.base.name} fit: holdout MAPE {percent(cal.holdout_metrics.mape)}",
        [
            ("train", cal.measured_s[cal.train], cal.train_fit.predicted_s, cal.regimes[cal.train]),
            ("holdout", cal.measured_s[cal.holdout], cal.holdout_predicted_s, cal.regimes[cal.holdout]),
        ],
    )


def plot_comparison(comparison, path: Path) -> None:
    plot_predicted_vs_measured(
        path,
        f"{comparison.profile}: MAPE {percent(comparison.overall.mape)}",
        [("rows", comparison.measured_s, comparison.predicted_s, comparison.regimes)],
    )
