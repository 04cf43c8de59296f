"""Cost a model's ops, map them onto a profile, and sum: the Prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphcal.cost import OpCost, cost_graph
from graphcal.errors import CheckFailed, GraphcalError
from graphcal.load.graph import OpGraph, OpNode
from graphcal.mapper import OpTime, Target, op_time

if TYPE_CHECKING:
    from graphcal.predict.breakdown import Group


@dataclass(frozen=True)
class OpPrediction:
    """One op of a prediction: the call (`node`), its cost and its time on the target."""

    node: OpNode
    cost: OpCost
    time: OpTime

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def target(self) -> str:
        """The op as torch prints it: `aten.conv2d.default`."""
        return self.node.target

    @property
    def family(self) -> str:
        return self.cost.family

    @property
    def module(self) -> str | None:
        """The innermost module the op ran in (`layer1.0.conv1`; "" for the model's own forward);
        None where the format records no modules (TorchScript)."""
        return self.node.module

    @property
    def flops(self) -> float:
        return self.cost.flops

    @property
    def bytes(self) -> float:
        return self.cost.bytes

    @property
    def time_s(self) -> float:
        return self.time.total_s

    @property
    def bound(self) -> str:
        """What sets the op's time: compute, memory or overhead."""
        return self.time.bound


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

    def by_family(self) -> dict[str, Group]:
        """The ops summed by cost family (conv, matmul, elementwise, ...), costliest first."""
        from graphcal.predict.breakdown import group_ops

        return {g.key: g for g in group_ops(self, "family")}

    def by_module(self, depth: int | None = None) -> dict[str, Group]:
        """The ops summed by the module they ran in, its path cut to `depth` dotted parts
        (`layer1.0` at 2), costliest first."""
        from graphcal.predict.breakdown import group_ops

        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise GraphcalError(f"depth must be a whole number of at least 1, got {depth!r}")
        return {g.key: g for g in group_ops(self, "module", depth)}

    def to_dict(self) -> dict[str, Any]:
        """What `graphcal predict MODEL --json` prints."""
        from graphcal.predict.report import prediction_json

        return prediction_json(self)


def predict_graph(graph: OpGraph, target: Target, strict: bool = False) -> Prediction:
    costed = cost_graph(graph)
    if strict and costed.unsupported:
        listed = ", ".join(f"{t} x{n}" for t, n in sorted(costed.unsupported.items()))
        raise CheckFailed(f"--strict: {graph.model} has ops graphcal cannot cost: {listed}")
    ops = tuple(OpPrediction(node, cost, op_time(cost, target)) for node, cost in costed.ops)
    return Prediction(graph.model, target, ops, dict(sorted(costed.unsupported.items())))
