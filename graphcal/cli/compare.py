"""`graphcal compare MODEL --hw A --hw B`: one model on several profiles side by side.
`graphcal compare SWEEP.csv --hw PROFILE`: every measured row beside its prediction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from graphcal.cli import app
from graphcal.cli.options import (
    DtypeOption,
    FactoryArgOption,
    InputShapeOption,
    JsonOption,
    ThreadsOption,
    TrustOption,
    factory_kwargs,
    input_specs,
    make_target,
)
from graphcal.cli.predict import MODEL_HELP
from graphcal.errors import GraphcalError


@app.command()
def compare(
    model: Annotated[
        str,
        typer.Argument(
            help=MODEL_HELP
            + " Or a sweep CSV: each row predicted beside its measurement, with its own dtype and threads.",
            show_default=False,
        ),
    ],
    hw: Annotated[list[str], typer.Option("--hw", help="A hardware profile; repeat for each one to compare.")],
    dtype: DtypeOption = "fp32",
    threads: ThreadsOption = None,
    input_shape: InputShapeOption = None,
    factory_arg: FactoryArgOption = None,
    as_json: JsonOption = False,
    trust_pickle: TrustOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit code 1) if any op of MODEL has no cost formula.")
    ] = False,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            metavar="FILE.png",
            help="With a sweep CSV: plot predicted against measured, log-log, by regime (needs matplotlib).",
        ),
    ] = None,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="Time MODEL here, whole and every op in place, and show each op's prediction beside its "
            "measurement, by family and by op (largest error first): where a prediction goes wrong.",
        ),
    ] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="With --measure: ops shown in the table.")] = 15,
) -> None:
    """Predict MODEL on each --hw profile, side by side, with the ratio to the first; or, for a
    sweep CSV, every row beside its measurement (MAPE overall, by regime and by op class); or,
    with --measure, MODEL timed here beside its prediction, per family and per op."""
    from graphcal.evaluate.costing import is_sweep_file
    from graphcal.load.resolve import is_existing_path

    if is_existing_path(model) and Path(model).is_file() and is_sweep_file(Path(model)):
        if measure:
            raise GraphcalError("--measure times a model: give a MODEL, not a sweep CSV")
        if strict or factory_arg:
            raise GraphcalError(
                "--strict and --factory-arg are for a MODEL; a sweep CSV's rows are costed as their workloads"
            )
        compare_sweep_file(Path(model), hw, threads, input_shape, as_json, plot)
        return
    if plot is not None:
        raise GraphcalError("--plot compares predictions with measurements: give a sweep CSV as MODEL")
    if measure:
        if len(hw) != 1:
            raise GraphcalError(f"--measure checks one profile against this machine: give one --hw, not {len(hw)}")
        from graphcal.cli.measure import compare_measured

        compare_measured(model, make_target(hw[0], dtype, threads), input_specs(input_shape), as_json, top,
                         factory_kwargs(factory_arg), trust_pickle)
        return
    from graphcal.load import load_graph
    from graphcal.predict import predict_graph
    from graphcal.predict.report import human_time, render_unsupported

    kwargs = factory_kwargs(factory_arg)
    targets = [make_target(h, dtype, threads) for h in hw]
    graph = load_graph(model, targets[0].precision, input_specs(input_shape), trust_pickle, kwargs)
    predictions = [predict_graph(graph, t, strict=strict) for t in targets]
    unsupported = predictions[0].unsupported  # one graph: the same ops go uncosted on every profile
    first = predictions[0].latency_s
    rows = [
        {"hardware": p.target.profile.name, "latency_s": p.latency_s, "ratio_to_first": p.latency_s / first}
        for p in predictions
    ]
    if as_json:
        print(json.dumps({"model": graph.model, "rows": rows, "unsupported_ops": unsupported}, indent=2))
        return
    table = Table(title=f"{graph.model} ({targets[0].precision.value})")
    for column in ("hardware", "latency", "ratio to first"):
        table.add_column(column, justify="left" if column == "hardware" else "right")
    for row in rows:
        table.add_row(row["hardware"], human_time(row["latency_s"]), f"{row['ratio_to_first']:.3f}x")
    console = Console()
    console.print(table)
    render_unsupported(unsupported, console)


def compare_sweep_file(
    path: Path,
    hw: list[str],
    threads: Optional[int],
    input_shape: Optional[list[str]],
    as_json: bool,
    plot: Optional[Path],
) -> None:
    """The sweep branch: one profile, each row at its own dtype and thread count."""
    from graphcal.cli.progress import costing_progress
    from graphcal.evaluate.compare import compare_sweep
    from graphcal.evaluate.report import plot_comparison, render_comparison, require_matplotlib

    if len(hw) != 1:
        raise GraphcalError(
            f"compare {path.name} checks one profile against the measurements: give one --hw, not {len(hw)}"
        )
    if threads is not None or input_shape:
        raise GraphcalError(
            f"compare {path.name}: every row is predicted with its own threads and workload; "
            "drop --threads/--input-shape"
        )
    if plot is not None:
        require_matplotlib()
    with costing_progress(Console(stderr=True)) as progress:
        comparison = compare_sweep([path], hw[0], progress)
    if plot is not None:
        plot_comparison(comparison, plot)
    if as_json:
        print(json.dumps(comparison.as_json(), indent=2))
        return
    render_comparison(comparison, Console())
