"""`compare MODEL --measure`: time a model here, whole and op by op in place, and put each op's
prediction beside its measurement. What a user runs when a prediction looks wrong, and what
shows which term to add next.

The model is built as `sweep model` builds it, timed whole with the protocol (its latency is
the protocol's statistic), then op by op inside the running model (graphcal.sweep.inmodel,
on the same exported program the predictions are costed from, so every op pairs with itself).
Free ops (views) and ops graphcal cannot cost are measured too and reported apart: nothing
predicts them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from graphcal.hardware.allocator import settle
from graphcal.load.resolve import InputSpec
from graphcal.mapper import Target, op_time, working_ops
from graphcal.sweep.protocol import Protocol


@dataclass(frozen=True)
class MeasuredOp:
    name: str
    target: str
    family: str           # the cost family; "free" or "unsupported" where nothing predicts it
    measured_s: float     # in place: the lower quartile over instrumented runs
    predicted_s: float

    @property
    def error_s(self) -> float:
        return self.predicted_s - self.measured_s


@dataclass(frozen=True)
class Measurement:
    model: str
    hardware: str
    threads: int
    measured_s: float     # the whole model, uninstrumented (the protocol's latency)
    ops: tuple[MeasuredOp, ...]   # sorted by |error|, largest first

    @property
    def predicted_s(self) -> float:
        return sum(op.predicted_s for op in self.ops)

    @property
    def ops_measured_s(self) -> float:
        """The sum of the ops' in-place times (against measured_s: the instrumentation's cost)."""
        return sum(op.measured_s for op in self.ops)

    def families(self) -> dict[str, dict[str, float]]:
        """Measured and predicted time per family, largest measured first."""
        totals: dict[str, dict[str, float]] = {}
        for op in self.ops:
            entry = totals.setdefault(op.family, {"measured_s": 0.0, "predicted_s": 0.0})
            entry["measured_s"] += op.measured_s
            entry["predicted_s"] += op.predicted_s
        return dict(sorted(totals.items(), key=lambda item: -item[1]["measured_s"]))

    def as_json(self) -> dict:
        return {
            "model": self.model,
            "hardware": self.hardware,
            "threads": self.threads,
            "measured_s": self.measured_s,
            "predicted_s": self.predicted_s,
            "ops_measured_s": self.ops_measured_s,
            "families": self.families(),
            "ops": [
                {"name": o.name, "target": o.target, "family": o.family, "measured_s": o.measured_s,
                 "predicted_s": o.predicted_s}
                for o in self.ops
            ],
        }


def measure_model(
    model: str, target: Target, input_specs: tuple[InputSpec, ...] = (), protocol: Protocol | None = None,
    factory_kwargs: dict | None = None, trust_pickle: bool = False,
) -> Measurement:
    """Time MODEL here at the target's threads and precision and predict each op on its profile:
    any MODEL `sweep model` builds (a spec, .pt2, TorchScript, a trusted pickle, a factory)."""
    from graphcal.sweep.workload import build_module

    module, inputs = build_module(model, target.precision, input_specs, trust_pickle, factory_kwargs)
    return measure_built(module, inputs, model, target, protocol)


def measure_built(module, inputs: tuple, model: str, target: Target, protocol: Protocol | None = None) -> Measurement:
    """Time a built module on its inputs (CPU tensors), whole and op by op, beside each op's
    prediction on the target's profile."""
    import torch

    from graphcal.cost import FREE_OPS
    from graphcal.sweep.inmodel import time_model_ops
    from graphcal.sweep.protocol import time_block

    protocol = protocol or Protocol()
    settle()  # timed, and predicted below, in allocator.SWEEP_HEAP's state
    threads_before = torch.get_num_threads()
    torch.set_num_threads(target.threads)
    try:
        with torch.no_grad():
            whole = time_block([lambda: module(*inputs)], protocol)[0]
        timing, costed, _ = time_model_ops(module, inputs, model, protocol)
    finally:
        torch.set_num_threads(threads_before)
    # as predict_graph does: an op inside a graph of many ops pays its class's in-model terms
    target = dataclasses.replace(target, graph_ops=working_ops(c for _, costs in costed.values() for c in costs))
    ops = []
    for op in timing.ops:
        if op.name in costed:
            costs = costed[op.name][1]
            predicted = sum(op_time(cost, target).total_s for cost in costs)
            ops.append(MeasuredOp(op.name, op.target, costs[0].family, op.latency_s, predicted))
        else:
            family = "free" if op.target in FREE_OPS else "unsupported"
            ops.append(MeasuredOp(op.name, op.target, family, op.latency_s, 0.0))
    ops.sort(key=lambda o: -abs(o.error_s))
    return Measurement(model, target.profile.name, target.threads, whole.latency_s, tuple(ops))
