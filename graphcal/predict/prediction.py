"""Cost a model's ops, map them onto a profile, and sum: the Prediction."""

from __future__ import annotations

from dataclasses import dataclass

from graphcal.cost import OpCost, cost_graph
from graphcal.errors import CheckFailed
from graphcal.load.graph import OpGraph, OpNode
from graphcal.mapper import OpTime, Target, op_time


@dataclass(frozen=True)
class OpPrediction:
    node: OpNode
    cost: OpCost
    time: OpTime


@dataclass(frozen=True)
class Prediction:
    model: str
    target: Target
    ops: tuple[OpPrediction, ...]
    unsupported: dict[str, int]

    @property
    def latency_s(self) -> float:
        return sum(op.time.total_s for op in self.ops)

    @property
    def flops(self) -> float:
        return sum(op.cost.flops for op in self.ops)

    @property
    def bytes(self) -> float:
        return sum(op.cost.bytes for op in self.ops)

    @property
    def state_bytes(self) -> float:
        """Bytes read from the model's state (weights, buffers, a KV cache)."""
        return sum(op.cost.state_bytes for op in self.ops)

    def uncalibrated(self) -> list[tuple[str, float]]:
        """(family, share of the predicted latency) for each op family the profile's fits had
        no rows for (profile.calibrated.families), largest share first."""
        calibrated = self.target.profile.calibrated_families
        shares: dict[str, float] = {}
        for op in self.ops:
            if op.cost.family not in calibrated:
                shares[op.cost.family] = shares.get(op.cost.family, 0.0) + op.time.total_s
        total = self.latency_s or 1.0
        return sorted(((f, t / total) for f, t in shares.items()), key=lambda item: -item[1])

    @property
    def threads_calibrated(self) -> bool:
        """Whether the profile's fits had rows at this thread count."""
        return self.target.threads in self.target.profile.calibrated_threads


def predict_graph(graph: OpGraph, target: Target, strict: bool = False) -> Prediction:
    costed = cost_graph(graph)
    if strict and costed.unsupported:
        listed = ", ".join(f"{t} x{n}" for t, n in sorted(costed.unsupported.items()))
        raise CheckFailed(f"--strict: {graph.model} has ops graphcal cannot cost: {listed}")
    ops = tuple(OpPrediction(node, cost, op_time(cost, target)) for node, cost in costed.ops)
    return Prediction(graph.model, target, ops, dict(sorted(costed.unsupported.items())))
