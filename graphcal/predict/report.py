"""Render predictions: rich tables for people, plain dicts (for JSON) for scripts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from graphcal.hardware.allocator import NO_TRIM_ENV
from graphcal.predict.breakdown import Group
from graphcal.predict.llm import LLMPrediction
from graphcal.predict.prediction import Prediction


def prediction_json(p: Prediction, max_latency_s: float | None = None) -> dict[str, Any]:
    """The JSON contract; `max_latency_s` and `within_budget` are null without a budget."""
    return {
        "model": p.model,
        "hardware": p.target.profile.name,
        "dtype": p.target.precision.value,
        "threads": p.target.threads,
        "latency_s": p.latency_s,
        "flops": p.flops,
        "bytes": p.bytes,
        "ops": [
            {
                "name": op.node.name,
                "part": op.cost.part,
                "target": op.node.target,
                "family": op.cost.family,
                "flops": op.cost.flops,
                "bytes": op.cost.bytes,
                "time_s": op.time.total_s,
                "bound": op.time.bound,
            }
            for op in p.ops
        ],
        "unsupported_ops": p.unsupported,
        "uncalibrated": [{"family": f, "share": share} for f, share in p.uncalibrated()],
        "extrapolated": [{"family": f, "share": share} for f, share in p.extrapolated()],
        "threads_calibrated": p.threads_calibrated,
        "fresh_pages": {"bytes": p.fresh_bytes, "time_s": p.fault_s, "costed": p.faults_costed,
                        "heap": p.target.heap, "call_replayed": p.call_replayed},
        "max_latency_s": max_latency_s,
        "within_budget": None if max_latency_s is None else p.latency_s <= max_latency_s,
    }


def human_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def human_count(value: float, unit: str = "") -> str:
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def short_target(target: str) -> str:
    """An op's target as the table shows it: `aten.linear.default` -> `linear`, `aten.add.Tensor`
    -> `add.Tensor` (the JSON keeps the full target)."""
    return str(target).removeprefix("aten.").removesuffix(".default")


CALIBRATION_LABELS = {"": "fitted", "uncalibrated": "uncal.", "extrapolated": "extrap."}


def render_prediction(p: Prediction, console: Console, top: int) -> None:
    render_header(p, console)
    render_op_table(p, console, top)
    render_unsupported(p.unsupported, console)
    render_calibration(p, console)


def render_calibration(p: Prediction, console: Console) -> None:
    """Warnings for what the profile's fits never saw: op families (with their share of the
    predicted time, 0.1% and more), the thread count, and fresh pages it cannot cost (nothing
    when everything was seen)."""
    uncalibrated = [(f, share) for f, share in p.uncalibrated() if share >= 0.001]
    if uncalibrated:
        console.print(
            f"[yellow]uncalibrated:[/] {sum(s for _, s in uncalibrated):.1%} of the predicted time falls on op "
            f"{'classes' if p.target.profile.has_kernel_tables else 'families'} no fit behind "
            f"{p.target.profile.name} had rows for: "
            + ", ".join(f"{f} {share:.1%}" for f, share in uncalibrated),
            soft_wrap=True,
        )
    extrapolated = [(f, share) for f, share in p.extrapolated() if share >= 0.001]
    if extrapolated:
        console.print(
            f"[yellow]extrapolated:[/] {sum(s for _, s in extrapolated):.1%} of the predicted time falls on ops "
            f"beyond what {p.target.profile.name}'s calibration covered (thread count, or op sizes): "
            + ", ".join(f"{f} {share:.1%}" for f, share in extrapolated),
            soft_wrap=True,
        )
    if p.fresh_bytes and not p.faults_costed:
        console.print(
            f"[yellow]page faults:[/] the C allocator maps {human_count(p.fresh_bytes, 'B')} afresh on every call, "
            f"and {p.target.profile.name} states no memory.fresh_page_s to cost their page faults: the prediction "
            "leaves them out (`graphcal profiles init --host` measures it)",
            soft_wrap=True,
        )
    if p.fault_s >= 0.005 * p.latency_s and p.target.heap != "no-trim":
        env = " ".join(f"{k}={v}" for k, v in NO_TRIM_ENV.items())
        console.print(
            f"[yellow]page faults:[/] from a {p.target.heap} heap, glibc gives {human_count(p.fresh_bytes, 'B')} "
            f"back to the kernel between calls and faults it in again: {human_time(p.fault_s)}, "
            f"{p.fault_s / p.latency_s:.0%} of the prediction. With `{env}` in the environment it keeps the memory "
            "(`--heap no-trim` predicts that)",
            soft_wrap=True,
        )
    if not p.call_replayed:
        console.print(
            "[yellow]page faults:[/] the model's data flow between its ops is not recorded in full (its format "
            "records none, or an op reads from one the graph lacks), so each op's allocations were replayed "
            "alone: pages glibc returns and takes back between ops are left out",
            soft_wrap=True,
        )
    if not p.threads_calibrated:
        counts = ", ".join(map(str, p.target.profile.calibrated_threads)) or "none recorded"
        console.print(
            f"[yellow]threads:[/] {p.target.threads} thread(s) were never calibrated for {p.target.profile.name} "
            f"(calibrated: {counts})",
            soft_wrap=True,
        )


def render_header(p: Prediction, console: Console) -> None:
    """The predicted latency, and the totals with the share of each bound."""
    total = p.latency_s
    bounds: dict[str, float] = {}
    for op in p.ops:
        bounds[op.time.bound] = bounds.get(op.time.bound, 0.0) + op.time.total_s
    console.print(
        f"[bold]{p.model}[/] on [bold]{p.target.profile.name}[/] "
        f"({p.target.precision.value}, {p.target.threads} threads): "
        f"[bold green]{human_time(total)}[/]"
    )
    shares = ", ".join(f"{b}-bound {t / total:.0%}" for b, t in sorted(bounds.items())) if total else ""
    console.print(
        f"{len(p.ops)} costed ops, {human_count(p.flops, 'FLOP')}, {human_count(p.bytes, 'B')} moved; {shares}"
    )


def render_op_table(p: Prediction, console: Console, top: int) -> None:
    """The costliest `top` ops."""
    total = p.latency_s
    table = Table(title=f"costliest {min(top, len(p.ops))} of {len(p.ops)} ops")
    # NB: the calibration column appears with kernel tables (their coverage is per op)
    by_class = p.target.profile.has_kernel_tables
    columns = ("op", "target", "time", "share", "FLOPs", "bytes", "FLOP/B", "bound") + (("calib.",) if by_class else ())
    for column in columns:
        names = column in ("op", "target")
        # NB: names fold onto several lines rather than end in an ellipsis
        table.add_column(column, justify="left" if names or column == "bound" else "right",
                         overflow="fold" if names else "ellipsis", min_width=8 if names else None)
    for op in sorted(p.ops, key=lambda o: o.time.total_s, reverse=True)[:top]:
        intensity = op.cost.flops / op.cost.bytes if op.cost.bytes else float("inf")
        table.add_row(
            f"{op.node.name} ({op.cost.part})" if op.cost.part else op.node.name,
            short_target(op.node.target),
            human_time(op.time.total_s),
            f"{op.time.total_s / total:.1%}" if total else "-",
            human_count(op.cost.flops),
            human_count(op.cost.bytes, "B"),
            f"{intensity:.3g}",
            op.time.bound,
            *((CALIBRATION_LABELS[op.status],) if by_class else ()),
        )
    console.print(table)


def render_unsupported(unsupported: dict[str, int], console: Console) -> None:
    """The line predict and compare print for ops without a cost formula (nothing when none)."""
    if unsupported:
        console.print(
            "[bold yellow]unsupported ops (not costed, latency is understated):[/] "
            + ", ".join(f"{t} x{n}" for t, n in unsupported.items())
        )


def render_budget(p: Prediction, max_latency_s: float, console: Console) -> None:
    within = p.latency_s <= max_latency_s
    verdict = "[bold green]within[/]" if within else "[bold red]over[/]"
    console.print(f"budget {human_time(max_latency_s)}: {verdict} ({human_time(p.latency_s)} predicted)")


def render_groups(p: Prediction, groups: list[Group], by: str, console: Console, top: int) -> None:
    """The costliest `top` groups of a --group-by breakdown."""
    total = p.latency_s
    table = Table(title=f"costliest {min(top, len(groups))} of {len(groups)} {by} groups")
    for column in (by, "ops", "time", "share", "FLOPs", "bytes"):
        table.add_column(column, justify="left" if column == by else "right",
                         overflow="fold" if column == by else "ellipsis", min_width=8 if column == by else None)
    for g in groups[:top]:
        table.add_row(
            short_target(g.key) if by == "op" else g.key,
            str(g.ops),
            human_time(g.time_s),
            f"{g.time_s / total:.1%}" if total else "-",
            human_count(g.flops),
            human_count(g.bytes, "B"),
        )
    console.print(table)


def llm_json(p: LLMPrediction) -> dict[str, Any]:
    """The LLM JSON contract: the generation's figures, then one prefill and one decode step
    (the first, at cache length P) with the shape of prediction_json."""
    g = p.generation
    return {
        "model": p.model,
        "hardware": p.target.profile.name,
        "dtype": p.target.precision.value,
        "threads": p.target.threads,
        "prompt": g.prompt,
        "new_tokens": g.new_tokens,
        "batch": g.batch,
        "ttft_s": p.ttft_s,
        "decode_first_s": p.decode_first.latency_s,
        "decode_last_s": p.decode_last.latency_s,
        "tokens_per_s": p.tokens_per_s,
        "total_s": p.total_s,
        "decode_steps": g.decode_steps,
        "state_bytes": {"prefill": p.prefill.state_bytes, "decode_first": p.decode_first.state_bytes,
                        "decode_last": p.decode_last.state_bytes},
        "prefill": prediction_json(p.prefill),
        "decode": prediction_json(p.decode_first),
    }


def render_llm(p: LLMPrediction, console: Console, top: int) -> None:
    """The generation's figures, then the costliest ops of the prefill and of one decode step."""
    g = p.generation
    console.print(
        f"[bold]{p.model}[/] on [bold]{p.target.profile.name}[/] ({p.target.precision.value}, "
        f"{p.target.threads} threads): prompt {g.prompt}, {g.new_tokens} new tokens, batch {g.batch}"
    )
    table = Table(title="generation")
    for column in ("phase", "predicted", "note"):
        table.add_column(column, justify="right" if column == "predicted" else "left")
    table.add_row("time to first token", human_time(p.ttft_s), f"prefill of {g.batch} x {g.prompt} tokens")
    table.add_row("decode step, first", human_time(p.decode_first.latency_s), f"cache of {g.prompt}")
    table.add_row("decode step, last", human_time(p.decode_last.latency_s), f"cache of {g.last_cache}")
    table.add_row("tokens per second", f"{p.tokens_per_s:.3g}", f"{g.batch} x {g.decode_steps} decode steps")
    table.add_row("total", human_time(p.total_s), "prefill + decode")
    console.print(table)
    for title, phase in (("prefill", p.prefill), (f"decode step at cache {g.prompt}", p.decode_first)):
        console.rule(title)
        render_header(phase, console)
        render_op_table(phase, console, top)
        render_unsupported(phase.unsupported, console)
    render_calibration(p.decode_first, console)
