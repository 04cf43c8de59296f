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


def predict_graph(graph: OpGraph, target: Target, strict: bool = False) -> Prediction:
    costed = cost_graph(graph)
    if strict and costed.unsupported:
        listed = ", ".join(f"{t} x{n}" for t, n in sorted(costed.unsupported.items()))
        raise CheckFailed(f"--strict: {graph.model} has ops graphcal cannot cost: {listed}")
    ops = tuple(OpPrediction(node, cost, op_time(cost, target)) for node, cost in costed.ops)
    return Prediction(graph.model, target, ops, dict(sorted(costed.unsupported.items())))
