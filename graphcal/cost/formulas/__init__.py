"""Cost formulas for ATen ops, at the export level (aten.linear, aten.conv2d) and the decomposed
level (aten.addmm, aten.convolution), so a graph costs the same whichever way it was produced.

Each formula takes an OpNode and returns an OpCost; importing this package registers them all
in graphcal.cost.registry.FORMULAS. A multiply-add is 2 FLOPs. One module per family:

    matrix      linear, mm, addmm, bmm, matmul, convolution (incl. grouped and transposed)
    einsum      einsum, from its contraction (pairwise, left to right)
    attention   scaled_dot_product_attention and the fused nn.MultiheadAttention /
                nn.TransformerEncoderLayer fast paths
    recurrent   LSTM, GRU, RNN (whole, per layer, per cell)
    vector      elementwise, activations, norms, softmax, reductions, pooling, interpolation
    memory      copies, conversions, constructors, gathers (embedding)
"""

from graphcal.cost.formulas import attention, einsum, matrix, memory, recurrent, vector  # noqa: F401
