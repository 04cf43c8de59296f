"""Per-op costs: FLOPs and bytes moved, from shapes and dtypes alone."""

# Importing the formula modules fills FORMULAS, so code reading the table itself (`target in
# FORMULAS`) never sees it empty; cost_node and cost_graph would load it only when first called.
from graphcal.cost import formulas  # noqa: F401
from graphcal.cost.registry import FORMULAS, FREE_OPS, GraphCost, OpCost, OpKind, cost_graph, cost_node

__all__ = ["FREE_OPS", "FORMULAS", "GraphCost", "OpCost", "OpKind", "cost_graph", "cost_node"]
