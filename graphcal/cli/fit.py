"""`graphcal fit SWEEP.csv ... --base PROFILE --out NEW.yaml`: calibrate a profile on timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from graphcal.cli import app
from graphcal.cli.options import JsonOption, finite


@app.command()
def fit(
    sweeps: Annotated[
        list[Path],
        typer.Argument(metavar="SWEEP.csv...", help="Sweep files from `graphcal sweep`.", show_default=False),
    ],
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="The profile to start from and extend: a name or a .yaml path "
            "(e.g. from `graphcal profiles init --host`).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the fitted profile (.yaml); nothing is written if the fit fails."),
    ],
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of rows held out (per regime) to measure the error on.",
                            callback=finite)
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the holdout split.")] = 0,
    fix: Annotated[
        Optional[str],
        typer.Option(
            "--fix",
            metavar="NAME,...",
            help="Parameters to keep at the base value: tile_utilization, instruction_efficiency, "
            "memory_bottleneck_factor, matrix_op_overhead_s, per_op_overhead_s, matrix_half_rate_rows, "
            "matrix_half_rate_depth, matrix_half_rate_columns, cache_bandwidth_bytes_per_s, efficiency_factor.",
        ),
    ] = None,
    dtype: Annotated[
        Optional[str], typer.Option("--dtype", help="Fit this precision's rows (default: the only one in the sweeps).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out; fit rows from several hosts together.")
    ] = False,
    coefficients: Annotated[
        bool,
        typer.Option(
            "--coefficients",
            help="Fit the profile-wide coefficients, runtime, memory and family terms (one set shared by every kind "
            "of op) instead of a table per kernel class.",
        ),
    ] = False,
    raw_speed: Annotated[
        bool,
        typer.Option(
            "--raw-speed",
            help="Fit the latencies as timed. By default each sweep's rows are put at the calibration's typical "
            "host speed, from the speed gauge timed before every round (gauge_s): sweeps timed minutes apart on a "
            "shared machine can run 1.2x apart.",
        ),
    ] = False,
    as_json: JsonOption = False,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            metavar="FILE.png",
            help="Plot predicted against measured, log-log, by regime (needs the `plot` extra: matplotlib).",
        ),
    ] = None,
) -> None:
    """Fit a profile to sweep timings and report the error on held-out rows.

    Each kernel class (gemm, matvec, conv, pool2d, norm, ...) gets its own table for the sweeps'
    precision: compute and memory rates and a fixed cost at each thread count timed, and shape
    terms for matrix classes, fitted on the rows whose longest op is of that class (the
    recurrent gates: on the rows of models holding a GRU or RNN). Classes timed
    alone (sweep mlp, sweep ops) are fitted on those rows; classes only timed inside models
    (sweep model --per-op) on theirs."""
    from rich.console import Console

    from graphcal.cli.progress import costing_progress
    from graphcal.evaluate.report import require_matplotlib
    from graphcal.fit import params as P
    from graphcal.fit.calibrate import FitOptions, calibrate
    from graphcal.fit.provenance import FIT_HEADER, profile_document
    from graphcal.fit.report import fit_json, plot_fit, render_fit
    from graphcal.hardware.write import check_out, write_profile

    options = FitOptions(holdout=holdout, seed=seed, fixed=P.parse_fixed(fix), dtype=dtype, force=force,
                         kernels=not coefficients, host_speed=not raw_speed)
    check_out(out, base, force)
    if plot is not None:
        require_matplotlib()
    stderr = Console(stderr=True)
    with costing_progress(stderr) as progress:
        cal = calibrate(sweeps, base, options, progress)
    document = profile_document(cal, out)
    write_profile(document, out, FIT_HEADER)
    if plot is not None:
        plot_fit(cal, plot)
    if as_json:
        print(json.dumps(fit_json(cal, document["provenance"]), indent=2))
        return
    render_fit(cal, Console(), out)
    if plot is not None:
        stderr.print(f"plot: {plot}")

