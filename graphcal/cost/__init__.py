"""Per-op costs: FLOPs and bytes moved, from shapes and dtypes alone."""

from graphcal.cost.registry import FORMULAS, FREE_OPS, GraphCost, OpCost, OpKind, cost_graph, cost_node

__all__ = ["FREE_OPS", "FORMULAS", "GraphCost", "OpCost", "OpKind", "cost_graph", "cost_node"]
