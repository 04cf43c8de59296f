"""`graphcal sweep mlp|ops|model`: time workloads on this machine into a sweep CSV."""

from __future__ import annotations

import re
import socket
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from graphcal.cli import app
from graphcal.cli.options import (
    DtypeOption,
    FactoryArgOption,
    InputShapeOption,
    TrustOption,
    factory_kwargs,
    finite,
    input_specs,
)

sweep_app = typer.Typer(
    help="Time workloads on this machine and write one CSV row per configuration "
    "(protocol: docs/sweeps.md).",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")

GridOption = Annotated[
    Optional[str],
    typer.Option("--grid", help="A shipped grid name (mlp-default, ops-default, smoke-mlp, ...) or a path to a "
                "YAML grid file."),
]
OutOption = Annotated[
    Optional[Path],
    typer.Option("--out", help="CSV to write (default: sweep-GRID-HOST-DATE.csv in the current directory)."),
]
ThreadsOption = Annotated[
    Optional[int],
    typer.Option("--threads", help="torch.set_num_threads while timing (default: the grid's `threads`, else "
                 "torch's default).", min=1),
]
PerOpOption = Annotated[
    bool,
    typer.Option("--per-op", help="Also time every op inside the running model, on its real intermediate tensors "
                 "(one row per op: docs/sweeps.md, 'In-model rows'); what fit calibrates op families on."),
]
BudgetOption = Annotated[
    Optional[float],
    typer.Option(
        "--budget-s", help="Stop cleanly (exit 0) before a block that would run past this many seconds.", min=0,
        callback=finite,
    ),
]
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="Continue --out: skip the configurations (and passes) it already has.")
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Overwrite an existing --out; with --resume, continue a file from another host, "
                 "thread count or dtype."),
]
PassesOption = Annotated[
    Optional[int],
    typer.Option("--passes", min=1, help="Time the whole grid this many times, each pass in its own order; a "
                 "configuration's latency is its fastest pass (default: the grid's protocol, 2)."),
]
ShardOption = Annotated[
    Optional[str],
    typer.Option("--shard", help="I/N: time every N-th configuration starting at the I-th (1-based), so N machines "
                 "split a grid; the N files concatenate into the whole."),
]


def default_out(grid: str) -> Path:
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()) or "host"
    return Path(f"sweep-{grid}-{host}-{date.today():%Y%m%d}.csv")


def _run(workloads, grid_name, protocol, out, threads, dtype, budget_s, resume, force, shard, passes,
         shapes=(), per_op=False, trust_pickle=False, kwargs=None) -> None:
    import dataclasses

    from rich.console import Console

    from graphcal.precision import Precision
    from graphcal.sweep.progress import RichProgress, render_summary
    from graphcal.sweep.runner import Shard, SweepPlan, run_sweep

    plan = SweepPlan(
        workloads=tuple(workloads),
        out=out or default_out(grid_name),
        precision=Precision.parse(dtype),
        threads=threads,
        protocol=protocol if passes is None else dataclasses.replace(protocol, passes=passes),
        grid=grid_name,
        input_specs=shapes,
        trust_pickle=trust_pickle,
        factory_kwargs=kwargs or {},
        resume=resume,
        force=force,
        shard=Shard.parse(shard) if shard else None,
        budget_s=budget_s,
        per_op=per_op,
    )
    err = Console(stderr=True)
    result = run_sweep(
        plan,
        RichProgress(err),
        announce=lambda text: err.print(f"graphcal sweep: {text}", soft_wrap=True, markup=False),
    )
    render_summary(result, Console())
    if result.stopped == "interrupt":
        raise typer.Exit(130)


def _default_threads() -> int:
    import torch

    return torch.get_num_threads()


def _thread_counts(threads, grid) -> tuple[int, ...]:
    """--threads if given, else the grid's `threads`, else torch's default."""
    return (threads,) if threads else grid.threads or (_default_threads(),)


def _grid_command(kind: str):
    def command(
        grid: GridOption = None,
        out: OutOption = None,
        threads: ThreadsOption = None,
        dtype: DtypeOption = "fp32",
        budget_s: BudgetOption = None,
        resume: ResumeOption = False,
        force: ForceOption = False,
        shard: ShardOption = None,
        passes: PassesOption = None,
    ) -> None:
        from graphcal.sweep.grid import load_grid

        loaded = load_grid(grid or f"{kind}-default", kind)
        _run(
            loaded.workloads, loaded.name, loaded.protocol, out, _thread_counts(threads, loaded), dtype, budget_s,
            resume, force, shard, passes,
        )

    return command


sweep_app.command(
    "mlp", help="Time MLPs (Linear+ReLU stacks) from a grid: what calibration fits. Default grid: mlp-default."
)(_grid_command("mlp"))
sweep_app.command(
    "ops", help="Time single ops (conv, bmm, attention, norms, activations, pooling, embedding) from a grid. "
    "Default grid: ops-default."
)(_grid_command("ops"))


@sweep_app.command("model")
def model(
    models: Annotated[
        Optional[list[str]],
        typer.Argument(help="MODELs as `graphcal predict` takes them: specs, .pt2, TorchScript (with "
                       "--input-shape) or torch.save files (with --trust-pickle), factories; or --grid.",
                       show_default=False),
    ] = None,
    grid: GridOption = None,
    per_op: PerOpOption = False,
    out: OutOption = None,
    threads: ThreadsOption = None,
    dtype: DtypeOption = "fp32",
    input_shape: InputShapeOption = None,
    budget_s: BudgetOption = None,
    resume: ResumeOption = False,
    force: ForceOption = False,
    shard: ShardOption = None,
    passes: PassesOption = None,
    trust_pickle: TrustOption = False,
    factory_arg: FactoryArgOption = None,
) -> None:
    """Time whole models end to end, and with --per-op every op inside them. Models come as
    arguments or from a grid of kind `model` (models-default: the calibration models)."""
    from graphcal.errors import GraphcalError
    from graphcal.sweep.grid import load_grid
    from graphcal.sweep.protocol import Protocol

    if bool(models) == bool(grid):
        raise GraphcalError(
            "give MODELs or --grid (models-default is the calibration grid), not both or neither; "
            "see graphcal sweep model --help"
        )
    if grid:
        loaded = load_grid(grid, "model")
        _run(loaded.workloads, loaded.name, loaded.protocol, out, _thread_counts(threads, loaded), dtype, budget_s,
             resume, force, shard,
             passes, input_specs(input_shape), per_op, trust_pickle, factory_kwargs(factory_arg))
        return
    _run(models, "model", Protocol(), out, (threads or _default_threads(),), dtype, budget_s, resume, force, shard,
         passes, input_specs(input_shape), per_op, trust_pickle, factory_kwargs(factory_arg))
