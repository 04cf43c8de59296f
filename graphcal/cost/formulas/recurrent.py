"""Recurrent layers: LSTM, GRU and Elman RNN, whole (aten.lstm.input at the export level),
one layer (aten.mkldnn_rnn_layer, what eager CPU LSTM runs) or one cell (aten.lstm_cell).

Per layer and direction, per time step and batch row, the gate matmuls cost
2 * G*H * (I + H) FLOPs (G gates, I the layer's input size; with a projection, 2*H*P more),
computed here exactly as 2 * rows * (elements of every weight matrix), rows = B * T.
The gate elementwise work is added per hidden unit, in the FLOP units of the vector families.

A whole-sequence LSTM runs as one fused kernel (fused_formula: one op); GRUs, Elman RNNs and
cells run step by step through ATen's calls (stepped_formula: the op's parts, OpCost.part).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from graphcal.cost.formulas.common import ARITH, MATRIX, TRANSCENDENTAL, VECTOR, io_cost
from graphcal.cost.registry import OpCost, register
from graphcal.load.graph import ITEMSIZE, OpNode, TensorMeta

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
    if len(x.shape) < 2:  # an unbatched cell (H_in)
        return 1
    if len(x.shape) < 3:  # a cell, or an unbatched sequence (L, H_in)
        return x.shape[0] if node.target.endswith("_cell.default") else 1
    # lstm/gru/rnn take batch_first as argument 8; mkldnn_rnn_layer is always time-major
    batch_first = node.target.startswith(("aten.lstm", "aten.gru", "aten.rnn")) and bool(
        node.arg(8, "batch_first", False)
    )
    return x.shape[0] if batch_first else x.shape[1]


def fused_formula(step: tuple[int, int, int], family: str) -> Callable[[OpNode], OpCost]:
    """A formula for a recurrent layer one fused kernel runs (oneDNN's LSTM): one op whose
    class prices it whole; `step` = (gates, transcendentals, other ops)."""
    gates, transcendentals, other = step

    def formula(node: OpNode) -> OpCost:
        x = node.args[0]
        rows = x.numel // x.shape[-1]  # batch x time steps
        layers, biased = _layers(node)
        flops = 0
        for weights in layers:
            hidden = weights[0].shape[0] // gates
            flops += 2 * rows * sum(w.numel for w in weights) + rows * hidden * _pointwise(step, biased)
        # NB: weights are counted read once and the gate intermediates not at all: bytes are
        # the op's inputs and outputs. oneDNN's RNN primitive projects the input of every time
        # step at once, one GEMM of batch x steps rows per layer, before the steps run: each
        # step then multiplies the hidden state by the layer's hidden weights (W_hh, and W_hr
        # with a projection) alone, a GEMM of M = batch, K = hidden, N = gates x hidden, which
        # step_bytes reads again every step.
        w_hh = layers[0][1]
        gemm = (_step_rows(node, x), w_hh.shape[1], w_hh.shape[0])
        steps = max(1, rows // gemm[0]) * len(layers)  # time steps, one after another, per layer and direction
        step_bytes = sum(w.nbytes for weights in layers for w in weights[1:]) / len(layers)
        return dataclasses.replace(io_cost(node, flops, MATRIX, family, gemm), steps=steps, step_bytes=step_bytes)

    formula.__doc__ = f"Fused recurrent layer with {gates} gate(s): gate matmuls plus gate elementwise work."
    return formula


def stepped_formula(step: tuple[int, int, int]) -> Callable[[OpNode], tuple[OpCost, ...]]:
    """A formula for a recurrent layer or cell that ATen runs step by step (RNN.cpp): the parts
    it calls, each priced by the kernel class that runs it (OpCost.part). Per layer and
    direction, a whole sequence first projects every step's input at once (`at::linear` of
    batch x steps rows, K = the layer's input, N = gates x hidden: a GEMM), then runs one step
    after another, each a GEMM of the hidden state by W_hh (M = batch, K = hidden, N = gates x
    hidden, W_hh read again at every step: step_bytes) and the cell's gate arithmetic, about ten
    small elementwise calls (`gates`: the recurrent class, per step). A cell (aten.gru_cell) is
    one step that projects its own input."""
    gates, _, _ = step

    def formula(node: OpNode) -> tuple[OpCost, ...]:
        x = node.args[0]
        cell = node.target.endswith("_cell.default")
        batch = _step_rows(node, x)
        layers, biased = _layers(node)
        steps = max(1, (x.numel // x.shape[-1]) // batch)
        parts: list[OpCost] = []
        units = 0
        for label, weights in zip(_group_labels(node, len(layers)), layers):
            w_ih, w_hh = weights[0], weights[1]
            element = ITEMSIZE[w_hh.dtype]
            hidden, width = w_hh.shape[1], w_hh.shape[0]  # width: gates x hidden
            bias = width * element if biased else 0
            rows = batch if cell else batch * steps
            parts.append(OpCost(
                float(2 * rows * w_ih.shape[1] * width), float(rows * w_ih.shape[1] * element + w_ih.nbytes + bias),
                float(rows * width * element), MATRIX, "recurrent", rows, w_ih.shape[1], width,
                state_bytes=float(w_ih.nbytes + bias), part=f"{label}input projection"))
            parts.append(OpCost(
                float(2 * batch * hidden * width * steps), float((batch * hidden * element + bias) * steps),
                float(batch * width * element * steps), MATRIX, "recurrent", batch, hidden, width,
                steps=steps, step_bytes=float(w_hh.nbytes), part=f"{label}hidden steps"))
            units += batch * steps * hidden
        # NB: a step's gate arithmetic reads both projections (gates x hidden each) and the
        # hidden state, and writes the new state: (2 x gates + 2) elements per hidden unit and
        # batch row; its calls run one after another, one step per layer at a time.
        gate_bytes = float(units * (2 * gates + 2) * ITEMSIZE[x.dtype])
        parts.append(OpCost(float(units * _pointwise(step, biased)), gate_bytes / 2, gate_bytes / 2, VECTOR,
                            "recurrent", steps=steps * len(layers), part="gates"))
        return tuple(parts)

    formula.__doc__ = f"Recurrent layer or cell with {gates} gate(s), run step by step by ATen: its parts."
    return formula


def _group_labels(node: OpNode, groups: int) -> list[str]:
    """A label per layer and direction, for the parts' names: '' for a single one."""
    if groups == 1:
        return [""]
    directions = 2 if not node.target.endswith("_cell.default") and node.args[7] else 1
    return [f"layer {g // directions + 1}{' reverse' if g % directions else ''} " for g in range(groups)]


def _pointwise(step: tuple[int, int, int], biased: bool) -> int:
    """FLOPs of a step's gate arithmetic per hidden unit: each gate pre-activation adds the
    input and hidden projections and two biases; then the transcendentals and the update."""
    gates, transcendentals, other = step
    return gates * (1 + 2 * biased) * ARITH + transcendentals * TRANSCENDENTAL + other * ARITH


# A whole-sequence LSTM runs as oneDNN's fused RNN primitive on CPU (measured here: 3x the rate
# of a GRU of the same size, which runs step by step through ATen's GEMMs): its own family.
register("aten.lstm.input", "aten.mkldnn_rnn_layer.default")(fused_formula(LSTM, "lstm"))
register("aten.lstm_cell.default")(stepped_formula(LSTM))
register("aten.gru.input", "aten.gru_cell.default")(stepped_formula(GRU))
register("aten.rnn_tanh.input", "aten.rnn_tanh_cell.default")(stepped_formula(RNN_TANH))
register("aten.rnn_relu.input", "aten.rnn_relu_cell.default")(stepped_formula(RNN_RELU))
