"""Run a sweep: blocks of configurations timed with the protocol, each block's rows appended to
the CSV before the next starts; the whole grid once per pass (Protocol.passes, each pass in its
own block order); resume, shards, budget, Ctrl-C and the closing repeat phase.

Order of work: every check that can fail (output path, the output's lock, resume compatibility,
costing, memory) happens before the first timing, so bad input never wastes a run. The output
holds at least its header once the checks pass, even when nothing is left to time.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from graphcal import __version__
from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import settle
from graphcal.load import InputSpec
from graphcal.precision import Precision
from graphcal.sweep.csvfile import (
    MEASURE,
    MODEL_SCOPE,
    OP_SCOPE,
    REPEAT,
    SWEEP_COLUMNS,
    _read_rows,
    append_rows,
    complete_row,
    pass_number,
    read_header,
    repair_tail,
)
from graphcal.sweep.inmodel import in_model_rows
from graphcal.sweep.lock import locked_output
from graphcal.sweep.protocol import Protocol, Timing, speed_gauge, time_block
from graphcal.sweep.workload import Workload, build_module, cost_workload

# A configuration whose costed bytes exceed this share of the memory available now is refused.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        i, _, n = text.partition("/")
        if not (i.isdigit() and n.isdigit() and len(i) <= 9 and len(n) <= 9) or not 1 <= int(i) <= int(n):
            raise GraphcalError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 1/4")
        return cls(int(i), int(n))

    def take(self, items: list) -> list:
        """Every N-th item, starting at the I-th: the shards 1/N..N/N partition `items`."""
        return items[self.index - 1 :: self.count]


@dataclass(frozen=True)
class SweepPlan:
    workloads: tuple[str, ...]          # MODEL texts, in grid order
    out: Path
    precision: Precision
    threads: tuple[int, ...]            # thread counts: every workload is timed at each
    protocol: Protocol
    grid: str                           # grid name, or "model"
    input_specs: tuple[InputSpec, ...] = ()
    trust_pickle: bool = False          # `sweep model` of a torch.save'd module, as predict --trust-pickle
    factory_kwargs: dict = field(default_factory=dict)  # --factory-arg, for factory MODELs
    resume: bool = False
    force: bool = False
    shard: Shard | None = None
    budget_s: float | None = None
    block_size: int = 4
    repeat_share: float = 0.1           # of the configurations timed in this run
    repeat_min: int = 3
    repeat_max: int = 10
    seed: int = 0
    per_op: bool = False                # also time every op in place (graphcal.sweep.inmodel)

    @property
    def load_args(self) -> tuple:
        """What loading a MODEL takes beyond its text and precision, as predict's options do:
        (input_specs, trust_pickle, factory_kwargs)."""
        return self.input_specs, self.trust_pickle, self.factory_kwargs


@dataclass
class SweepResult:
    out: Path
    rows: list[dict] = field(default_factory=list)        # measure rows written by this run (all passes)
    repeats: list[tuple[dict, dict]] = field(default_factory=list)  # (measure, repeat) rows
    skipped: int = 0                                      # configuration-passes finished before (--resume)
    left: int = 0                                         # configuration-passes not timed (Ctrl-C or budget)
    elapsed_s: float = 0.0
    stopped: str = ""                                     # "", "interrupt" or "budget"
    notes: list[str] = field(default_factory=list)


class Progress:
    """What the runner reports while it works; the CLI renders it (graphcal.sweep.progress)."""

    def start(self, total: int) -> None: ...
    def timing(self, workload: str) -> None: ...
    def advance(self, count: int) -> None: ...
    def stop(self) -> None: ...


# --- checks before timing -----------------------------------------------------------------------

def check_output(plan: SweepPlan) -> None:
    """Refuse an unusable output path before any timing."""
    out = plan.out
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise GraphcalError(f"--out {out} is a directory; give a .csv file path")
    if not parent.is_dir():
        raise GraphcalError(f"cannot write {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise GraphcalError(f"cannot write {out}: permission denied")


def finished_pairs(plan: SweepPlan, host_id: str) -> set[tuple]:
    """With the output locked: the finished (workload, threads, pass) triples when resuming, after checking
    that the file is this version's sweep of the same grid, host, threads and dtype; an empty
    set for a new or empty file (or one --force empties)."""
    out = plan.out
    if out.stat().st_size == 0:
        return set()
    if not plan.resume:
        if plan.force:
            os.truncate(out, 0)
            return set()
        raise GraphcalError(f"{out} exists: pass --resume to continue it or --force to overwrite it")
    header = read_header(out)  # before repair_tail, so that nothing but a sweep file is ever cut
    if tuple(header) != SWEEP_COLUMNS:
        raise GraphcalError(
            f"{out}: not written by this version of `graphcal sweep` (other columns); use another --out"
        )
    repair_tail(out)
    finished = set()
    for row in _read_rows(out):
        if row.fields.get("role") == REPEAT or row.fields.get("scope") == OP_SCOPE:
            continue
        if (row.host_id, row.dtype) != (host_id, plan.precision.value) or row.threads not in plan.threads:
            if not plan.force:
                counts = ",".join(map(str, plan.threads))
                raise GraphcalError(
                    f"{row.source}: written with host {row.host_id}, {row.threads} threads, {row.dtype}; this run "
                    f"is host {host_id}, {counts} threads, {plan.precision.value}. Pass --force to mix them"
                )
        grid = row.fields.get("grid", "")
        if grid != plan.grid and not plan.force:
            raise GraphcalError(
                f"{row.source}: a row of grid {grid!r}; this run is grid {plan.grid!r}. Give another --out, or "
                "pass --force to mix them"
            )
        finished.add((row.workload, row.threads, pass_number(row)))
    return finished


def available_memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(workloads: list[Workload]) -> None:
    """Refuse configurations whose costed bytes (an upper bound on what they hold) would not fit."""
    available = available_memory_bytes()
    if available is None:
        return
    too_big = [w for w in workloads if w.bytes > MEMORY_SHARE * available]
    if too_big:
        listed = ", ".join(f"{w.text} ({w.bytes / 1e9:.1f} GB)" for w in too_big[:5])
        raise GraphcalError(
            f"{len(too_big)} configuration(s) too large for this machine's memory "
            f"({available / 1e9:.1f} GB available): {listed}; remove them from the grid"
        )


# --- the run ------------------------------------------------------------------------------------

class _StopFlag:
    """SIGINT sets the flag (the block in flight finishes); a second SIGINT aborts at once."""

    def __init__(self) -> None:
        self.set = False
        self._previous = None

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass(frozen=True)
class Config:
    """One configuration: a workload at a thread count."""

    workload: Workload
    threads: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.workload.text, self.threads)


def plan_blocks(configs: list[Config], size: int, seed: int) -> list[list[Config]]:
    """Blocks of one thread count and similar cost (sorted by flops + bytes, so a round's
    window is shared fairly), in a seeded random order (so drift over the run does not follow
    size or thread count)."""
    blocks = []
    for threads in sorted({c.threads for c in configs}):
        ordered = sorted((c for c in configs if c.threads == threads),
                         key=lambda c: (c.workload.flops + c.workload.bytes, c.workload.text))
        blocks += [ordered[i : i + size] for i in range(0, len(ordered), size)]
    random.Random(seed).shuffle(blocks)
    return blocks


def _row(c: Config, t: Timing, plan: SweepPlan, host: dict, role: str, pass_: int) -> dict:
    w = c.workload
    row = {
        "workload": w.text, "dtype": plan.precision.value, "threads": str(c.threads),
        "latency_s": repr(t.latency_s), "median_s": repr(t.median_s), "p90_s": repr(t.p90_s),
        "samples": str(t.samples), "flops": repr(float(w.flops)), "bytes": repr(float(w.bytes)),
        **host, "graphcal_version": __version__,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "best_round_median_s": repr(t.best_round_median_s),
        "role": role,
        "spread": f"{t.spread:.4f}",
        "calls_per_sample": str(t.inner),
        "rounds": str(t.rounds_run),
        "contention": f"{t.contention:.3f}",
        "gauge_s": repr(t.gauge_s) if t.gauge_s is not None else "",
        "unsupported_ops": w.unsupported,
        "grid": plan.grid,
        "pass": str(pass_),
        "scope": MODEL_SCOPE if plan.per_op else "",
        "inputs": " ".join(s.text for s in plan.input_specs),
    }
    return complete_row(row)


def _time_blocks(blocks, plan, host, role, pass_, progress, flag, started, result) -> list[dict]:
    """Time and write blocks until done, interrupted or out of budget; the rows written."""
    import torch

    written: list[dict] = []
    durations: list[float] = []
    for i, block in enumerate(blocks):
        if flag.set:
            result.stopped = "interrupt"
        elif plan.budget_s is not None:
            expected = max(durations) if durations else 0.0
            if time.monotonic() - started + expected > plan.budget_s:
                result.stopped = "budget"
        if result.stopped:
            if role == MEASURE:
                result.left += sum(len(b) for b in blocks[i:])
            break
        block_start = time.monotonic()
        torch.set_num_threads(block[0].threads)
        built = [build_module(c.workload.text, plan.precision, *plan.load_args) for c in block]
        calls = [_call(module, inputs) for module, inputs in built]
        with torch.no_grad():
            # the callback runs inside this iteration, so `block` is this block
            timings = time_block(calls, plan.protocol, on_switch=lambda j: progress.timing(_label(block[j])),  # noqa: B023
                                 gauge=speed_gauge())
        rows = [_row(c, t, plan, host, role, pass_) for c, t in zip(block, timings)]
        if plan.per_op and role == MEASURE:
            for c, (module, inputs), row in zip(block, built, rows):
                progress.timing(f"{_label(c)} op by op")
                rows = rows + in_model_rows(module, inputs, row, plan.protocol)
        append_rows(plan.out, rows)
        written += rows
        progress.advance(len(block))
        durations.append(time.monotonic() - block_start)
    return written


def _call(module, inputs):
    def call():
        return module(*inputs)

    return call


def _label(c: Config) -> str:
    return f"{c.workload.text} @{c.threads}t"


def run_sweep(plan: SweepPlan, progress: Progress | None = None, announce=lambda text: None) -> SweepResult:
    """Time every configuration of `plan` not yet in its output file and append the rows, the
    output locked against other sweeps for the whole run (graphcal.sweep.lock)."""
    from graphcal.hardware.host import fingerprint, host_bf16_support

    started = time.monotonic()
    progress = progress or Progress()
    host = fingerprint().as_row()
    check_output(plan)
    if plan.precision is Precision.BF16 and not (bf16 := host_bf16_support()).native:
        # timed all the same: what bf16 costs here may be worth knowing; it is just not native
        announce(f"warning: {bf16.not_native()}; timing it anyway (profiles init --host writes no bf16 table here, "
                 "and fit needs a --base with one)")
    with locked_output(plan.out):
        return _run_locked(plan, progress, announce, host, started)


def _run_locked(plan: SweepPlan, progress: Progress, announce, host: dict, started: float) -> SweepResult:
    import torch

    finished = finished_pairs(plan, host["host_id"])
    chosen = list(plan.workloads) if plan.shard is None else plan.shard.take(list(plan.workloads))
    result = SweepResult(plan.out)
    costed = [cost_workload(text, plan.precision, *plan.load_args) for text in chosen]
    configs = [Config(w, t) for t in plan.threads for w in costed]
    passes = range(1, plan.protocol.passes + 1)
    todo = {p: [c for c in configs if (*c.key, p) not in finished] for p in passes}
    timed = [c for c in configs if any(c in todo[p] for p in passes)]
    result.skipped = len(configs) * len(passes) - sum(len(t) for t in todo.values())
    check_memory([c.workload for c in timed])
    for w in {c.workload for c in timed}:
        if w.unsupported:
            result.notes.append(f"{w.text}: flops/bytes leave out ops predict cannot cost: {w.unsupported}")
    if max(plan.threads) > (os.cpu_count() or 1):
        result.notes.append(f"{max(plan.threads)} threads on {os.cpu_count()} logical cores: oversubscribed")
    fresh = todo[passes[-1]]  # configurations whose last pass this run times
    repeats = (
        0
        if not fresh
        else min(len(fresh), plan.repeat_max, max(plan.repeat_min, round(plan.repeat_share * len(fresh))))
    )
    announce(
        f"timing {len(timed)} configuration(s)"
        + (f" in {len(passes)} passes" if len(passes) > 1 else "")
        + f" into {plan.out}"
        + (f" ({result.skipped} configuration-pass(es) already there)" if result.skipped else "")
        + (f", shard {plan.shard.index}/{plan.shard.count}" if plan.shard else "")
        + f", then re-timing {repeats} for repeatability; {','.join(map(str, plan.threads))} thread(s), "
        + plan.precision.value
        + (", every op timed in place" if plan.per_op else "")
    )
    if plan.out.stat().st_size == 0:
        append_rows(plan.out, [])  # the header: a run that times nothing still leaves a sweep file
    threads_before = torch.get_num_threads()
    settle()  # every row is timed in the heap state fit and compare cost it in (allocator.SWEEP_HEAP)
    progress.start(sum(len(t) for t in todo.values()) + repeats)
    try:
        with _StopFlag() as flag:
            for p in passes:
                blocks = plan_blocks(todo[p], plan.block_size, plan.seed + 1000 * (p - 1))
                result.rows += _time_blocks(blocks, plan, host, MEASURE, p, progress, flag, started, result)
            if not result.stopped and repeats:
                by_key = {(r["workload"], int(r["threads"])): r for r in result.rows if r["scope"] != OP_SCOPE}
                picked = random.Random(plan.seed).sample(fresh, repeats)
                again = _time_blocks(
                    plan_blocks(picked, plan.block_size, plan.seed + 1), plan, host, REPEAT, passes[-1],
                    progress, flag, started, result,
                )
                result.repeats = [(by_key[(r["workload"], int(r["threads"]))], r) for r in again]
    finally:
        progress.stop()
        torch.set_num_threads(threads_before)
        result.elapsed_s = time.monotonic() - started
    if not result.rows and not result.skipped:
        result.notes.append(f"no row was timed: {plan.out} holds the header only (so shard files still concatenate)")
    return result
