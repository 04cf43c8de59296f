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


def export_on_cpu(module: Any, inputs: tuple):
    """torch.export of `module` (eval, no grad) on real inputs: the program `predict` costs."""
    import torch

    module.eval()
    with torch.no_grad():
        return torch.export.export(module, inputs, strict=False)


def _plan(program, inputs: tuple):
    """(steps, env, Node): the program's call_function nodes as (name, target, fn, args, kwargs)
    with arguments still naming nodes, and the environment holding the lifted parameters,
    buffers and constants and the user inputs, by placeholder name."""
    import torch
    import torch.utils._pytree as pytree
    from torch.export.graph_signature import InputKind

    flat_inputs = iter(pytree.tree_leaves(inputs))
    values = []
    for spec in program.graph_signature.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            values.append(next(flat_inputs))
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and spec.target in program.state_dict:
            values.append(program.state_dict[spec.target])
        else:
            values.append(program.constants[spec.target])
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    env: dict[str, Any] = {node.name: value for node, value in zip(placeholders, values, strict=True)}
    last_use: dict[str, str] = {}
    for node in program.graph.nodes:
        for used in node.all_input_nodes:
            last_use[used.name] = node.name
    steps = []
    for node in program.graph.nodes:
        if node.op == "call_function":
            dead = tuple(n for n, user in last_use.items() if user == node.name and n not in env)
            steps.append((node.name, str(node.target), node.target, node.args, node.kwargs, dead))
        elif node.op not in ("placeholder", "output"):
            raise RuntimeError(f"unexpected node {node.op} in an exported program")
    return steps, env, torch.fx.Node


def _resolve(value, env, node_type):
    if isinstance(value, node_type):
        return env[value.name]
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, env, node_type) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, env, node_type) for k, v in value.items()}
    return value


def time_ops(program, inputs: tuple, rounds: int = 5, max_rounds: int = 15, warmup_runs: int = 3,
             max_contention: float = 0.25, runs_per_round: int = 2, round_s: float = 0.15) -> InModelTiming:
    """Per-op in-model times (see the module docstring)."""
    import torch

    steps, env0, node_type = _plan(program, inputs)
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in steps]

    def run(record: bool) -> None:
        env = dict(env0)
        for i, (name, _target, fn, args, kwargs, dead) in enumerate(steps):
            a = _resolve(args, env, node_type)
            k = _resolve(kwargs, env, node_type)
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
            while len(counted) < rounds * runs_per_round and rounds_run < max_rounds:
                gauge.start()
                first = made
                start = time.perf_counter()
                while made - first < runs_per_round or time.perf_counter() - start < round_s:
                    run(record=True)
                    made += 1
                share = gauge.read()
                rounds_run += 1
                if share is None or share <= max_contention:
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


def in_model_rows(module: Any, inputs: tuple, model_row: dict, protocol: Protocol) -> list[dict]:
    """One sweep row per costed op of the model, timed in place; `model_row` is the model's own
    row (its host, dtype, threads, pass, ... are the op rows' too). Free ops (views) and ops
    graphcal cannot cost are timed but get no row: nothing predicts them."""
    from graphcal.cost import cost_graph
    from graphcal.load.trace import graph_from_fx

    program = export_on_cpu(module, inputs)
    costed = cost_graph(graph_from_fx(program.graph, model_row["workload"]))
    nodes = {node.name: (node, cost) for node, cost in costed.ops}
    timing = time_ops(program, inputs, rounds=protocol.rounds, max_rounds=protocol.max_rounds,
                      max_contention=protocol.max_contention)
    rows = []
    for op in timing.ops:
        if op.name not in nodes:
            continue
        node, cost = nodes[op.name]
        rows.append(complete_row({
            **model_row,
            "latency_s": repr(op.latency_s), "median_s": repr(op.median_s), "p90_s": repr(op.p90_s),
            "best_round_median_s": repr(op.median_s),
            "samples": str(timing.runs), "flops": repr(float(cost.flops)), "bytes": repr(float(cost.bytes)),
            "spread": f"{op.spread:.4f}", "calls_per_sample": "1", "rounds": str(timing.runs_run),
            "contention": f"{timing.contention:.3f}", "unsupported_ops": "",
            "scope": OP_SCOPE, "node": op.name, "target": op.target, "family": cost.family,
            "ops": ops_to_json([node]),
        }))
    return rows
