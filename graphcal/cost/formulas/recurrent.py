"""Recurrent layers: LSTM, GRU and Elman RNN, whole (aten.lstm.input at the export level),
one layer (aten.mkldnn_rnn_layer, what eager CPU LSTM runs) or one cell (aten.lstm_cell).

Per layer and direction, per time step and batch row, the gate matmuls cost
2 * G*H * (I + H) FLOPs (G gates, I the layer's input size; with a projection, 2*H*P more),
computed here exactly as 2 * rows * (elements of every weight matrix), rows = B * T.
The gate elementwise work is added per hidden unit, in the FLOP units of the vector families.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from graphcal.cost.formulas.common import ARITH, MATRIX, TRANSCENDENTAL, io_cost
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import OpNode, TensorMeta

# (gates, transcendentals per hidden unit, other arithmetic per hidden unit) of one step.
# LSTM: sigmoid i, f, o and tanh g, tanh c (5); c = f*c + i*g (3), h = o*tanh(c) (1).
LSTM = (4, 5, 4)
# GRU: sigmoid r, z and tanh n (3); r*(W_hn h) (1), h = (1-z)*n + z*h (4).
GRU = (3, 3, 5)
RNN_TANH = (1, 1, 0)
RNN_RELU = (1, 0, 1)


def _layers(node: OpNode) -> tuple[list[list[TensorMeta]], bool]:
    """The weight matrices of each layer and direction, and whether the gates have biases."""
    if node.target.endswith("_cell.default"):  # (input, hx, w_ih, w_hh, b_ih=None, b_hh=None)
        return [[node.args[2], node.args[3]]], node.arg(4, "b_ih") is not None
    if node.target == "aten.mkldnn_rnn_layer.default":  # (input, w_ih, w_hh, b_ih, b_hh, ...)
        return [[node.args[1], node.args[2]]], bool(node.args[12])
    # (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    # params hold, per layer and direction, w_ih, w_hh[, b_ih, b_hh][, w_hr].
    params, has_biases, num_layers, bidirectional = node.args[2], node.args[3], node.args[4], node.args[7]
    groups = num_layers * (2 if bidirectional else 1)
    per_group = len(params) // groups
    return [
        [p for p in params[g * per_group:(g + 1) * per_group] if len(p.shape) == 2]
        for g in range(groups)
    ], bool(has_biases)


def _step_rows(node: OpNode, x: TensorMeta) -> int:
    """The rows of one time step's GEMM: the batch (time steps run one after another)."""
    if len(x.shape) < 3:  # a cell, or an unbatched sequence (L, H_in)
        return x.shape[0] if node.target.endswith("_cell.default") else 1
    # lstm/gru/rnn take batch_first as argument 8; mkldnn_rnn_layer is always time-major
    batch_first = node.target.startswith(("aten.lstm", "aten.gru", "aten.rnn")) and bool(
        node.arg(8, "batch_first", False)
    )
    return x.shape[0] if batch_first else x.shape[1]


def recurrent_formula(step: tuple[int, int, int], family: str = "recurrent") -> Callable[[OpNode], OpCost]:
    """A formula for one recurrent cell type: `step` = (gates, transcendentals, other ops)."""
    gates, transcendentals, other = step

    def formula(node: OpNode) -> OpCost:
        x = node.args[0]
        rows = x.numel // x.shape[-1]  # batch x time steps (batch for a cell)
        layers, biased = _layers(node)
        flops = 0
        for weights in layers:
            hidden = weights[0].shape[0] // gates
            # NB: each gate pre-activation adds the input and hidden matmuls and two biases.
            pointwise = gates * (1 + 2 * biased) * ARITH + transcendentals * TRANSCENDENTAL + other * ARITH
            flops += 2 * rows * sum(w.numel for w in weights) + rows * hidden * pointwise
        # NB: weights are counted read once and the gate intermediates not at all: bytes are
        # the op's inputs and outputs. On CPU, ATen (RNN.cpp's FullLayer) and oneDNN's RNN
        # primitive project the input of every time step at once, one GEMM of batch x steps
        # rows per layer, before the steps run: each step then multiplies the hidden state by
        # the layer's hidden weights (W_hh, and W_hr with a projection) alone, a GEMM of
        # M = batch, K = hidden, N = gates x hidden, which step_bytes reads again every step
        # (a cell is one step: io_cost already reads its input weights).
        w_hh = layers[0][1]
        gemm = (_step_rows(node, x), w_hh.shape[1], w_hh.shape[0])
        steps = max(1, rows // gemm[0]) * len(layers)  # time steps, one after another, per layer and direction
        step_bytes = sum(w.nbytes for weights in layers for w in weights[1:]) / len(layers)
        return dataclasses.replace(io_cost(node, flops, MATRIX, family, gemm), steps=steps, step_bytes=step_bytes)

    formula.__doc__ = f"Recurrent cell with {gates} gate(s): gate matmuls plus gate elementwise work."
    return formula


# A whole-sequence LSTM runs as oneDNN's fused RNN primitive on CPU (measured here: 3x the rate
# of a GRU of the same size, which runs step by step through ATen's GEMMs): its own family.
register("aten.lstm.input", "aten.mkldnn_rnn_layer.default")(recurrent_formula(LSTM, "lstm"))
register("aten.lstm_cell.default")(recurrent_formula(LSTM))
register("aten.gru.input", "aten.gru_cell.default")(recurrent_formula(GRU))
register("aten.rnn_tanh.input", "aten.rnn_tanh_cell.default")(recurrent_formula(RNN_TANH))
register("aten.rnn_relu.input", "aten.rnn_relu_cell.default")(recurrent_formula(RNN_RELU))
