"""`graphcal compare MODEL --hw A --hw B`: one model on several profiles side by side."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from graphcal.cli import app
from graphcal.cli.options import DtypeOption, InputShapeOption, JsonOption, ThreadsOption, TrustOption, input_specs, make_target
from graphcal.cli.predict import MODEL_HELP


@app.command()
def compare(
    model: Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
    hw: Annotated[list[str], typer.Option("--hw", help="A hardware profile; repeat for each one to compare.")],
    dtype: DtypeOption = "fp32",
    threads: ThreadsOption = None,
    input_shape: InputShapeOption = None,
    as_json: JsonOption = False,
    trust_pickle: TrustOption = False,
) -> None:
    """Predict MODEL on each --hw profile, side by side, with the ratio to the first."""
    from graphcal.load import load_graph
    from graphcal.predict import predict_graph
    from graphcal.report import human_time

    targets = [make_target(h, dtype, threads) for h in hw]
    graph = load_graph(model, targets[0].precision, input_specs(input_shape), trust_pickle)
    predictions = [predict_graph(graph, t) for t in targets]
    first = predictions[0].latency_s
    rows = [
        {"hardware": p.target.profile.name, "latency_s": p.latency_s, "ratio_to_first": p.latency_s / first}
        for p in predictions
    ]
    if as_json:
        print(json.dumps({"model": graph.model, "rows": rows}, indent=2))
        return
    table = Table(title=f"{graph.model} ({targets[0].precision.value})")
    for column in ("hardware", "latency", "ratio to first"):
        table.add_column(column, justify="left" if column == "hardware" else "right")
    for row in rows:
        table.add_row(row["hardware"], human_time(row["latency_s"]), f"{row['ratio_to_first']:.3f}x")
    Console().print(table)
