"""Hand-computed costs for each formula family, the arithmetic beside each number.

FLOPs: a multiply-add is 2. Bytes: inputs (activations and weights) read, outputs written,
at the tensors' own dtypes (fp32 4 bytes, bf16/fp16 2, int64 8, bool 1).
"""

from __future__ import annotations

import pytest

import graphcal.cost.formulas  # noqa: F401  (fills FORMULAS)
from graphcal.cost import FORMULAS, FREE_OPS, OpCost, OpKind, cost_graph, cost_node
from graphcal.cost.registry import register
from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph, OpNode, TensorMeta

MATRIX, VECTOR = OpKind.MATRIX, OpKind.VECTOR


def T(*shape: int, dtype: str = "float32") -> TensorMeta:
    return TensorMeta(tuple(shape), dtype)


def cost(target: str, args: tuple, outputs, **kwargs) -> OpCost:
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return cost_node(OpNode("n", target, tuple(args), kwargs, outputs))


def check(c: OpCost, flops, read, written, kind=None):
    assert (c.flops, c.bytes_read, c.bytes_written) == (flops, read, written)
    if kind is not None:
        assert c.kind is kind


# --- linear and the matmul family ---------------------------------------------------------------

def test_linear():
    c = cost("aten.linear.default", (T(4, 16), T(32, 16), T(32)), T(4, 32))
    check(c, 2 * 4 * 16 * 32,  # = 4096
          (4 * 16 + 32 * 16 + 32) * 4,  # x, W, b: 608 elements * 4 = 2432
          4 * 32 * 4,  # = 512
          MATRIX)
    # rows are every leading dimension: 2*(2*3)*16*8 = 1536; no bias read
    c = cost("aten.linear.default", (T(2, 3, 16), T(8, 16)), T(2, 3, 8))
    check(c, 1536, (96 + 128) * 4, 48 * 4)  # read (6*16 + 8*16)*4 = 896, written 6*8*4 = 192


def test_addmm_mm_bmm():
    c = cost("aten.addmm.default", (T(32), T(4, 16), T(16, 32)), T(4, 32))
    check(c, 4096, 2432, 512, MATRIX)  # 2*4*16*32 = 4096; (32 + 64 + 512)*4 = 2432; 128*4 = 512
    c = cost("aten.mm.default", (T(5, 7), T(7, 3)), T(5, 3))
    check(c, 210, 224, 60)  # 2*5*7*3 = 210; (35 + 21)*4 = 224; 15*4 = 60
    c = cost("aten.bmm.default", (T(6, 5, 7), T(6, 7, 3)), T(6, 5, 3))
    check(c, 1260, 1344, 360)  # 2*6*5*7*3 = 1260; (210 + 126)*4 = 1344; 90*4 = 360
    c = cost("aten.baddbmm.default", (T(6, 5, 3), T(6, 5, 7), T(6, 7, 3)), T(6, 5, 3))
    check(c, 1260, 1704, 360)  # 2*6*5*7*3 = 1260; (90 + 210 + 126)*4 = 1704


def test_matmul_broadcast_vector_and_dot():
    c = cost("aten.matmul.default", (T(2, 4, 5, 7), T(7, 3)), T(2, 4, 5, 3))
    assert c.flops == 1680  # 2 * (2*4*5*3 outputs) * 7 = 2*120*7 = 1680
    assert cost("aten.mv.default", (T(5, 7), T(7)), T(5)).flops == 70  # 2*5*7 = 70
    assert cost("aten.dot.default", (T(7), T(7)), T()).flops == 14  # 2*1*7 = 14


def test_matmul_bf16_bytes():
    c = cost("aten.mm.default", (T(8, 4, dtype="bfloat16"), T(4, 2, dtype="bfloat16")), T(8, 2, dtype="bfloat16"))
    check(c, 128, 80, 32)  # 2*8*4*2 = 128; (32 + 8)*2 = 80; 16*2 = 32


# --- convolutions -------------------------------------------------------------------------------

def test_conv2d():
    c = cost("aten.conv2d.default", (T(2, 3, 8, 8), T(16, 3, 3, 3), T(16), [1, 1], [1, 1]), T(2, 16, 8, 8))
    check(c, 2 * 2 * (16 * 3 * 3 * 3) * (8 * 8),  # 2*2*432*64 = 110592
          (2 * 3 * 64 + 432 + 16) * 4,  # x, W, b: 832*4 = 3328
          2 * 16 * 64 * 4,  # = 8192
          MATRIX)


def test_conv_groups_depthwise_unbatched():
    # groups=2: W (16, 8/2, 3, 3); 5x5 -> 3x3: 2*1*(16*4*9)*9 = 2*576*9 = 10368
    c = cost("aten.convolution.default",
             (T(1, 8, 5, 5), T(16, 4, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2), T(1, 16, 3, 3))
    assert c.flops == 10368
    # depthwise, groups=8: W (8, 1, 3, 3), 6x6 -> 6x6: 2*1*72*36 = 5184
    c = cost("aten.conv2d.default", (T(1, 8, 6, 6), T(8, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], 8), T(1, 8, 6, 6))
    assert c.flops == 5184
    # unbatched input (C, H, W): N = 1: 2*1*432*64 = 55296
    c = cost("aten.conv2d.default", (T(3, 8, 8), T(16, 3, 3, 3), None, [1, 1], [1, 1]), T(16, 8, 8))
    assert c.flops == 55296


def test_conv_transposed_counts_input_spatial():
    # W (C_in 4, C_out 2, 3, 3), stride 2, 5x5 -> 11x11; input spatial: 2*1*(4*2*9)*25 = 3600
    args = (T(1, 4, 5, 5), T(4, 2, 3, 3), None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1)
    assert cost("aten.convolution.default", args, T(1, 2, 11, 11)).flops == 3600
    args = (T(1, 4, 5, 5), T(4, 2, 3, 3), None, [2, 2])
    assert cost("aten.conv_transpose2d.input", args, T(1, 2, 11, 11)).flops == 3600


def test_conv1d():
    c = cost("aten.conv1d.default", (T(2, 1, 400), T(8, 1, 9), T(8), [4]), T(2, 8, 98))
    check(c, 28224,  # 2*2*(8*1*9)*98 = 2*2*72*98 = 28224
          (800 + 72 + 8) * 4,  # = 3520
          2 * 8 * 98 * 4)  # = 6272


# --- attention ----------------------------------------------------------------------------------

def test_sdpa():
    q, k, v = T(2, 4, 12, 8), T(2, 4, 10, 8), T(2, 4, 10, 8)
    c = cost("aten.scaled_dot_product_attention.default", (q, k, v), T(2, 4, 12, 8))
    check(c, 4 * 2 * 4 * 12 * 10 * 8,  # 4*B*H*L*S*D = 30720
          (768 + 640 + 640) * 4,  # q 2*4*12*8 = 768, k and v 2*4*10*8 = 640: 2048*4 = 8192
          768 * 4,  # = 3072
          MATRIX)
    # the CPU flash kernel: mask as a keyword (read), logsumexp (2, 4, 12) written too
    c = cost("aten._scaled_dot_product_flash_attention_for_cpu.default", (q, k, v, 0.0, False),
             (T(2, 4, 12, 8), T(2, 4, 12)), attn_mask=T(2, 1, 12, 10))
    check(c, 30720, 8192 + 240 * 4, 3072 + 96 * 4)  # mask 2*12*10 = 240; lse 2*4*12 = 96


def test_sdpa_value_depth_differs():
    c = cost("aten.scaled_dot_product_attention.default", (T(2, 4, 12, 8), T(2, 4, 10, 8), T(2, 4, 10, 16)),
             T(2, 4, 12, 16))
    assert c.flops == 46080  # 2*(2*4)*12*10*(8 + 16) = 2*8*120*24 = 46080


def test_native_multi_head_attention():
    q, kv = T(2, 6, 32), T(2, 10, 32)
    args = (q, kv, kv, 32, 4, T(96, 32), T(96), T(32, 32), T(32), None, False)
    c = cost("aten._native_multi_head_attention.default", args, (T(2, 6, 32),))
    # q proj 2*12*32*32 = 24576, k and v proj 2*20*32*32 = 40960 each,
    # core 4*(2*4)*6*10*8 = 15360, out proj 24576: 2*24576 + 2*40960 + 15360 = 146432
    assert c.flops == 146432 and c.kind is MATRIX and c.family == "attention"


def test_transformer_encoder_layer_fast_path():
    src = T(2, 10, 32)
    w = {"qkv": T(96, 32), "qkv_b": T(96), "proj": T(32, 32), "proj_b": T(32), "ln": T(32),
         "ffn1": T(64, 32), "ffn1_b": T(64), "ffn2": T(32, 64), "ffn2_b": T(32)}
    args = (src, 32, 4, w["qkv"], w["qkv_b"], w["proj"], w["proj_b"], False, False, 1e-5,
            w["ln"], w["ln"], w["ln"], w["ln"], w["ffn1"], w["ffn1_b"], w["ffn2"], w["ffn2_b"], None, None)
    c = cost("aten._transformer_encoder_layer_fwd.default", args, T(2, 10, 32))
    # rows 20: qkv 2*20*32*96 = 122880, core 4*8*10*10*8 = 25600, proj 2*20*32*32 = 40960,
    # 2 residual adds 2*640 = 1280, 2 layer norms 2*5*640 = 6400, ffn1 2*20*32*64 = 81920,
    # ReLU 20*64 = 1280, ffn2 81920: total 362240
    assert c.flops == 362240
    gelu_args = args[:7] + (True,) + args[8:]
    # GELU instead of ReLU: 8 FLOPs per hidden element, 7*1280 = 8960 more
    assert cost("aten._transformer_encoder_layer_fwd.default", gelu_args, T(2, 10, 32)).flops == 362240 + 8960


# --- vector families ----------------------------------------------------------------------------

def test_elementwise_with_broadcast_and_bf16():
    c = cost("aten.add.Tensor", (T(4, 8), T(8)), T(4, 8))
    check(c, 32, (32 + 8) * 4, 32 * 4, VECTOR)  # 1 per output: 4*8 = 32; read 40*4 = 160
    bf = dict(dtype="bfloat16")
    c = cost("aten.mul.Tensor", (T(4, 8, **bf), T(4, 8, **bf)), T(4, 8, **bf))
    check(c, 32, 2 * 32 * 2, 32 * 2)  # 32 FLOPs; read 64 elements * 2 = 128; written 64
    c = cost("aten.masked_fill.Scalar", (T(4, 8), T(4, 8, dtype="bool"), -1.0), T(4, 8))
    check(c, 32, 32 * 4 + 32 * 1, 128)  # fp32 input 128 + bool mask 32 = 160


def test_activations():
    half = dict(dtype="float16")
    check(cost("aten.relu.default", (T(10, **half),), T(10, **half)), 10, 20, 20)  # 1*10; 10*2 bytes
    assert cost("aten.hardswish.default", (T(10),), T(10)).flops == 10  # piecewise linear: 1*10
    assert cost("aten.gelu.default", (T(10),), T(10)).flops == 80  # transcendental: 8*10
    assert cost("aten.silu_.default", (T(10),), T(10)).flops == 80  # 8*10


def test_norms():
    c = cost("aten.native_layer_norm.default", (T(4, 16), [16], T(16), T(16), 1e-5),
             (T(4, 16), T(4, 1), T(4, 1)))
    check(c, 5 * 64,  # = 320
          (64 + 16 + 16) * 4,  # x, gamma, beta: 384
          (64 + 4 + 4) * 4,  # out, mean, rstd: 288
          VECTOR)
    # eval batch norm, a scale and shift: 2*(2*8*4*4) = 512; x + 4 per-channel vectors read
    bn = (T(2, 8, 4, 4), T(8), T(8), T(8), T(8), 0.1, 1e-5)
    c = cost("aten._native_batch_norm_legit_no_training.default", bn, (T(2, 8, 4, 4), T(0), T(0)))
    check(c, 512, (256 + 32) * 4, 256 * 4)  # read 1152, written 1024
    assert cost("aten.native_group_norm.default", (T(2, 16, 10), T(16), T(16), 2, 16, 10, 4, 1e-5),
                (T(2, 16, 10), T(2, 4), T(2, 4))).flops == 1600  # 5*320 = 1600


def test_softmax():
    assert cost("aten._softmax.default", (T(4, 10), -1, False), T(4, 10)).flops == 480  # 12*40


def test_pooling():
    c = cost("aten.max_pool2d.default", (T(1, 2, 8, 8), [2, 2], [2, 2]), T(1, 2, 4, 4))
    check(c, 4 * 32, 128 * 4, 32 * 4)  # 2x2 window per output: 4*(2*4*4) = 128
    # with indices: int64 indices written too: 32*4 + 32*8 = 384
    c = cost("aten.max_pool2d_with_indices.default", (T(1, 2, 8, 8), [2, 2], [2, 2]),
             (T(1, 2, 4, 4), T(1, 2, 4, 4, dtype="int64")))
    assert (c.flops, c.bytes_written) == (128, 384)
    assert cost("aten.max_pool1d.default", (T(2, 8, 10), [2]), T(2, 8, 5)).flops == 160  # 2*80
    assert cost("aten.avg_pool2d.default", (T(1, 1, 9, 9), 3), T(1, 1, 3, 3)).flops == 81  # 9*9
    assert cost("aten.max_pool3d.default", (T(1, 1, 4, 4, 4), [2]), T(1, 1, 2, 2, 2)).flops == 64  # 8*8
    # adaptive: 1 per input element: 2*8*7*7 = 784
    assert cost("aten._adaptive_avg_pool2d.default", (T(2, 8, 7, 7), [1, 1]), T(2, 8, 1, 1)).flops == 784


def test_reductions():
    check(cost("aten.mean.dim", (T(4, 16), [-1], True), T(4, 1)), 64, 256, 16)  # 1*64; 64*4; 4*4
    assert cost("aten.var.correction", (T(4, 16),), T()).flops == 192  # 3*64


# --- memory: gathers, copies, conversions, constructors ------------------------------------------

def test_embedding_reads_only_gathered_rows():
    c = cost("aten.embedding.default", (T(100, 32), T(2, 12, dtype="int64")), T(2, 12, 32))
    check(c, 0,
          2 * 12 * 8 + 2 * 12 * 32 * 4,  # indices 24*8 = 192 + rows 768*4 = 3072: 3264
          768 * 4)  # = 3072
    c = cost("aten.index_select.default", (T(100, 32), 0, T(5, dtype="int64")), T(5, 32))
    check(c, 0, 5 * 8 + 160 * 4, 160 * 4)  # 40 + 640 = 680; 640


def test_copies_are_not_free():
    for target in ("aten.clone.default", "aten.contiguous.default", "aten._to_copy.default"):
        check(cost(target, (T(4, 8),), T(4, 8)), 0, 128, 128)  # 32*4 read, 32*4 written
        assert target not in FREE_OPS
    c = cost("aten.cat.default", ([T(2, 3), T(4, 3)], 0), T(6, 3))
    check(c, 0, (6 + 12) * 4, 18 * 4)  # read 72, write 72
    # a dtype change: fp32 read, bf16 written: 10*4 = 40, 10*2 = 20
    check(cost("aten._to_copy.default", (T(10),), T(10, dtype="bfloat16"), dtype="bfloat16"), 0, 40, 20)


def test_dropout_in_eval_is_free_in_place_too():
    # nn.Dropout(inplace=True) exports as aten.dropout_ (EfficientNet's classifier): eval is identity
    for target in ("aten.dropout.default", "aten.dropout_.default"):
        assert cost(target, (T(4, 8), 0.2, False), T(4, 8)) is None


def test_conversion_without_change_is_free_and_with_change_copies():
    check(cost("aten.to.dtype", (T(10), "float32"), T(10)), 0, 0, 0)  # returns its input
    check(cost("aten.to.dtype", (T(10), "float16"), T(10, dtype="float16")), 0, 40, 20)  # 10*4; 10*2
    check(cost("aten.to.dtype", (T(10), "float32", False, True), T(10)), 0, 40, 40)  # copy=True


def test_constructors_write_only():
    check(cost("aten.zeros.default", ([4, 8],), T(4, 8)), 0, 0, 128)  # 32*4
    check(cost("aten.arange.start", (0, 12), T(12, dtype="int64")), 0, 0, 96)  # 12*8
    check(cost("aten.empty.memory_format", ([4, 8],), T(4, 8)), 0, 0, 0)  # allocation only


# --- recurrent ----------------------------------------------------------------------------------

LSTM_WEIGHTS = [T(96, 16), T(96, 24), T(96), T(96)]  # H = 24: 4H = 96, I = 16


def test_lstm_one_layer():
    args = (T(2, 7, 16), [T(1, 2, 24), T(1, 2, 24)], LSTM_WEIGHTS, True, 1, 0.0, False, False, True)
    c = cost("aten.lstm.input", args, (T(2, 7, 24), T(1, 2, 24), T(1, 2, 24)))
    # gate matmuls: 2*B*4H*(I+H) per step = 2*2*96*40 = 15360, times T = 7: 107520
    # gate elementwise per hidden unit: 4 gates * (1 sum + 2 biases) = 12, 5 transcendental * 8 = 40,
    # cell/hidden update 4: 56; B*T*H = 14*24 = 336: 336*56 = 18816. Total 107520 + 18816 = 126336
    check(c, 126336,
          (224 + 48 + 48 + 1536 + 2304 + 192) * 4,  # x, h0, c0, W_ih, W_hh, biases: 4352*4 = 17408
          (336 + 48 + 48) * 4,  # out, h_n, c_n: 432*4 = 1728
          MATRIX)
    # eager CPU runs it as one mkldnn_rnn_layer per layer and direction: same FLOPs
    mkldnn = (T(7, 2, 16), *LSTM_WEIGHTS, T(2, 24), T(2, 24), False, [], 2, 24, 1, True, False, False, False)
    assert cost("aten.mkldnn_rnn_layer.default", mkldnn, (T(7, 2, 24), T(2, 24), T(2, 24))).flops == 126336
    # every one of the 7 steps reads the layer's hidden weights W_hh again (the input
    # projection runs once, for every step, before them): a GEMM of B x H x 4H per step
    assert (c.steps, c.step_bytes) == (7, 2304 * 4)
    assert (c.rows, c.depth, c.columns) == (2, 24, 96)


def test_lstm_two_layers_bidirectional():
    layer1 = [T(96, 48), T(96, 24), T(96), T(96)]  # layer 1 reads both directions: I = 2H = 48
    params = LSTM_WEIGHTS * 2 + layer1 * 2
    args = (T(2, 7, 16), [T(4, 2, 24), T(4, 2, 24)], params, True, 2, 0.0, False, True, True)
    c = cost("aten.lstm.input", args, (T(2, 7, 48), T(4, 2, 24), T(4, 2, 24)))
    # matmuls 2*14*(2*(96*16 + 96*24) + 2*(96*48 + 96*24)) = 28*(7680 + 13824) = 602112;
    # elementwise 4 layer-directions * 18816 = 75264: 677376
    assert c.flops == 677376
    # 4 layer-directions of 7 steps; a step reads one layer-direction's hidden weights
    # (96 x 24 in every layer), whatever the layer's input
    assert (c.steps, c.step_bytes) == (28, 2304 * 4)


def test_gru_runs_as_its_parts():
    """ATen runs a GRU step by step: each layer's input projection (one GEMM over every step),
    then per step a GEMM of the hidden state by W_hh and the gate arithmetic. The parts' FLOPs
    add up to the layer's: nothing is lost or counted twice."""
    params = [T(72, 16), T(72, 24), T(72), T(72)]  # 3H = 72
    args = (T(7, 2, 16), T(1, 2, 24), params, True, 1, 0.0, False, False, False)
    parts = cost("aten.gru.input", args, (T(7, 2, 24), T(1, 2, 24)))
    projection, steps, gates = parts
    assert [p.part for p in parts] == ["input projection", "hidden steps", "gates"]
    assert {p.family for p in parts} == {"recurrent"}
    # matmuls 2*14*(72*16 + 72*24) = 28*2880 = 80640; elementwise per hidden unit
    # 3*(1 + 2) = 9 + 3*8 = 24 + 5 = 38: 14*24*38 = 12768. Total 93408
    assert sum(p.flops for p in parts) == 93408
    # time-major input (7 steps, batch 2): the projection is one GEMM of 14 rows by W_ih
    assert (projection.kind, projection.rows, projection.depth, projection.columns) == (MATRIX, 14, 16, 72)
    assert projection.flops == 2 * 14 * 16 * 72
    assert projection.state_bytes == (72 * 16 + 72) * 4  # W_ih and b_ih
    # 7 steps, each a GEMM of 2 x 24 x 72 that reads W_hh again
    assert (steps.kind, steps.rows, steps.depth, steps.columns, steps.steps) == (MATRIX, 2, 24, 72, 7)
    assert steps.step_bytes == 72 * 24 * 4 and steps.state_bytes == 0
    assert (gates.kind, gates.steps, gates.flops) == (VECTOR, 7, 12768)
    # only the last part holds the op's page faults: its output, 7 x 2 x 9,830,400 fp32 (550 MB), mapped afresh
    big = (T(7, 2, 9600 * 1024), T(1, 2, 24))
    graph = cost_graph(OpGraph("m", (OpNode("gru", "aten.gru.input", args, {}, big),)))
    assert [c.fault_bytes for _, c in graph.ops] == [0, 0, big[0].nbytes]


def test_two_layer_gru_and_cells_name_their_parts():
    layer1 = [T(72, 24), T(72, 24), T(72), T(72)]
    params = [T(72, 16), T(72, 24), T(72), T(72)] + layer1
    args = (T(2, 7, 16), T(2, 2, 24), params, True, 2, 0.0, False, False, True)
    parts = cost("aten.gru.input", args, (T(2, 7, 24), T(2, 2, 24)))
    assert [p.part for p in parts] == ["layer 1 input projection", "layer 1 hidden steps",
                                       "layer 2 input projection", "layer 2 hidden steps", "gates"]
    assert parts[2].depth == 24 and parts[1].rows == 2  # layer 2 reads layer 1's output; batch_first
    assert parts[-1].steps == 14  # 7 steps in each of 2 layers, one after another
    # a cell is one step that projects its own input: GEMMs of the batch's rows
    cell = (T(2, 16), [T(2, 24), T(2, 24)], *LSTM_WEIGHTS)
    lstm_cell = cost("aten.lstm_cell.default", cell, (T(2, 24), T(2, 24)))
    # 2*2*(1536 + 2304) = 15360 + 2*24*56 = 2688: 18048
    assert sum(p.flops for p in lstm_cell) == 18048
    assert [(p.rows, p.steps) for p in lstm_cell] == [(2, 1), (2, 1), (0, 1)]


# --- the registry -------------------------------------------------------------------------------

def test_registry_refuses_duplicates_and_free_ops():
    before = dict(FORMULAS)
    with pytest.raises(RuntimeError):
        register("aten.some_new_op.default", "aten.mm.default")(lambda node: OpCost())
    with pytest.raises(RuntimeError):
        register("aten.view.default")(lambda node: OpCost())
    with pytest.raises(RuntimeError):
        register("aten.other_new_op.default", "aten.other_new_op.default")(lambda node: OpCost())
    assert FORMULAS == before  # a refused registration registers nothing


def test_unsupported_ops_are_counted_never_zero():
    nodes = tuple(OpNode(f"n{i}", "aten.frobnicate.default", (T(3),), {}, (T(3),)) for i in range(2))
    nodes += (OpNode("v", "aten.view.default", (T(3), [3]), {}, (T(3),)),)
    result = cost_graph(OpGraph("m", nodes))
    assert result.unsupported == {"aten.frobnicate.default": 2}
    assert result.ops == []  # the view is free, the unknown op is not costed as zero


def test_malformed_call_is_a_clear_error():
    with pytest.raises(GraphcalError, match="aten.mm.default"):
        cost("aten.mm.default", (T(5, 7),), T(5, 3))


def test_every_target_is_a_real_torch_op():
    torch = pytest.importorskip("torch")

    def exists(target: str) -> bool:
        if not target.startswith("aten."):
            return target == "<built-in function getitem>"
        _, packet, overload = target.split(".")
        return hasattr(getattr(torch.ops.aten, packet, None), overload)

    missing = sorted(t for t in set(FORMULAS) | FREE_OPS if not exists(t))
    assert not missing


def test_every_formula_has_a_one_line_docstring():
    for formula in set(FORMULAS.values()):
        doc = (formula.__doc__ or "").strip()
        assert doc and len(doc.splitlines()) == 1, formula


def test_no_copy_is_free():
    copies = {"aten.clone.default", "aten.contiguous.default", "aten.cat.default",
              "aten._to_copy.default", "aten.lift_fresh_copy.default", "aten.copy_.default"}
    assert not copies & FREE_OPS
    assert copies <= set(FORMULAS)
