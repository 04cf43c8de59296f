"""`graphcal predict MODEL --hw PROFILE`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from graphcal.cli import app
from graphcal.cli.options import (
    DtypeOption,
    FactoryArgOption,
    HwOption,
    InputShapeOption,
    JsonOption,
    ThreadsOption,
    TrustOption,
    factory_kwargs,
    input_specs,
    make_target,
)

MODEL_HELP = (
    "A torch.export .pt2 archive, a TorchScript file (with --input-shape), a factory "
    "package.module:function returning an nn.Module (with --input-shape, and --factory-arg for its "
    "arguments), or a workload spec: "
    "mlp:BATCH:D0xD1x...xDn, linear:BxINxOUT, matmul:MxKxN, add:N, or one op as `sweep ops` times it "
    "(conv2d:BxCxHxWxOxK[:sS][:pP][:gG], conv1d, bmm, sdpa, eltwise:OP:N, layer_norm, batch_norm, "
    "softmax, maxpool2d, avgpool2d, global_avgpool2d, embedding; grammar in the README)."
)


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
    hw: HwOption,
    dtype: DtypeOption = "fp32",
    threads: ThreadsOption = None,
    input_shape: InputShapeOption = None,
    factory_arg: FactoryArgOption = None,
    top: Annotated[int, typer.Option("--top", help="Rows in the table of costliest ops.", min=1)] = 15,
    as_json: JsonOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit code 1) if any op has no cost formula.")
    ] = False,
    max_latency: Annotated[
        Optional[str],
        typer.Option(
            "--max-latency",
            metavar="DURATION",
            help="A latency budget for CI, with a unit: 20ms, 1.5s, 250us. The report is printed as "
            "usual; then, if the prediction exceeds the budget, one line on stderr and exit code 1.",
        ),
    ] = None,
    trust_pickle: TrustOption = False,
) -> None:
    """Predict MODEL's latency on a hardware profile, with a per-op breakdown.

    Exit codes: 0 ok, 1 over --max-latency or --strict failed, 2 bad input or usage."""
    from graphcal.load import load_graph
    from graphcal.predict import predict_graph
    from graphcal.predict.budget import check_budget, parse_duration
    from graphcal.predict.report import prediction_json, render_budget, render_prediction

    budget_s = parse_duration(max_latency) if max_latency is not None else None
    kwargs = factory_kwargs(factory_arg)
    target = make_target(hw, dtype, threads)
    graph = load_graph(model, target.precision, input_specs(input_shape), trust_pickle, kwargs)
    prediction = predict_graph(graph, target, strict=strict)
    if as_json:
        print(json.dumps(prediction_json(prediction, budget_s), indent=2))
    else:
        render_prediction(prediction, Console(), top)
        if budget_s is not None:
            render_budget(prediction, budget_s, Console())
    if budget_s is not None:
        check_budget(prediction, budget_s)
