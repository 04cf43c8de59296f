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
    FactoryArgOption,
    HeapOption,
    HwOption,
    InputShapeOption,
    JsonOption,
    TrustOption,
    factory_kwargs,
    input_specs,
    make_target,
)
from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import DEFAULT_HEAP
from graphcal.load.batch import MAX_BATCH

MODEL_HELP = (
    "A torch.export .pt2 archive, a TorchScript file (with --input-shape), a factory "
    "package.module:function returning an nn.Module (with --input-shape, and --factory-arg for its "
    "arguments), or a workload spec: "
    "mlp:BATCH:D0xD1x...xDn, linear:BxINxOUT, matmul:MxKxN, add:N, or one op as `sweep ops` times it "
    "(conv2d:BxCxHxWxOxK[:sS][:pP][:gG], conv1d, bmm, sdpa, eltwise:OP:N, layer_norm, batch_norm, "
    "softmax, maxpool2d, avgpool2d, global_avgpool2d, embedding; grammar in docs/models.md)."
)


LLM_NAMES = "llama-3-8b, mistral-7b, phi-3-mini, qwen2.5-0.5b, qwen2.5-7b"
MAX_THREADS = 4096


def _int_list(option: str, most: int):
    """An option callback: a malformed comma list of integers is a usage error."""

    def check(value: Optional[str]) -> Optional[str]:
        from graphcal.predict.whatif import parse_list, positive_int

        try:
            parse_list(value, option, positive_int(option, most))
        except GraphcalError as exc:
            raise typer.BadParameter(str(exc).removeprefix(f"{option} ")) from None
        return value

    return check


class GroupBy(str, Enum):
    OP = "op"
    FAMILY = "family"
    MODULE = "module"


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
    hw: HwOption,
    dtype: Annotated[
        str, typer.Option("--dtype", help="Precision: fp32, bf16, fp16 or fp64, or a comma list of them "
                          "(fp32,bf16). The profile must have coefficients for each.")
    ] = "fp32",
    threads: Annotated[
        Optional[str],
        typer.Option("--threads", metavar="N[,N...]", help="Threads the model runs with, or a comma list "
                     "(1,2,4) (default: the profile's physical cores).", callback=_int_list("--threads", MAX_THREADS)),
    ] = None,
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
            help="A latency budget: 20ms, 1.5s, 250us, or seconds (0.005). The report is printed as "
            "usual; then, if the prediction exceeds the budget, one line on stderr and exit code 1. With "
            "comma lists: names the combination of the largest throughput within the budget, exit code 1 "
            "when none fits.",
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
        typer.Option("--csv", metavar="PATH", help="Also write the table as CSV: every op, every group "
                     "with --group-by, or every combination with comma lists; `-` prints the CSV alone on stdout."),
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
    batch: Annotated[
        Optional[str],
        typer.Option("--batch", metavar="B[,B...]", help="Batch size, or a comma list (1,8,32): the first "
                     "dimension of the model's inputs (a spec's B, each --input-shape's first dimension, a .pt2 "
                     "exported with a dynamic batch). With --llm: sequences generated together (default 1).",
                     callback=_int_list("--batch", MAX_BATCH)),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", metavar="PNG", help="Draw latency and throughput against batch, per thread "
                     "count and dtype (needs the `plot` extra: matplotlib)."),
    ] = None,
    heap: HeapOption = DEFAULT_HEAP,
) -> None:
    """Predict MODEL's latency on a hardware profile, with a per-op breakdown.

    With --llm, predict a generation instead: time to first token, decode step latency at the
    start and end, tokens per second and the total.

    Comma lists in --batch, --threads and --dtype predict every combination (what-ifs): a table of
    latency, throughput (items/s), the main bound and the uncalibrated share.

    Exit codes: 0 ok, 1 over --max-latency or --strict failed, 2 bad input or usage."""
    from graphcal.precision import Precision
    from graphcal.predict.whatif import Grid, parse_list, positive_int

    batches = parse_list(batch, "--batch", positive_int("--batch", MAX_BATCH))
    grid = Grid(batches or ((1,) if llm else (None,)),
                parse_list(threads, "--threads", positive_int("--threads", MAX_THREADS)) or (None,),
                parse_list(dtype, "--dtype", lambda d: Precision.parse(d).value))
    if as_json and csv_path is not None and str(csv_path) == "-":
        raise GraphcalError("--json and --csv -: both print on stdout; choose one")
    if llm:
        _predict_llm(model, hw, grid, factory_arg, top, as_json, strict, prompt, new_tokens, csv_path, plot, heap,
                     refused={"--input-shape": input_shape, "--max-latency": max_latency, "--group-by": group_by,
                              "--trust-pickle": trust_pickle or None})
        return
    if grid.size > 1 or plot is not None:
        if group_by is not None or depth is not None:
            raise GraphcalError("--group-by and --depth break down one prediction: not with comma lists or --plot")
        _predict_whatifs(model, hw, grid, input_specs(input_shape), trust_pickle, factory_kwargs(factory_arg),
                         strict, as_json, csv_path, plot, max_latency, heap)
        return
    from graphcal.load import load_graph
    from graphcal.predict import predict_graph
    from graphcal.predict.breakdown import check_csv_path, group_ops, group_rows, op_rows
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
    target = make_target(hw, grid.dtypes[0], grid.threads[0], heap)
    if grid.batches[0] is None:
        graph = load_graph(model, target.precision, input_specs(input_shape), trust_pickle, kwargs)
    else:
        from graphcal.load.batch import load_at_batch

        graph, _ = load_at_batch(model, target.precision, grid.batches[0], input_specs(input_shape), trust_pickle,
                                 kwargs)
    prediction = predict_graph(graph, target, strict=strict)
    groups = group_ops(prediction, group_by.value, depth) if group_by is not None else None
    if csv_path is not None:
        rows = op_rows(prediction) if groups is None else group_rows(groups, prediction.latency_s)
        if _emit_csv(csv_path, rows):
            if budget_s is not None:
                check_budget(prediction, budget_s)
            return
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


def _emit_csv(path: Path, rows: list) -> bool:
    """Write rows to the --csv file, or print them for `-`; True when stdout holds the CSV."""
    from graphcal.predict.breakdown import csv_text, write_csv

    if str(path) == "-":
        print(csv_text(rows), end="")
        return True
    write_csv(path, rows)
    return False


def _predict_whatifs(model, hw, grid, specs, trust_pickle, kwargs, strict, as_json, csv_path, plot,
                     max_latency, heap) -> None:
    from graphcal.errors import CheckFailed
    from graphcal.hardware.profile import load_profile
    from graphcal.load.batch import load_at_batch
    from graphcal.predict.breakdown import check_csv_path
    from graphcal.predict.budget import parse_duration
    from graphcal.predict.whatif import best_within, predict_whatifs
    from graphcal.predict.whatif_report import (
        describe,
        plot_whatifs,
        render_best,
        render_whatifs,
        require_matplotlib,
        whatif_json,
        whatif_rows,
    )

    budget_s = parse_duration(max_latency) if max_latency is not None else None
    if csv_path is not None and str(csv_path) != "-":
        check_csv_path(csv_path)
    if plot is not None:
        require_matplotlib()
    whatifs = predict_whatifs(lambda b, precision: load_at_batch(model, precision, b, specs, trust_pickle, kwargs),
                              load_profile(hw), grid, strict, heap)
    rows = whatif_rows(whatifs)
    best = best_within(whatifs, budget_s) if budget_s is not None else None
    printed_csv = csv_path is not None and _emit_csv(csv_path, rows)
    if plot is not None:
        plot_whatifs(model, rows, plot)
    if as_json:
        print(json.dumps(whatif_json(whatifs, budget_s), indent=2))
    elif not printed_csv:
        console = Console()
        render_whatifs(model, whatifs, console)
        if budget_s is not None:
            render_best(best, budget_s, console)
    if budget_s is not None and best is None:
        from graphcal.predict.report import human_time

        fastest = min(whatifs, key=lambda w: w.prediction.latency_s)
        raise CheckFailed(f"{model} on {whatifs[0].prediction.target.profile.name}: no combination fits "
                          f"--max-latency {human_time(budget_s)}; the fastest is {describe(fastest)}")


def _predict_llm(model, hw, grid, factory_arg, top, as_json, strict, prompt, new_tokens, csv_path, plot, heap,
                 refused: dict) -> None:
    from graphcal.hardware.profile import load_profile
    from graphcal.load.llm import load_config
    from graphcal.predict.breakdown import check_csv_path
    from graphcal.predict.llm import Generation, predict_llm
    from graphcal.predict.report import llm_json, render_llm
    from graphcal.predict.whatif import predict_llm_whatifs
    from graphcal.predict.whatif_report import (
        llm_whatif_json,
        llm_whatif_rows,
        plot_whatifs,
        render_llm_whatifs,
        require_matplotlib,
    )

    given = [name for name, value in refused.items() if value]
    if given:
        raise GraphcalError(f"{', '.join(given)}: not with --llm")
    if grid.size > 1 or csv_path is not None or plot is not None:
        for b in grid.batches:
            Generation(prompt, new_tokens, b)  # checked before the config is loaded
        if csv_path is not None and str(csv_path) != "-":
            check_csv_path(csv_path)
        if plot is not None:
            require_matplotlib()
        predictions = predict_llm_whatifs(load_config(model, factory_kwargs(factory_arg)), load_profile(hw), grid,
                                          prompt, new_tokens, strict, heap)
        rows = llm_whatif_rows(predictions)
        printed_csv = csv_path is not None and _emit_csv(csv_path, rows)
        if plot is not None:
            plot_whatifs(model, rows, plot, ("total_s", "generation (ms)"), ("tokens_per_s", "tokens/s"))
        if as_json:
            print(json.dumps(llm_whatif_json(predictions), indent=2))
        elif not printed_csv:
            render_llm_whatifs(model, predictions, Console())
        return
    generation = Generation(prompt, new_tokens, grid.batches[0])
    target = make_target(hw, grid.dtypes[0], grid.threads[0], heap)
    prediction = predict_llm(load_config(model, factory_kwargs(factory_arg)), target, generation, strict)
    if as_json:
        print(json.dumps(llm_json(prediction), indent=2))
    else:
        render_llm(prediction, Console(), top)
