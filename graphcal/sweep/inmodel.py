"""Time every op of a model where it runs: inside the model, on its real intermediate tensors.

The model is exported once on real CPU tensors (torch.export, the same program `predict`
costs), then run node by node: each call_function node is called on the tensors its producers
returned, between two reads of `perf_counter_ns`. One instrumented run gives one sample per op,
with the caches as the model's own earlier ops left them (weights evicted by other layers'
weights, activations just written by the producer): what a kernel costs inside a model, which
is not what it costs called back to back alone.

Rounds: after warm-up runs, instrumented runs are taken in rounds of at least
`runs_per_round` runs and `round_s` seconds; a round whose contention (the protocol's gauge)
exceeds the protocol's limit does not count, and rounds go on until `rounds` quiet ones are in
or `max_rounds` were run. An op's `latency_s` is the lower quartile of its times over the
counted runs: low like the protocol's minimum for whole models, but not one lucky call. The
whole model is timed apart, uninstrumented, by the runner with the protocol's `time_block`;
the sum of the ops' times against it is the instrumentation's cost (the sweep prints it).

Each value is dropped after its last use, as the module's own code drops it: holding every
intermediate would defeat the allocator's reuse of hot buffers (measured on a ResNet-50 here:
60-70 ms a run node by node, against the module's 35-45 ms).
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.opjson import ops_to_json
from graphcal.sweep.csvfile import OP_SCOPE, complete_row
from graphcal.sweep.protocol import ContentionGauge, Protocol, percentile


@dataclass(frozen=True)
class OpTiming:
    name: str            # the node's name in the exported program (as predict's OpGraph)
    target: str          # str(node.target)
    latency_s: float     # lower quartile over counted runs
    median_s: float
    p90_s: float
    spread: float        # (p90 - lower quartile) / lower quartile: this op's own noise


@dataclass(frozen=True)
class InModelTiming:
    ops: tuple[OpTiming, ...]
    runs: int            # instrumented runs counted
    runs_run: int        # instrumented runs made, counted or not
    contention: float    # mean share of the CPU other processes used in counted runs


def _plan(program, inputs: tuple):
    """(steps, env): the program's call_function nodes as (name, target, fn, args, kwargs, dead)
    with arguments still naming nodes (`dead`: the values no later node reads), and the
    environment holding the lifted parameters, buffers and constants (an ExportedProgram's) or
    the attributes its get_attr nodes read (a GraphModule's), and the user inputs, by node name."""
    import torch.utils._pytree as pytree
    from torch.export import ExportedProgram
    from torch.export.graph_signature import InputKind

    flat_inputs = pytree.tree_leaves(inputs)
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    if isinstance(program, ExportedProgram):
        flat = iter(flat_inputs)
        values = []
        for spec in program.graph_signature.input_specs:
            if spec.kind == InputKind.USER_INPUT:
                values.append(next(flat))
            elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and spec.target in program.state_dict:
                values.append(program.state_dict[spec.target])
            else:
                values.append(program.constants[spec.target])
        env: dict[str, Any] = {node.name: value for node, value in zip(placeholders, values, strict=True)}
    else:  # a GraphModule traced from the running module (a TorchScript archive's)
        env = {node.name: value for node, value in zip(placeholders, flat_inputs, strict=True)}
        for node in program.graph.nodes:
            if node.op == "get_attr":
                env[node.name] = _attribute(program, node.target)
    last_user: dict[str, str] = {}
    for node in program.graph.nodes:
        for used in node.all_input_nodes:
            last_user[used.name] = node.name
    dying: dict[str, list[str]] = {}
    for value, user in last_user.items():
        if value not in env:  # parameters and inputs stay for the next run
            dying.setdefault(user, []).append(value)
    steps = []
    for node in program.graph.nodes:
        if node.op == "call_function":
            steps.append((node.name, str(node.target), node.target, node.args, node.kwargs,
                          tuple(dying.get(node.name, ()))))
        elif node.op not in ("placeholder", "output", "get_attr"):
            raise GraphcalError(f"cannot time op by op: the traced program has a {node.op} node ({node.name})")
    return steps, env


def _attribute(module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def time_ops(program, inputs: tuple, protocol: Protocol, warmup_runs: int = 3, runs_per_round: int = 2,
             round_s: float = 0.15) -> InModelTiming:
    """Per-op in-model times (see the module docstring), with the protocol's rounds, round
    limit and contention limit."""
    import torch
    from torch.fx.node import map_arg

    steps, env0 = _plan(program, inputs)
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in steps]

    def run(record: bool) -> None:
        env = dict(env0)
        for i, (name, _target, fn, args, kwargs, dead) in enumerate(steps):
            a = map_arg(args, lambda n: env[n.name])  # noqa: B023
            k = map_arg(kwargs, lambda n: env[n.name])  # noqa: B023
            t0 = clock()
            out = fn(*a, **k)
            t1 = clock()
            env[name] = out
            del a, k
            for gone in dead:
                del env[gone]
            if record:
                samples[i].append(t1 - t0)

    gauge = ContentionGauge()
    counted: list[int] = []   # indices of recorded runs that fell in quiet rounds
    shares: list[float] = []
    made = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.no_grad():
            for _ in range(warmup_runs):
                run(record=False)
            rounds_run = 0
            while len(counted) < protocol.rounds * runs_per_round and rounds_run < protocol.max_rounds:
                gauge.start()
                first = made
                start = time.perf_counter()
                while made - first < runs_per_round or time.perf_counter() - start < round_s:
                    run(record=True)
                    made += 1
                share = gauge.read()
                rounds_run += 1
                if share is None or share <= protocol.max_contention:
                    counted.extend(range(first, made))
                    shares.append(share or 0.0)
    finally:
        if gc_was_enabled:
            gc.enable()
    use = counted or list(range(made))
    ops = []
    for (name, target, *_), times in zip(steps, samples):
        kept = [times[r] / 1e9 for r in use]
        low = max(percentile(kept, 25), 1e-9)
        ops.append(OpTiming(name, target, low, statistics.median(kept), percentile(kept, 90),
                            (percentile(kept, 90) - low) / low))
    return InModelTiming(tuple(ops), len(counted), made, sum(shares) / len(shares) if shares else 1.0)


def time_model_ops(module: Any, inputs: tuple, model: str, protocol: Protocol):
    """Trace `module` as predict does (runnable_program), cost its ops and time them in place:
    (InModelTiming, {node name: (OpNode, [OpCost of each of its parts])} for the ops graphcal
    costs, state bytes)."""
    from graphcal.cost import cost_graph
    from graphcal.hardware.allocator import SWEEP_HEAP

    program, graph = runnable_program(module, inputs, model)
    costed = cost_graph(graph, SWEEP_HEAP)
    nodes: dict = {}
    for node, cost in costed.ops:
        nodes.setdefault(node.name, (node, []))[1].append(cost)
    return time_ops(program, inputs, protocol), nodes, graph.persistent_bytes


EXPORTED_PROGRAM = "graphcal_exported_program"  # key in GraphModule.meta: the program it was unlifted from


def _trace_scripted(module: Any, inputs: tuple, model: str):
    """make_fx of a ScriptModule on its real inputs, as graphcal.load.formats.scripted traces it
    (there on fake tensors first; here the weights must stay real to be run)."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    from graphcal.load.formats.common import first_line

    def call(*args):
        return module(*args)

    try:
        with torch.no_grad():
            return make_fx(call, pre_dispatch=True, tracing_mode="real")(*inputs)
    except Exception as exc:  # TorchScript raises many types; the user needs the message
        raise GraphcalError(f"cannot time {model} op by op: make_fx cannot trace it ({first_line(exc)})") from None


def runnable_program(module: Any, inputs: tuple, model: str):
    """(program, OpGraph): what `module(*inputs)` runs as an FX program, and its graph, traced as
    predict traces the same MODEL:

    - a .pt2 archive's module (sweep.workload keeps its ExportedProgram in `meta`): that program,
      as saved (its module refuses eval(), and an export of it again could only drift);
    - a TorchScript module: make_fx at the pre-dispatch aten level on the real inputs (a program
      without lifted state: its weights are get_attr constants);
    - any other nn.Module: torch.export on the inputs.
    """
    import torch

    from graphcal.load.trace import export_program, graph_from_fx, persistent_inputs

    program = getattr(module, "meta", {}).get(EXPORTED_PROGRAM) if isinstance(module, torch.fx.GraphModule) else None
    if program is not None:
        return program, graph_from_fx(program.graph, model, persistent_inputs(program))
    if isinstance(module, torch.jit.ScriptModule):
        traced = _trace_scripted(module, inputs, model)
        return traced, graph_from_fx(traced.graph, model)
    program = export_program(module, inputs, model)
    return program, graph_from_fx(program.graph, model, persistent_inputs(program))


def in_model_rows(module: Any, inputs: tuple, model_row: dict, protocol: Protocol) -> list[dict]:
    """One sweep row per costed op of the model, timed in place; `model_row` is the model's own
    row (its host, dtype, threads, pass, ... are the op rows' too). Free ops (views) and ops
    graphcal cannot cost are timed but get no row: nothing predicts them."""
    timing, nodes, state_bytes = time_model_ops(module, inputs, model_row["workload"], protocol)
    rows = []
    for op in timing.ops:
        if op.name not in nodes:
            continue
        node, costs = nodes[op.name]
        rows.append(complete_row({
            **model_row,
            "latency_s": repr(op.latency_s), "median_s": repr(op.median_s), "p90_s": repr(op.p90_s),
            "best_round_median_s": repr(op.median_s),
            "samples": str(timing.runs), "flops": repr(float(sum(c.flops for c in costs))),
            "bytes": repr(float(sum(c.bytes for c in costs))),
            "spread": f"{op.spread:.4f}", "calls_per_sample": "1", "rounds": str(timing.runs_run),
            "contention": f"{timing.contention:.3f}", "unsupported_ops": "",
            "scope": OP_SCOPE, "node": op.name, "target": op.target, "family": costs[0].family,
            "ops": ops_to_json([node], state_bytes, {node.name: costs[0].code_reuse_bytes}),
        }))
    return rows
