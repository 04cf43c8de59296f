"""An op's code reuse distance (graphcal.cost.reuse): the bytes its graph moves between two calls
of its target, counted around the call boundary, carried by in-model sweep rows."""

from __future__ import annotations

import pytest

from graphcal.cost import cost_graph
from graphcal.load.graph import OpGraph, OpNode, TensorMeta
from graphcal.load.opjson import graph_from_json, ops_to_json


def T(*shape: int, persistent: bool = False) -> TensorMeta:
    return TensorMeta(shape, "float32", persistent)


def op(name: str, target: str, *args, out: TensorMeta) -> OpNode:
    return OpNode(name, target, args, {}, (out,))


X = T(1, 1024)
W = T(4096, 1024, persistent=True)
ADD = op("add_1", "aten.add.Tensor", X, X, out=X)
MATVEC = op("linear", "aten.linear.default", X, W, out=T(1, 4096))
ADD_2 = op("add_2", "aten.add.Tensor", T(1, 4096), T(1, 4096), out=T(1, 4096))
MUL = op("mul", "aten.mul.Tensor", T(1, 4096), T(1, 4096), out=T(1, 4096))


def reuse_of(graph: OpGraph) -> dict[str, float]:
    return {node.name: cost.code_reuse_bytes for node, cost in cost_graph(graph).ops}


def moved(graph: OpGraph) -> dict[str, float]:
    return {node.name: cost.bytes for node, cost in cost_graph(graph).ops}


def test_the_distance_runs_from_the_targets_previous_call_around_the_call_boundary():
    graph = OpGraph("g", (ADD, MATVEC, ADD_2, MUL))
    b, reuse = moved(graph), reuse_of(graph)
    assert reuse["add_2"] == b["add_1"] + b["linear"]          # its previous call, earlier in this one
    assert reuse["add_1"] == b["add_2"] + b["mul"]             # the last add of the call before
    assert reuse["mul"] == reuse["linear"] == sum(b.values())  # a target called once: a whole call
    assert reuse_of(OpGraph("one", (ADD,)))["add_1"] == b["add_1"]  # an op timed alone: its own bytes


def test_a_gemm_of_several_rows_moves_its_packed_matrix_too():
    rows4 = op("linear", "aten.linear.default", T(4, 1024), W, out=T(4, 4096))
    one, four = OpGraph("g", (ADD, MATVEC, ADD_2)), OpGraph("g", (ADD, rows4, ADD_2))
    packed = 2 * W.nbytes
    grown = reuse_of(four)["add_2"] - reuse_of(one)["add_2"]
    assert grown == pytest.approx(packed + (moved(four)["linear"] - moved(one)["linear"]))


def test_an_op_cut_out_of_its_model_keeps_the_distance_its_model_gave_it():
    graph = OpGraph("g", (ADD, MATVEC, ADD_2, MUL))
    reuse = reuse_of(graph)
    text = ops_to_json([ADD_2], 0, {"add_2": reuse["add_2"]})
    assert reuse_of(graph_from_json(text, "row 1"))["add_2"] == reuse["add_2"]
    assert reuse_of(graph_from_json(ops_to_json([ADD_2]), "row 1"))["add_2"] == moved(graph)["add_2"]
