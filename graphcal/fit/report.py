"""Render a calibration: rich tables for people, a dict for --json, a plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from graphcal.evaluate.metrics import breakdown, percent, relative_errors
from graphcal.evaluate.report import metrics_table, plot_predicted_vs_measured
from graphcal.fit import params as P
from graphcal.fit.calibrate import FITTED, Calibration
from graphcal.fit.kernels import class_report
from graphcal.predict.report import human_time

WORST = 10


def fit_json(cal: Calibration, provenance: dict) -> dict:
    """The --json contract: coefficients, train, holdout (fractions), provenance."""
    keys = ("mape", "within_10", "n")
    return {
        "coefficients": {p.name: p.fitted for p in cal.params},
        "kernels": None if cal.kernels is None else [
            {"class": row.kernel, "fitted_on": row.fitted_by, "rows": row.rows,
             "train": None if row.train is None else row.train.as_dict(keys),
             "holdout": None if row.holdout is None else row.holdout.as_dict(keys),
             "values": row.values, "stderr": row.stderr, "notes": row.notes}
            for row in class_report(cal)
        ],
        "train": cal.train_metrics.as_dict(keys),
        "holdout": cal.holdout_metrics.as_dict(keys),
        "holdout_models": None if cal.holdout_models_metrics is None else cal.holdout_models_metrics.as_dict(keys),
        "provenance": provenance,
    }


def render_fit(cal: Calibration, console: Console, out: Path | None) -> None:
    hosts = sorted({r.host_id for r in cal.rows})
    console.print(
        f"[bold]fit[/] of {cal.base.name} ({cal.precision.value}) on {len(cal.rows)} rows from "
        f"{', '.join(p.name for p in cal.paths)} (host {', '.join(hosts)}): "
        f"{len(cal.train)} train, {len(cal.holdout)} held out (seed {cal.options.seed})"
    )
    if cal.kernels is not None:
        kernel_table(console, cal)
    else:
        parameter_table(console, cal)
    for note in cal.notes():
        console.print(f"[yellow]note:[/] {note}")
    error_tables(console, cal, out)


def kernel_table(console: Console, cal: Calibration) -> None:
    """One row per kernel class: its rows, train and holdout error, and its values ± errors."""
    table = Table(title=f"kernel classes ({cal.precision.value}; values refit on every row)")
    for column in ("class", "fitted on", "rows", "train", "holdout", "values ± std. error"):
        table.add_column(column, justify="right" if column in ("rows", "train", "holdout") else "left")
    notes = []
    for row in class_report(cal):
        values = "  ".join(
            f"{name} {_value(name, v)}" + (f"±{_value(name, row.stderr[name])}" if name in row.stderr else "")
            for name, v in row.values.items()
        )
        table.add_row(row.kernel, row.fitted_by, str(row.rows),
                      "-" if row.train is None else percent(row.train.mape),
                      "-" if row.holdout is None else percent(row.holdout.mape), values)
        notes += [f"{row.kernel}: {n}" for n in row.notes]
    console.print(table)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")


def _value(name: str, value: float) -> str:
    return human_time(value) if name.startswith("overhead_s") else f"{value:.3g}"


def parameter_table(console: Console, cal: Calibration) -> None:
    table = Table(title="parameters (refit on every row)")
    for column in ("parameter", "base", "fitted", "± std. error", "status"):
        table.add_column(column, justify="left" if column in ("parameter", "status") else "right")
    for p in cal.params:
        if p.status != FITTED and P.BY_NAME[p.name].kind == "family":
            continue  # grouped in one note below
        status = p.status + (" (at a bound)" if p.name in cal.final.at_bounds else "")
        table.add_row(
            p.name, f"{p.base:.4g}", f"{p.fitted:.4g}", "-" if p.stderr is None else f"{p.stderr:.2g}", status
        )
    console.print(table)


def error_tables(console: Console, cal: Calibration, out: Path | None) -> None:
    rows = {
        "train (fit on train rows)": cal.train_metrics,
        "holdout (same fit, unseen rows)": cal.holdout_metrics,
        "all rows (refit, in-sample)": cal.final_metrics,
    }
    if cal.holdout_models_metrics is not None:
        rows["holdout: whole models only"] = cal.holdout_models_metrics
    console.print(metrics_table("error", rows, "rows"))
    floor = cal.noise_floor
    console.print(
        "noise floor (the sweep's own repeatability): "
        + (percent(floor) if floor is not None else "not recorded (the sweep files hold no repeat rows)")
    )
    console.print(host_speed_line(cal.speed))
    measured_h = cal.measured_s[cal.holdout]
    if len(cal.holdout):
        console.print(
            metrics_table(
                "holdout error by regime",
                breakdown(cal.holdout_predicted_s, measured_h, cal.regimes[cal.holdout]),
                "regime",
            )
        )
        console.print(
            metrics_table(
                "holdout error by op class",
                breakdown(cal.holdout_predicted_s, measured_h, cal.op_classes[cal.holdout]),
                "op class",
            )
        )
    console.print(
        metrics_table(
            "all rows (refit) by regime", breakdown(cal.final.predicted_s, cal.measured_s, cal.regimes), "regime"
        )
    )
    console.print(
        metrics_table(
            "all rows (refit) by op class", breakdown(cal.final.predicted_s, cal.measured_s, cal.op_classes), "op class"
        )
    )
    worst_table(console, cal)
    if out is not None:
        console.print(
            f"wrote [bold]{out}[/] (extends {cal.base_ref}); holdout MAPE {percent(cal.holdout_metrics.mape)}"
            + (f" (rows), {percent(cal.holdout_models_metrics.mape)} on the {cal.holdout_models_metrics.n} whole "
               "model timing(s) held out" if cal.holdout_models_metrics is not None else ""),
            soft_wrap=True,
        )


def worst_table(console: Console, cal: Calibration) -> None:
    errors = relative_errors(cal.final.predicted_s, cal.measured_s)
    held = set(cal.holdout.tolist())
    table = Table(title=f"the {min(WORST, len(errors))} worst rows (refit)")
    for column in ("workload", "threads", "measured", "predicted", "error", "regime", "set"):
        table.add_column(column, justify="left" if column in ("workload", "regime", "set") else "right")
    for i in np.argsort(-np.abs(errors))[:WORST]:
        row = cal.rows[i]
        table.add_row(
            row.workload,
            str(row.threads),
            human_time(cal.measured_s[i]),
            human_time(cal.final.predicted_s[i]),
            f"{errors[i]:+.1%}",
            str(cal.regimes[i]),
            "holdout" if i in held else "train",
        )
    console.print(table)


def plot_fit(cal: Calibration, path: Path) -> None:
    plot_predicted_vs_measured(
        path,
        f"{cal.base.name} fit: holdout MAPE {percent(cal.holdout_metrics.mape)}",
        [
            ("train", cal.measured_s[cal.train], cal.train_fit.predicted_s, cal.regimes[cal.train]),
            ("holdout", cal.measured_s[cal.holdout], cal.holdout_predicted_s, cal.regimes[cal.holdout]),
        ],
    )


def host_speed_line(speed) -> str:
    """How the fit put each sweep at the calibration's typical host speed (graphcal.fit.hostspeed)."""
    if speed is None or not speed.reference_s:
        return "host speed: latencies fitted as timed" + (
            f" ({speed.ungauged} row(s) without a speed gauge)" if speed is not None and speed.ungauged else "")
    parts = [f"{Path(f).name} {t}t pass {p} x{speed.factor_of((f, t, p)):.2f}" for f, t, p in sorted(speed.sweeps)]
    reference = ", ".join(f"{g * 1e6:.0f} us at {t}t" for t, g in sorted(speed.reference_s.items()))
    line = f"host speed: each sweep scaled to the calibration's typical gauge ({reference}): " + "; ".join(parts)
    if speed.ungauged:
        line += f"; {speed.ungauged} row(s) without a gauge left as timed"
    return line
