"""`graphcal predict MODEL --hw PROFILE`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
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
from graphcal.errors import GraphcalError

MODEL_HELP = (
    "A torch.export .pt2 archive, a TorchScript file (with --input-shape), a factory "
    "package.module:function returning an nn.Module (with --input-shape, and --factory-arg for its "
    "arguments), or a workload spec: "
    "mlp:BATCH:D0xD1x...xDn, linear:BxINxOUT, matmul:MxKxN, add:N, or one op as `sweep ops` times it "
    "(conv2d:BxCxHxWxOxK[:sS][:pP][:gG], conv1d, bmm, sdpa, eltwise:OP:N, layer_norm, batch_norm, "
    "softmax, maxpool2d, avgpool2d, global_avgpool2d, embedding; grammar in docs/models.md)."
)


LLM_NAMES = "llama-3-8b, mistral-7b, phi-3-mini, qwen2.5-0.5b, qwen2.5-7b"


class GroupBy(str, Enum):
    OP = "op"
    FAMILY = "family"
    MODULE = "module"


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
    group_by: Annotated[
        Optional[GroupBy],
        typer.Option("--group-by", help="Sum the ops by op target, op family or module (the program's "
                     "nn_module_stack: `encoder.layer.3.attention`), costliest first."),
    ] = None,
    depth: Annotated[
        Optional[int],
        typer.Option("--depth", min=1, help="With --group-by module: cut module paths to N dotted parts "
                     "(encoder.layer.3 at 3)."),
    ] = None,
    csv_path: Annotated[
        Optional[Path],
        typer.Option("--csv", metavar="PATH", help="Also write the table as CSV: every op, or every group "
                     "with --group-by."),
    ] = None,
    llm: Annotated[
        bool,
        typer.Option("--llm", help="MODEL is a decoder-only LLM config: a shipped name (" + LLM_NAMES + "), a "
                     "config.json path, or hf-config:CLASS with --factory-arg fields. Predicts time to first "
                     "token, decode steps and tokens per second; needs transformers."),
    ] = False,
    prompt: Annotated[int, typer.Option("--prompt", help="With --llm: prompt length P in tokens.", min=1)] = 128,
    new_tokens: Annotated[
        int, typer.Option("--new-tokens", help="With --llm: tokens generated per sequence (T, at least 2: the "
                          "prefill yields the first, T - 1 decode steps the rest).", min=2)
    ] = 128,
    batch: Annotated[int, typer.Option("--batch", help="With --llm: sequences generated together.", min=1)] = 1,
) -> None:
    """Predict MODEL's latency on a hardware profile, with a per-op breakdown.

    With --llm, predict a generation instead: time to first token, decode step latency at the
    start and end, tokens per second and the total.

    Exit codes: 0 ok, 1 over --max-latency or --strict failed, 2 bad input or usage."""
    if llm:
        _predict_llm(model, hw, dtype, threads, factory_arg, top, as_json, strict, prompt, new_tokens, batch,
                     refused={"--input-shape": input_shape, "--max-latency": max_latency, "--group-by": group_by,
                              "--csv": csv_path, "--trust-pickle": trust_pickle or None})
        return
    from graphcal.load import load_graph
    from graphcal.predict import predict_graph
    from graphcal.predict.breakdown import check_csv_path, group_ops, group_rows, op_rows, write_csv
    from graphcal.predict.budget import check_budget, parse_duration
    from graphcal.predict.report import (
        prediction_json,
        render_budget,
        render_calibration,
        render_groups,
        render_header,
        render_op_table,
        render_unsupported,
    )

    budget_s = parse_duration(max_latency) if max_latency is not None else None
    if depth is not None and group_by is not GroupBy.MODULE:
        raise GraphcalError("--depth cuts module paths: use it with --group-by module")
    if csv_path is not None:
        check_csv_path(csv_path)
    kwargs = factory_kwargs(factory_arg)
    target = make_target(hw, dtype, threads)
    graph = load_graph(model, target.precision, input_specs(input_shape), trust_pickle, kwargs)
    prediction = predict_graph(graph, target, strict=strict)
    groups = group_ops(prediction, group_by.value, depth) if group_by is not None else None
    if csv_path is not None:
        write_csv(csv_path, op_rows(prediction) if groups is None else group_rows(groups, prediction.latency_s))
    if as_json:
        data = prediction_json(prediction, budget_s)
        if groups is not None:
            data["group_by"] = group_by.value
            data["groups"] = group_rows(groups, prediction.latency_s)
        print(json.dumps(data, indent=2))
    else:
        console = Console()
        render_header(prediction, console)
        if groups is None:
            render_op_table(prediction, console, top)
        else:
            render_groups(prediction, groups, group_by.value, console, top)
        render_unsupported(prediction.unsupported, console)
        render_calibration(prediction, console)
        if budget_s is not None:
            render_budget(prediction, budget_s, console)
    if budget_s is not None:
        check_budget(prediction, budget_s)


def _predict_llm(model, hw, dtype, threads, factory_arg, top, as_json, strict, prompt, new_tokens, batch,
                 refused: dict) -> None:
    from graphcal.load.llm import load_config
    from graphcal.predict.llm import Generation, predict_llm
    from graphcal.predict.report import llm_json, render_llm

    given = [name for name, value in refused.items() if value]
    if given:
        raise GraphcalError(f"{', '.join(given)}: not with --llm")
    generation = Generation(prompt, new_tokens, batch)
    target = make_target(hw, dtype, threads)
    prediction = predict_llm(load_config(model, factory_kwargs(factory_arg)), target, generation, strict)
    if as_json:
        print(json.dumps(llm_json(prediction), indent=2))
    else:
        render_llm(prediction, Console(), top)
