"""The C allocator's page faults (graphcal.hardware.allocator, graphcal.cost.allocations): glibc's
thresholds, its heap trimming, and a graph's allocations and frees in eager order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphcal.cost import cost_graph
from graphcal.cost.allocations import call_events, workspace_bytes
from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import (
    PAGE_BYTES,
    Allocation,
    MainArena,
    Release,
    faulted_bytes,
    heap_state,
    mapping_bytes,
)
from graphcal.load.graph import OpGraph, OpNode, TensorMeta

MiB = 1024**2
FRESH = heap_state("fresh")


def test_a_first_mapping_raises_the_thresholds_and_its_size_then_comes_from_the_heap():
    arena = MainArena(heap_state("fresh"))
    assert arena.allocate(1, MiB) == MiB // PAGE_BYTES  # above 128 KiB and no heap yet: a mapping
    arena.release(1)
    assert arena.mmap_threshold > MiB and arena.trim_threshold == 2 * arena.mmap_threshold
    assert arena.allocate(2, MiB) == MiB // PAGE_BYTES + 1  # the heap grows (its header takes a page more)
    arena.release(2)
    assert arena.allocate(3, MiB) == 0  # the top was kept (1 MiB and the pad, under the trim threshold)


def test_a_fresh_heap_trims_its_top_beyond_glibcs_default_128_kib():
    # two 100 KiB tensors come from the heap (under the 128 KiB mmap threshold); freed, they leave
    # a top of about 230 KiB, which glibc's default trim threshold (128 KiB) gives back, so the
    # pair faults in again on every call
    pair = [Allocation(1, 100 * 1024, 0), Allocation(2, 100 * 1024, 1), Release(1), Release(2)]
    assert FRESH.trim_threshold == FRESH.mmap_threshold == 128 * 1024
    assert sum(faulted_bytes(pair, FRESH).values()) > 0


def test_one_tensor_a_call_settles_at_no_fault_and_above_32_mib_faults_every_call():
    assert faulted_bytes([Allocation(1, 8 * MiB, 0)], FRESH) == {}
    big = 40 * MiB  # above DEFAULT_MMAP_THRESHOLD_MAX: never raises the threshold
    assert faulted_bytes([Allocation(1, big, 0)], FRESH) == {0: big}


def test_a_heap_that_grows_past_twice_the_largest_tensor_is_trimmed_and_faulted_again_each_call():
    three_live = [Allocation(k, MiB, k) for k in (1, 2, 3)] + [Release(k) for k in (1, 2, 3)]
    faults = faulted_bytes(three_live, FRESH)
    # 3 MiB of heap, above the trim threshold (2 x 1 MiB and a page), goes back after each call
    # but the 128 KiB pad: its pages fault again in the next
    assert 3 * MiB - 200 * 1024 < sum(faults.values()) <= 3 * MiB + 3 * PAGE_BYTES
    # a 9 MiB buffer freed once per call (a convolution's reordered weights) lifts the trim
    # threshold above what the three need: nothing goes back
    assert faulted_bytes([Allocation(9, 9 * MiB, 0), Release(9), *three_live], FRESH) == {}
    # live tensors that never add up to twice the largest stay on the heap
    half = MiB // 2
    chain = [Allocation(1, MiB, 1), Allocation(2, half, 2), Release(1), Allocation(3, half, 3), Release(2), Release(3)]
    assert faulted_bytes(chain, FRESH) == {}
    # two of the largest alive at once are enough: the freed heap reaches the threshold at the call's end
    two = [Allocation(1, MiB, 1), Allocation(2, MiB, 2), Release(1), Release(2)]
    assert sum(faulted_bytes(two, FRESH).values()) > MiB


def T(*shape: int) -> TensorMeta:
    return TensorMeta(shape, "float32")


def node(name, target, args, outputs, sources, **kwargs):
    return OpNode(name, target, args, kwargs, outputs, sources=sources)


def test_a_tensor_lives_until_its_last_reader_through_views_and_in_place_ops():
    x, y = T(4, 256), T(1024)
    graph = OpGraph("g", (
        node("a", "aten.relu.default", (x,), (x,), ("",)),
        node("v", "aten.view.default", (x, [1024]), (y,), ("a",)),
        node("i", "aten.relu_.default", (y,), (y,), ("v",)),
        node("b", "aten.neg.default", (y,), (y,), ("i",)),
        node("c", "aten.neg.default", (y,), (y,), ("b",)),
    ))
    events = call_events(graph, {})
    allocated = {e.key: e.owner for e in events if isinstance(e, Allocation)}
    assert sorted(allocated.values()) == [0, 3, 4]  # the view and the in-place op allocate nothing
    a, b, c = sorted(allocated, key=allocated.get)
    # a (read through the view and the in-place op) dies after b reads it; b after c; c is the output
    assert events == [Allocation(a, 4096, 0), Allocation(b, 4096, 3), Release(a), Allocation(c, 4096, 4), Release(b)]


def test_getitem_picks_its_output_and_a_graph_without_data_flow_has_no_events():
    x = T(8, 8)
    split = node("s", "aten.native_layer_norm.default", (x,), (x, T(8, 1), T(8, 1)), ("",))
    pick = node("g", "<built-in function getitem>", ((x, T(8, 1), T(8, 1)), 0), (x,), ("s.0", "s.1", "s.2"))
    use = node("u", "aten.neg.default", (x,), (x,), ("g",))
    events = call_events(OpGraph("g", (split, pick, use)), {})
    out, mean, rstd, negated = [e.key for e in events if isinstance(e, Allocation)]
    # the outputs nothing picks die as the tuple is taken apart; the picked one after its reader
    assert events == [Allocation(out, 256, 0), Allocation(mean, 32, 0), Allocation(rstd, 32, 0),
                      Release(mean), Release(rstd), Allocation(negated, 256, 2), Release(out)]
    assert call_events(OpGraph("g", (OpNode("u", "aten.neg.default", (x,), {}, (x,)),)), {}) is None


def test_a_graph_reading_from_an_op_it_lacks_is_replayed_op_by_op():
    x = T(8, 8)
    lost = OpGraph("g", (node("u", "aten.neg.default", (x,), (x,), ("nowhere",)),))
    assert call_events(lost, {}) is None
    assert call_events(OpGraph("g", (node("u", "aten.neg.default", (x,), (x,), ("",)),)), {}) is not None
    assert cost_graph(lost).call_replayed is False


class Autocast:
    """x * 2 outside, a linear and a ReLU in bf16 inside torch.autocast, .float() + 1 outside."""

    @staticmethod
    def module():
        torch = pytest.importorskip("torch")

        class M(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = torch.nn.Linear(64, 32)

            def forward(self, x):
                x = x * 2
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    y = torch.relu(self.linear(x))
                return y.float() + 1

        return M().eval(), torch.randn(16, 64)


def test_an_autocast_region_reads_from_the_ops_before_it_and_the_ops_after_read_from_it():
    from graphcal.load.trace import export_module

    module, x = Autocast.module()
    graph = export_module(module, (x,), "m")
    by_name = {n.name: n for n in graph.nodes}
    [mul] = [n for n in graph.nodes if n.target == "aten.mul.Tensor"]
    [linear] = [n for n in graph.nodes if n.target == "aten.linear.default"]
    [relu] = [n for n in graph.nodes if n.target == "aten.relu.default"]
    [upcast] = [n for n in graph.nodes if n.target == "aten.to.dtype"]
    casts = [by_name[s] for s in linear.sources]
    assert [c.target for c in casts] == ["aten._to_copy.default"] * 3   # x, the weight and the bias
    assert [c.sources for c in casts] == [(mul.name,), ("",), ("",)]
    assert relu.sources == (linear.name,)
    # .float() reads the region's result through its getitem, which holds the ReLU's output
    [pick] = upcast.sources
    assert by_name[pick].sources == (relu.name,)
    events = call_events(graph, {})
    [relu_output] = [e.key for e in events if isinstance(e, Allocation) and graph.nodes[e.owner] is relu]
    assert Release(relu_output) in events   # read by .float(), then freed: not left as the call's output
    assert cost_graph(graph).call_replayed


def test_a_torchscript_models_constants_are_handed_in_and_its_call_replayed_whole(run_cli, tmp_path):
    torch = pytest.importorskip("torch")

    class WithConstant(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x + torch.ones(8)) * 3

    path = tmp_path / "net.pt"
    torch.jit.trace(WithConstant().eval(), torch.randn(4, 8)).save(str(path))
    result = run_cli("predict", str(path), "--input-shape", "4x8", "--hw", "i7-12700k", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["fresh_pages"]["call_replayed"] is True


@pytest.mark.parametrize("channels, copies_input", [(64, True), (3, False)])
def test_a_onednn_convolution_reorders_its_weights_output_and_a_wide_input(channels, copies_input):
    x, w, out = T(1, channels, 56, 56), T(64, channels, 3, 3), T(1, 64, 56, 56)
    conv = OpNode("c", "aten.conv2d.default", (x, w, None, [1, 1], [1, 1]), {}, (out,), sources=("", ""))
    expected = ((x.nbytes,) if copies_input else ()) + (w.nbytes, out.nbytes)
    assert workspace_bytes(conv, None) == expected


def test_a_graph_whose_activations_outgrow_twice_its_largest_faults_on_every_call():
    """cost_graph replays the call: four 2 MiB activations alive at once, then their 8 MiB stack,
    give the heap back on every call; one activation alone does not."""
    x = T(512, 1024)  # 2 MiB
    fan = [node(f"r{i}", "aten.relu.default", (x,), (x,), ("",)) for i in range(4)]
    total = node("s", "aten.stack.default", ([x] * 4,), (T(4, 512, 1024),), tuple(f"r{i}" for i in range(4)))
    costed = cost_graph(OpGraph("fan", (*fan, total)), "fresh")
    assert costed.call_replayed
    faulted = sum(c.fault_bytes for _, c in costed.ops)
    assert faulted > 8 * MiB  # the four, and the stack's 8 MiB, fault again on every call
    assert sum(c.fault_bytes for _, c in cost_graph(OpGraph("one", (fan[0],)), "fresh").ops) == 0
    # a model with a 9 MiB weight, loaded from a checkpoint: its freed copy lifted the trim
    # threshold above the 16 MiB the call needs
    weight = TensorMeta((2304, 1024), "float32", persistent=True)
    ids = TensorMeta((4,), "int64")
    lookup = node("e", "aten.embedding.default", (weight, ids), (T(4, 1024),), ("", ""))
    with_weight = OpGraph("fan", (lookup, *fan, total))
    assert sum(c.fault_bytes for _, c in cost_graph(with_weight, "fresh").ops) > 8 * MiB
    assert sum(c.fault_bytes for _, c in cost_graph(with_weight, "loaded").ops) == 0


def test_a_loaded_heap_starts_from_the_largest_weight_whose_mapping_raises_the_thresholds():
    assert heap_state("loaded", [9 * MiB, 40 * MiB, 1024]).mmap_threshold == mapping_bytes(9 * MiB)
    assert heap_state("loaded", [40 * MiB]) == heap_state("loaded", []) == FRESH
    assert heap_state("settled").trim_threshold == 2 * (32 * MiB - PAGE_BYTES)
    assert not heap_state("no-trim").dynamic


LONE_CONV = """
import resource, sys, torch
from graphcal.hardware.allocator import settle
torch.set_num_threads(1)
conv = torch.nn.Conv2d(128, 128, 3, padding=1, groups=128).eval()
x = torch.randn(1, 128, 56, 56)

def faults_per_call():
    counts = []
    with torch.no_grad():
        for _ in range(5):
            conv(x)
        for _ in range(7):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            conv(x)
            counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return sorted(counts)[3]

fresh = faults_per_call()
settle()
print(fresh, faults_per_call())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_lone_convolution_faults_what_the_replay_says_until_the_heap_is_settled():
    """Measured, not timed: a depthwise convolution alone in a fresh process gives its heap back
    on every call (its reordered input, blocked output and output, 1.6 MB each, outgrow twice the
    largest); once settle() has freed a 32 MiB tensor, nothing. Some processes keep a third of it
    (752 pages a call against 1,144 on a Zen 5 EPYC: a small allocation on the heap's top stops
    the trim short), which the replay leaves out."""
    fresh, settled = map(int, subprocess.run([sys.executable, "-c", LONE_CONV], capture_output=True, text=True,
                                             check=True).stdout.split())
    x, w, out = T(1, 128, 56, 56), T(128, 1, 3, 3), T(1, 128, 56, 56)
    conv = OpNode("c", "aten.conv2d.default", (x, w, None, [1, 1], [1, 1], [1, 1], 128), {}, (out,), sources=("", ""))
    costs = {node.name: cost for node, cost in cost_graph(OpGraph("conv", (conv,)), "fresh").ops}
    replayed = costs["c"].fault_bytes // PAGE_BYTES
    assert replayed > 1000 and 0.6 * replayed <= fresh <= 1.05 * replayed
    assert settled == 0
    assert cost_graph(OpGraph("conv", (conv,)), "settled").ops[0][1].fault_bytes == 0


def test_a_heap_state_is_one_of_four_and_a_prediction_says_which(run_cli):
    with pytest.raises(GraphcalError, match="unknown heap state 'warm'.*fresh, loaded, settled, no-trim"):
        heap_state("warm")
    result = run_cli("predict", "mlp:1:8x8", "--hw", "i7-12700k", "--heap", "warm")
    assert result.code == 2 and "unknown heap state 'warm'" in result.stderr
    result = run_cli("predict", "mlp:1:8x8", "--hw", "i7-12700k", "--heap", "no-trim", "--json")
    assert result.code == 0 and result.json()["fresh_pages"]["heap"] == "no-trim"
