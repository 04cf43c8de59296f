"""Which kernel a convolution runs on (formulas.matrix.conv_route, classes.runs_native) agrees
with the kernel torch actually dispatches to, read from torch.profiler, over random shapes."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from graphcal.cost.classes import kernel_class, runs_native  # noqa: E402
from graphcal.cost.registry import OpCost, OpKind  # noqa: E402
from graphcal.precision import Precision  # noqa: E402


def dispatched_native(module, x, threads: int) -> bool:
    from torch.profiler import profile

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad(), profile() as prof:
            module(x)
    finally:
        torch.set_num_threads(before)
    names = {event.name for event in prof.events()}
    if "aten::mkldnn_convolution" in names:
        return False
    assert any("slow_conv" in n or "thnn_conv" in n for n in names), sorted(names)
    return True


def random_convs(count: int, seed: int):
    rng = random.Random(seed)
    made = 0
    while made < count:
        dims, batch, groups = rng.choice((1, 2)), rng.choice((1, 1, 2, 4, 15, 16)), rng.choice((1, 1, 2))
        channels, outputs = groups * rng.choice((1, 3, 8, 32)), groups * rng.choice((1, 4, 16))
        size, kernel = rng.choice((1, 3, 7, 14, 30, 160)), rng.choice((1, 1, 3, 4, 5))
        stride, dilation = rng.choice((1, 1, 2)), rng.choice((1, 1, 2))
        if (kernel - 1) * dilation + 1 > size or (dims == 2 and size > 30):
            continue
        conv = (torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d)(
            channels, outputs, kernel, stride=stride, dilation=dilation, groups=groups, bias=False)
        shape = (batch, channels, size) if dims == 1 else (batch, channels, size, size)
        made += 1
        yield conv.eval(), torch.randn(shape)


def test_conv_route_matches_torch_dispatch():
    import graphcal

    checked = 0
    for conv, x in random_convs(40, seed=3):
        ops = graphcal.predict(conv, (x,), hw="i7-12700k").ops
        costs = [op.cost for op in ops if op.cost.family in ("conv", "depthwise")]
        assert len(costs) == 1
        for threads in (1, 2):
            expected = dispatched_native(conv, x, threads)
            assert runs_native(costs[0], threads, Precision.FP32) == expected, (conv, tuple(x.shape), threads)
            checked += expected
    assert checked >= 10   # the sample reaches the native kernel, not only oneDNN's


def test_native_convolutions_have_their_own_class():
    def conv(route: str, dims: int = 2) -> OpCost:
        return OpCost(flops=1e6, kind=OpKind.MATRIX, family="conv", rows=4, depth=96, columns=24,
                      spatial_dims=dims, conv_route=route)

    fp32, bf16, fp64 = Precision.FP32, Precision.BF16, Precision.FP64
    assert kernel_class(conv("native-one-thread"), 1, fp32) == "conv_native"
    assert kernel_class(conv("native-one-thread"), 2, fp32) == "conv"
    assert kernel_class(conv("native-one-thread", dims=1), 2, fp32) == "conv1d"
    assert kernel_class(conv("native"), 2, fp32) == "conv_native"
    assert kernel_class(conv("onednn"), 1, fp32) == "conv"
    assert kernel_class(conv("native"), 1, bf16) == "conv"
    assert kernel_class(conv("onednn"), 2, fp64) == "conv_native"
