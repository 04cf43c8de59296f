"""Cost a model's ops, map them onto a profile, and sum: the Prediction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphcal.cost import OpCost, cost_graph
from graphcal.cost.classes import kernel_class
from graphcal.errors import CheckFailed, GraphcalError
from graphcal.load.graph import OpGraph, OpNode
from graphcal.mapper import OpTime, Target, kernel_target, kernel_terms, op_time, working_ops

UNCALIBRATED, EXTRAPOLATED = "uncalibrated", "extrapolated"


def calibration_status(cost: OpCost, target: Target) -> str:
    """'' where the profile's calibration covered the op; 'uncalibrated' where no fit behind it
    had rows of its kind (on a profile with kernel tables: no table for its class at this
    precision; else no rows of its family); 'extrapolated' where its class's table was fitted,
    but not at this thread count, or not on ops as small or as large (its FLOPs or bytes beyond
    the table's `covers`), or where it is a kindred class's table (classes.KINDRED_CLASSES)."""
    target = kernel_target(cost, target)
    profile = target.profile
    if not profile.has_kernel_tables:
        return "" if cost.family in profile.calibrated_families else UNCALIBRATED
    terms = kernel_terms(cost, target)
    if terms is None:
        return UNCALIBRATED
    if terms.extrapolated:
        return EXTRAPOLATED
    covers = profile.kernel_table(target.precision, terms.kernel_class).get("covers", {})
    if covers.get("threads") and target.threads not in covers["threads"]:
        return EXTRAPOLATED
    for name, value in (("flops", cost.flops), ("bytes", cost.bytes)):
        low, high = covers.get(name, (0, float("inf")))
        if value and not low <= value <= high:
            return EXTRAPOLATED
    return ""

if TYPE_CHECKING:
    from graphcal.predict.breakdown import Group


@dataclass(frozen=True)
class OpPrediction:
    """One op of a prediction: the call (`node`), its cost and its time on the target."""

    node: OpNode
    cost: OpCost
    time: OpTime
    status: str = ""   # calibration_status

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
        """What sets the op's time: compute, memory, overhead or allocation (OpTime.bound)."""
        return self.time.bound


@dataclass(frozen=True)
class Prediction:
    model: str
    target: Target
    ops: tuple[OpPrediction, ...]
    unsupported: dict[str, int]
    # whether the allocator's page faults come from a replay of the whole call (GraphCost.call_replayed)
    call_replayed: bool = True

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

    @property
    def fresh_bytes(self) -> int:
        """Bytes of the pages the C allocator maps afresh on every call (OpCost.fault_bytes)."""
        return sum(op.cost.fault_bytes for op in self.ops)

    @property
    def fault_s(self) -> float:
        """The predicted time of those pages' faults (0 where the profile cannot cost them)."""
        return sum(op.time.fault_s for op in self.ops)

    @property
    def faults_costed(self) -> bool:
        """Whether the profile costs fresh pages (memory.fresh_page_s)."""
        return bool(self.target.profile.fresh_page_s)

    def uncalibrated(self) -> list[tuple[str, float]]:
        """(kind, share of the predicted latency) for each kind of op no fit behind the profile
        had rows for, largest share first: kernel classes on a profile with kernel tables, op
        families (profile.calibrated.families) on one without."""
        return self._shares(UNCALIBRATED)

    def extrapolated(self) -> list[tuple[str, float]]:
        """(kernel class, share of the predicted latency) for each class whose table's
        calibration did not cover these ops (thread count, or FLOPs and bytes), largest first."""
        return self._shares(EXTRAPOLATED)

    def _shares(self, status: str) -> list[tuple[str, float]]:
        by_class = self.target.profile.has_kernel_tables
        shares: dict[str, float] = {}
        for op in self.ops:
            if op.status == status:
                kind = kernel_class(op.cost, self.target.threads, self.target.precision) if by_class else op.cost.family
                shares[kind] = shares.get(kind, 0.0) + op.time.total_s
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
    costed = cost_graph(graph, target.heap)
    if strict and costed.unsupported:
        listed = ", ".join(f"{t} x{n}" for t, n in sorted(costed.unsupported.items()))
        raise CheckFailed(f"--strict: {graph.model} has ops graphcal cannot cost: {listed}")
    target = dataclasses.replace(target, graph_ops=working_ops(cost for _, cost in costed.ops))
    ops = tuple(
        OpPrediction(node, cost, op_time(cost, target), calibration_status(cost, target)) for node, cost in costed.ops
    )
    return Prediction(graph.model, target, ops, dict(sorted(costed.unsupported.items())), costed.call_replayed)
