"""Kernel-class tables (`kernels.<precision>.<class>`): each term is live end to end, moves only
the ops of its class, thread count and precision, and the fit's array evaluation is the
mapper's own prediction."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from graphcal.cost.classes import kernel_class
from graphcal.cost.registry import OpCost, OpKind
from graphcal.precision import Precision
from tests.helpers import base_profile_data

FP32 = Precision.FP32
MLP = "mlp:64:1024x1024x1024"   # two gemm ops and their activations


def table(compute=0.5, memory=0.5, overhead=2e-6, threads=(4,), **shape) -> dict:
    return {"compute": {t: compute for t in threads}, "memory": {t: memory for t in threads},
            "overhead_s": {t: overhead for t in threads}, **shape}


def profile_with(tables: dict, precision: str = "fp32") -> dict:
    data = base_profile_data()
    data["peak_flops_per_s"]["bf16"] = 2_000_000_000_000
    data["coefficients"]["bf16"] = dict(data["coefficients"]["fp32"])
    data["kernels"] = {precision: tables}
    return data


def ops_by_class(run_cli, model: str, path, *extra: str) -> dict[str, float]:
    result = run_cli("predict", model, "--hw", path, "--json", *extra)
    assert result.code == 0, result.stderr
    times: dict[str, float] = {}
    for op in result.json()["ops"]:
        kind = {"linear": "gemm", "activation": "activation"}.get(op["family"], op["family"])
        times[kind] = times.get(kind, 0.0) + op["time_s"]
    return times


@pytest.fixture
def predict_classes(run_cli, write_profile):
    def run(tables: dict, model: str = MLP, precision: str = "fp32", *extra: str) -> dict[str, float]:
        return ops_by_class(run_cli, model, write_profile("k", profile_with(tables, precision)), *extra)

    return run


BASE = {"gemm": table(), "activation": table(compute=0.4, memory=0.3, overhead=1e-6)}


@pytest.mark.parametrize("term, value", [("compute", 0.25), ("overhead_s", 9e-6)])
def test_a_gemm_term_moves_gemm_ops_and_nothing_else(predict_classes, term, value):
    before = predict_classes(BASE)
    changed = copy.deepcopy(BASE)
    changed["gemm"][term] = {4: value}
    after = predict_classes(changed)
    assert after["gemm"] != pytest.approx(before["gemm"], rel=1e-3)
    assert after["activation"] == before["activation"]


def test_compute_divides_compute_bound_time(predict_classes):
    big = "matmul:2048x2048x2048"
    fast = predict_classes({"gemm": table(compute=0.8, overhead=0.0)}, big)["matmul"]
    slow = predict_classes({"gemm": table(compute=0.4, overhead=0.0)}, big)["matmul"]
    assert slow / fast == pytest.approx(2.0, rel=1e-9)


def test_memory_divides_memory_bound_time(predict_classes):
    add = "add:50000000"
    fast = predict_classes({"elementwise": table(memory=0.8, overhead=0.0)}, add)["elementwise"]
    slow = predict_classes({"elementwise": table(memory=0.2, overhead=0.0)}, add)["elementwise"]
    assert slow / fast == pytest.approx(4.0, rel=1e-9)


def test_overhead_is_added_once_per_op(predict_classes):
    add = "add:16"
    low = predict_classes({"elementwise": table(overhead=1e-6)}, add)["elementwise"]
    high = predict_classes({"elementwise": table(overhead=5e-6)}, add)["elementwise"]
    assert high - low == pytest.approx(4e-6, rel=1e-6)


def test_rewarm_adds_its_fixed_cost_to_ops_behind_a_layers_worth_of_weights_only(predict_classes):
    """An MLP's two activations run 64 and 128 MB of weights after their previous calls at 4096
    wide, 16 KB at 64 wide: rewarm_s (half of it at rewarm_half LLCs) reaches the first, hardly
    the second, and never the GEMMs."""
    base = {"gemm": table(), "activation": table(compute=0.4, memory=0.3, overhead=1e-6)}
    rewarmed = copy.deepcopy(base)
    rewarmed["activation"] |= {"rewarm_s": {4: 10e-6}, "rewarm_half": 1.0}
    wide, narrow = "mlp:1:4096x4096x4096x4096", "mlp:1:64x64x64x64"
    before, after = predict_classes(base, wide), predict_classes(rewarmed, wide)
    assert after["gemm"] == before["gemm"]
    assert 10e-6 < after["activation"] - before["activation"] < 20e-6  # two activations, each most of it
    before, after = predict_classes(base, narrow), predict_classes(rewarmed, narrow)
    assert 0 < after["activation"] - before["activation"] < 0.01 * 20e-6


def test_half_rate_rows_slows_gemms_by_their_rows(predict_classes):
    big = "matmul:64x2048x2048"
    plain = predict_classes({"gemm": table(overhead=0.0)}, big)["matmul"]
    shaped = predict_classes({"gemm": table(overhead=0.0, half_rate_rows=64)}, big)["matmul"]
    assert shaped / plain == pytest.approx(2.0, rel=1e-9)  # 64 / (64 + 64)


def test_a_half_rate_per_thread_count_moves_only_that_thread_count(predict_classes):
    big = "matmul:2048x1024x2048"   # K = 1024
    threads = (1, 4)
    plain = table(overhead=0.0, threads=threads)
    shaped = plain | {"half_rate_depth": {1: 0.0, 4: 1024.0}}
    at = {t: (predict_classes({"gemm": plain}, big, "fp32", "--threads", str(t))["matmul"],
              predict_classes({"gemm": shaped}, big, "fp32", "--threads", str(t))["matmul"]) for t in threads}
    assert at[1][1] == at[1][0]
    assert at[4][1] / at[4][0] == pytest.approx(2.0, rel=1e-9)  # 1024 / (1024 + 1024)


def test_misaligned_columns_slows_gemms_by_the_partial_vectors_ending_their_output_rows(predict_classes):
    base = {"gemm": table(overhead=0.0)}
    slowed = {"gemm": table(overhead=0.0) | {"misaligned_columns": 12.0}}

    def slowdown(spec, *dtype):
        return predict_classes(slowed, spec, *dtype)["matmul"] / predict_classes(base, spec, *dtype)["matmul"]

    assert slowdown("matmul:2048x1024x2048") == pytest.approx(1.0, rel=1e-12)  # N rows of 8192 bytes
    assert slowdown("matmul:2048x1000x2048") == pytest.approx(1.0, rel=1e-12)  # K of 4000 bytes: not counted
    assert slowdown("matmul:2048x2048x15") == pytest.approx(1.0, rel=1e-12)    # rows under one line
    # fp32: one partial store per set bit of N mod 8 (1000: 0; 1001: 1; 31: 7 = 4 + 2 + 1; 1004: 4)
    assert slowdown("matmul:2048x2048x1000") == pytest.approx(1.0, rel=1e-12)
    assert slowdown("matmul:2048x2048x1001") == pytest.approx((1001 + 12) / 1001, rel=1e-9)
    assert slowdown("matmul:2048x2048x31") == pytest.approx((31 + 36) / 31, rel=1e-9)
    assert slowdown("matmul:2048x2048x1004") == pytest.approx((1004 + 12) / 1004, rel=1e-9)
    # bf16: one, whatever the remainder of N mod 32
    assert slowdown("matmul:2048x2048x1001", "bf16", "--dtype", "bf16") == pytest.approx(1013 / 1001, rel=1e-9)
    assert slowdown("matmul:2048x2048x63", "bf16", "--dtype", "bf16") == pytest.approx(75 / 63, rel=1e-9)
    assert slowdown("matmul:2048x2048x1024", "bf16", "--dtype", "bf16") == pytest.approx(1.0, rel=1e-12)


def test_a_gemm_table_stating_the_replaced_misaligned_share_is_refused_with_what_replaces_it(write_profile):
    from graphcal.errors import GraphcalError
    from graphcal.hardware.profile import load_profile

    path = write_profile("old", profile_with({"gemm": table() | {"misaligned": {4: 0.5}}}))
    with pytest.raises(GraphcalError, match="replaced by misaligned_columns.*refit"):
        load_profile(path)


def test_a_convolution_fetches_weights_beyond_the_llc_at_dram_bandwidth_before_its_arithmetic(write_profile):
    """A conv table fetches the weights its model keeps beyond the LLC at the DRAM bandwidth
    (cold_rate 1: classes.DRAM_FETCH_CLASSES), serially, whatever its memory share, which is
    fitted on weights in the caches; weights that fit add nothing."""
    import graphcal

    def conv_time(spec: str, memory: float):
        path = write_profile(f"c{memory}", profile_with({"conv": table(overhead=0.0, memory=memory)}))
        (op,) = [op for op in graphcal.predict(spec, hw=path).ops if op.cost.family == "conv"]
        return op.time

    beyond = "conv2d:1x2048x7x7x2048x3"   # 151 MB of weights; the profile's LLC is 32 MiB
    weights = (2048 * 2048 * 9 + 2048) * 4
    fetched = conv_time(beyond, 0.5)
    assert fetched.overhead_s == pytest.approx(weights / 100e9, rel=1e-6)   # DRAM: 100 GB/s
    assert conv_time(beyond, 0.05).overhead_s == pytest.approx(fetched.overhead_s, rel=1e-9)
    assert conv_time("conv2d:1x512x7x7x512x3", 0.5).overhead_s == 0.0      # 9.4 MB: in the cache


def test_in_model_rate_slows_the_memory_time_of_ops_in_graphs_beyond_those_timed_alone(predict_classes):
    # memory-bound: a batch-2 linear streaming a 64 MB matrix; compute-bound: a 2048^3 matmul
    context = {"in_model_half_ops": 1.0, "in_model_from_ops": 1.0}
    plain = {"gemm": table(overhead=0.0) | context | {"in_model_rate": {4: 1.0}}}
    slowed = {"gemm": table(overhead=0.0) | context | {"in_model_rate": {4: 0.5}}}
    alone, streaming = "linear:2x4096x4096", "mlp:2:4096x4096x4096x4096"
    # one op: no graph beyond the largest timed alone, no change
    assert predict_classes(slowed, alone)["gemm"] == predict_classes(plain, alone)["gemm"]
    # three linears and their activations: 5 ops, 4 beyond it: ramp 16/17 of the way to 0.5
    ratio = predict_classes(slowed, streaming)["gemm"] / predict_classes(plain, streaming)["gemm"]
    assert ratio == pytest.approx(1 / (1 - 0.5 * 16 / 17), rel=1e-6)
    square = "mlp:2048:2048x2048x2048"
    assert predict_classes(slowed, square)["gemm"] == pytest.approx(predict_classes(plain, square)["gemm"], rel=1e-9)


def test_cold_rate_adds_the_fetch_of_weights_beyond_the_last_level_cache(predict_classes):
    """cold_rate: a GEMM whose model's weights exceed the LLC (32 MiB here) pays its weights'
    bytes at DRAM bandwidth x cold_rate on top of its time (a forward pass has evicted each of
    them before its next use); one whose model's weights fit pays nothing."""
    plain = {"gemm": table(overhead=0.0)}

    def cold(rate, spec):
        return predict_classes({"gemm": table(overhead=0.0) | {"cold_rate": {4: rate}}}, spec)["gemm"]

    beyond = "mlp:32:4096x4096x4096x4096"   # three 64 MiB matrices
    added = cold(0.5, beyond) - predict_classes(plain, beyond)["gemm"]
    expected = 3 * (4096 * 4096 + 4096) * 4 / (100e9 * 0.5)
    assert added == pytest.approx(expected, rel=1e-6)
    assert cold(0.25, beyond) - predict_classes(plain, beyond)["gemm"] == pytest.approx(2 * added, rel=1e-6)
    fits = "mlp:32:2048x2048x1024"   # 24 MiB of weights
    assert cold(0.5, fits) == predict_classes(plain, fits)["gemm"]


def test_a_bf16_table_never_moves_fp32(run_cli, write_profile):
    fp32_only = write_profile("a", profile_with(BASE))
    both = profile_with(BASE)
    both["kernels"]["bf16"] = {"gemm": table(compute=0.01)}
    with_bf16 = write_profile("b", both)
    assert ops_by_class(run_cli, MLP, with_bf16) == ops_by_class(run_cli, MLP, fp32_only)
    slow = ops_by_class(run_cli, MLP, with_bf16, "--dtype", "bf16")
    assert slow["gemm"] > 10 * ops_by_class(run_cli, MLP, fp32_only)["gemm"]


def test_thread_counts_interpolate_and_are_reported_extrapolated(run_cli, write_profile):
    tables = {"elementwise": table(overhead=0.0, threads=(1, 3)) | {"memory": {1: 0.2, 3: 0.6}}}
    path = write_profile("k", profile_with(tables))

    def run(threads: int):
        result = run_cli("predict", "add:50000000", "--hw", path, "--json", "--threads", str(threads))
        assert result.code == 0, result.stderr
        return result.json()

    one, two, three = run(1), run(2), run(3)
    # memory share 0.2, 0.4 (interpolated), 0.6; bandwidth share 1 at every count (no single_thread_share)
    assert one["latency_s"] / two["latency_s"] == pytest.approx(2.0, rel=1e-6)
    assert two["latency_s"] / three["latency_s"] == pytest.approx(1.5, rel=1e-6)
    assert one["extrapolated"] == [] and three["extrapolated"] == []
    assert [e["family"] for e in two["extrapolated"]] == ["elementwise"]


def test_a_class_without_a_table_is_reported_uncalibrated(run_cli, write_profile):
    path = write_profile("k", profile_with({"gemm": table()}))
    result = run_cli("predict", MLP, "--hw", path, "--json")
    assert {u["family"] for u in result.json()["uncalibrated"]} == {"activation"}
    human = run_cli("predict", MLP, "--hw", path)
    assert "uncalibrated" in human.stdout and "activation" in human.stdout


def test_covers_flag_ops_larger_than_the_calibration_saw(run_cli, write_profile):
    covers = {"threads": [1, 4], "flops": [1.0, 100.0], "bytes": [1.0, 1e4]}
    tables = {"elementwise": table(threads=(1, 4)) | {"covers": covers}}
    path = write_profile("k", profile_with(tables))
    small = run_cli("predict", "add:16", "--hw", path, "--json").json()
    large = run_cli("predict", "add:50000000", "--hw", path, "--json").json()
    assert small["extrapolated"] == []
    assert large["extrapolated"][0]["family"] == "elementwise"


def test_a_pointwise_op_of_one_grain_runs_on_one_thread(run_cli, write_profile):
    """ATen runs a pointwise op of at most 32,768 elements on the calling thread: at 4 threads it
    is priced by the table's 1-thread values (and is not extrapolated where only they were
    calibrated); a larger one by the values at the threads it splits into."""
    slow_split = table(overhead=2e-6, threads=(1,)) | {"overhead_s": {1: 2e-6, 4: 9e-6},
                                                       "compute": {1: 0.5, 4: 0.5}, "memory": {1: 0.5, 4: 0.5}}
    path = write_profile("grain", profile_with({"elementwise": slow_split}))
    one_only = write_profile("one", profile_with({"elementwise": table(threads=(1,))}))

    def run(spec: str, threads: int, hw=path) -> dict:
        result = run_cli("predict", spec, "--hw", hw, "--json", "--threads", str(threads))
        assert result.code == 0, result.stderr
        return result.json()

    for spec in ("add:4096", "add:32768"):
        assert run(spec, 4)["latency_s"] == run(spec, 1)["latency_s"]
        assert run(spec, 4, one_only)["extrapolated"] == []
    # 32,769 elements: two grains, so two threads of four (the overhead interpolated between 1 and 4)
    assert run("add:32769", 4)["latency_s"] == run("add:32769", 2)["latency_s"] > run("add:32768", 4)["latency_s"]
    assert run("add:1000000", 4)["latency_s"] - run("add:1000000", 1)["latency_s"] != pytest.approx(0.0, abs=1e-9)
    assert [e["family"] for e in run("add:1000000", 4, one_only)["extrapolated"]] == ["elementwise"]


@pytest.mark.parametrize("spec, kernel", [
    ("eltwise:add:4096", "elementwise"), ("eltwise:mul:4096", "elementwise"),
    ("eltwise:add_scalar:4096", "elementwise_scalar"), ("eltwise:mul_scalar:4096", "elementwise_scalar"),
    ("eltwise:rsqrt:4096", "elementwise_unary"),
])
def test_an_elementwise_calls_operands_choose_its_table_and_only_that_table_moves_it(run_cli, write_profile,
                                                                                      spec, kernel):
    """Two tensors, a tensor and a Python number (which ATen wraps into a tensor at every call),
    one tensor: three tables; raising one's overhead moves only its own ops."""
    kinds = ("elementwise", "elementwise_scalar", "elementwise_unary")

    def latency(slow: str) -> float:
        tables = {k: table(overhead=20e-6 if k == slow else 1e-6) for k in kinds}
        result = run_cli("predict", spec, "--hw", write_profile(f"e-{slow}", profile_with(tables)), "--json")
        assert result.code == 0, result.stderr
        return result.json()["latency_s"]

    for other in kinds:
        if other == kernel:
            assert latency(other) > latency("none") + 15e-6
        else:
            assert latency(other) == latency("none")


def test_a_profile_without_the_operand_classes_prices_them_by_elementwise_and_says_so(run_cli, write_profile):
    """A profile with one `elementwise` table for every elementwise op prices `x * 0.5` and rsqrt
    by that table, and reports them extrapolated under their own class; `x * y` stays calibrated."""
    def one() -> dict:
        return table(overhead=3e-6, threads=(1, 4))

    only = write_profile("only", profile_with({"elementwise": one()}))
    both = write_profile("both", profile_with({"elementwise": one(), "elementwise_scalar": one(),
                                               "elementwise_unary": one()}))

    def run(spec: str, hw) -> dict:
        result = run_cli("predict", spec, "--hw", hw, "--json")
        assert result.code == 0, result.stderr
        return result.json()

    for spec, kernel in (("eltwise:mul_scalar:4096", "elementwise_scalar"),
                         ("eltwise:rsqrt:4096", "elementwise_unary")):
        borrowed, own = run(spec, only), run(spec, both)
        assert borrowed["latency_s"] == own["latency_s"]
        assert [e["family"] for e in borrowed["extrapolated"]] == [kernel] and own["extrapolated"] == []
        assert borrowed["uncalibrated"] == []
    assert run("eltwise:mul:4096", only)["extrapolated"] == []


@pytest.mark.parametrize("kernels, message", [
    ({"fp32": {"warp": table()}}, "unknown field"),
    ({"fp32": {"gemm": {"compute": {4: 0.5}, "memory": {4: 0.5}}}}, "missing overhead_s"),
    ({"fp32": {"gemm": table() | {"compute": {0: 0.5}}}}, "positive integer"),
    ({"fp32": {"gemm": table() | {"compute": {4: 0}}}}, "positive number"),
    ({"fp32": {"norm": table() | {"half_rate_rows": 8}}}, "unknown field 'half_rate_rows'"),
    ({"fp32": {"norm": table() | {"misaligned_columns": 12.0}}}, "unknown field 'misaligned_columns'"),
    ({"fp32": {"gemm": table() | {"in_model_rate": {4: 0.5}}}}, "need in_model_half_ops > 0"),
    ({"fp32": {"norm": table() | {"rewarm_s": {4: 5e-6}}}}, "rewarm_s needs rewarm_half > 0"),
    ({"fp32": {"matvec": table() | {"cold_half_depth": 200.0}}}, "cold_half_depth needs cold_rate"),
    ({"fp32": {"gemm": table() | {"cold_half_depth": 200.0}}}, "unknown field 'cold_half_depth'"),
    ({"fp32": {"norm": table() | {"cold_rate": {4: 0.5}}}}, "unknown field 'cold_rate'"),
    ({"fp32": {"matvec": table() | {"cold_rate": {4: 0.5}, "cold_half_depth": -1.0}}}, "cold_half_depth: must be"),
    ({"fp32": {"gemm": table() | {"misaligned_columns": -1}}}, "misaligned_columns: must be a number >= 0"),
    ({"fp32": {"gemm": table() | {"half_rate_depth": {0: 8}}}}, "half_rate_depth: thread count 0"),
    ({"fp32": {"gemm": table() | {"half_rate_depth": "wide"}}}, "half_rate_depth: must be a number >= 0"),
    ({"fp16": {"gemm": table()}}, "no coefficients.fp16"),
])
def test_bad_tables_are_one_line_errors(run_cli, write_profile, kernels, message):
    data = base_profile_data()
    data["kernels"] = kernels
    result = run_cli("predict", MLP, "--hw", write_profile("bad", data))
    assert result.code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_kernel_classes_of_costs():
    gemm = OpCost(flops=2 * 8 * 16 * 32, kind=OpKind.MATRIX, family="linear", rows=8, depth=16, columns=32)
    assert kernel_class(gemm, 1, FP32) == "gemm"
    assert kernel_class(OpCost(kind=OpKind.MATRIX, family="linear", rows=1, depth=16, columns=32), 1, FP32) == "matvec"
    batched = OpCost(flops=12 * 2 * 8 * 16 * 32, kind=OpKind.MATRIX, family="matmul", rows=8, depth=16, columns=32)
    assert kernel_class(batched, 1, FP32) == "bmm"
    one = OpCost(flops=2 * 8 * 16 * 32, kind=OpKind.MATRIX, family="matmul", rows=8, depth=16, columns=32, batched=True)
    assert kernel_class(one, 1, FP32) == "bmm"   # aten.bmm of a batch of one runs the batched kernel
    assert kernel_class(OpCost(family="pool", spatial_dims=1), 1, FP32) == "pool1d"
    assert kernel_class(OpCost(family="memory"), 1, FP32) == "copy"


def test_fit_arrays_equal_the_mapper(tmp_path):
    """fit.kernels.row_latency (arrays) == evaluate_profile (the mapper, op by op) for tables
    with every kind of term, at calibrated and interpolated thread counts."""
    from graphcal.evaluate.costing import cost_workloads, evaluate_profile
    from graphcal.fit.kernels import op_columns, row_latency
    from graphcal.hardware.profile import load_profile
    from graphcal.precision import Precision

    tables = {
        "gemm": table(threads=(1, 4), half_rate_rows=12.0, half_rate_depth={1: 30.0, 4: 70.0})
        | {"compute": {1: 0.9, 4: 0.6}, "misaligned_columns": 14.0, "in_model": {1: 1.5, 4: 2.0},
           "in_model_rate": {1: 0.7, 4: 0.5}, "in_model_half_ops": 2.0, "in_model_from_ops": 1.0},
        "matvec": table(threads=(1, 4), half_rate_depth=200.0),
        "activation": table(threads=(1, 4), compute=0.3, memory=1.7, overhead=3e-6),
        "lstm": table(threads=(1, 4), compute=0.8, memory=0.6, overhead=4e-6),
    }
    import yaml

    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(profile_with(tables)))
    profile = load_profile(path)
    workloads = ["mlp:1:512x2048x64", "mlp:33:100x3000x7", "mlp:400:64x64", "add:1000", "mlp:2:4096x4096",
                 "net:lstm:4"]
    rows = cost_workloads(workloads * 3, [1, 2, 4] * 6, Precision.FP32)
    base = load_profile(path)
    expected = evaluate_profile(rows, profile).latency_s
    got = row_latency(op_columns(rows, base), {k: v for k, v in tables.items()})
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_fit_recovers_a_gemm_table_and_writes_it(run_cli, tmp_path):
    """A sweep timed by a profile with a known gemm table (1% noise): fit recovers the table's
    values at both thread counts, misaligned_columns from outputs that end in partial vectors,
    and the profile it writes predicts what its report says."""
    import yaml

    from graphcal.hardware.profile import load_profile
    from graphcal.precision import Precision
    from tests import fit_synthetic as S

    truth_table = {"compute": {1: 0.9, 8: 0.6}, "memory": {1: 0.06, 8: 0.1}, "overhead_s": {1: 3e-6, 8: 9e-6},
                   "half_rate_rows": 0.5, "half_rate_depth": 0.0, "half_rate_columns": 0.0,
                   "misaligned_columns": 20.0}
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE)))
    truth = tmp_path / "truth.yaml"
    truth.write_text(yaml.safe_dump(S.profile_data("truth", S.BASE) | {"kernels": {"fp32": {"gemm": truth_table}}}))
    workloads = [(f"mlp:{b}:{d}x{d}", t) for b in (1, 2, 8, 32, 128, 512) for d in (64, 333, 512, 1000, 2048, 4096)
                 for t in (1, 8)]
    workloads += [(f"mlp:{b}:{d}x{n}", t) for b in (32, 128, 512) for d in (512, 2048) for n in (23, 47)
                  for t in (1, 8)]
    sweep = S.write_sweep(tmp_path / "mlp.csv", S.sweep_rows(truth, workloads, sigma=0.01, seed=0))
    out = tmp_path / "fitted.yaml"
    result = run_cli("fit", sweep, "--base", base, "--out", out, "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    gemm = next(k for k in report["kernels"] if k["class"] == "gemm")
    assert gemm["fitted_on"].startswith("standalone")
    for name, value in (("compute@1", 0.9), ("compute@8", 0.6), ("memory@1", 0.06), ("memory@8", 0.1),
                        ("overhead_s@8", 9e-6), ("misaligned_columns", 20.0)):
        # NB: 10%: the shape and packing terms (free in the fit, absent in the truth) trade a little with these
        assert gemm["values"][name] == pytest.approx(value, rel=0.1), name
    assert report["train"]["mape"] < 0.02 and report["holdout"]["mape"] < 0.03
    fitted = load_profile(out)
    assert fitted.kernel_table(Precision.FP32, "gemm")["covers"]["threads"] == [1, 8]
    again = run_cli("predict", "mlp:32:512x512", "--hw", out, "--json", "--threads", "8").json()
    assert again["uncalibrated"] == [] and again["extrapolated"] == []


def synthetic_columns(rng, kernel: str, inside: np.ndarray, **columns):
    """OpColumns of one op per row, all of `kernel` at 1 thread, with random unit times; rows
    `inside` ran in graphs of 200 ops, the others alone; `columns` replace the defaults."""
    from graphcal.fit.kernels import OpColumns

    n = len(inside)
    values = dict(
        row=np.arange(n), kernel_class=np.array([kernel] * n, dtype=object), threads=np.ones(n, dtype=int),
        unit_compute=rng.uniform(1e-5, 1e-3, n), unit_memory=rng.uniform(1e-5, 1e-3, n),
        unit_pack=np.zeros(n), unit_cold=np.zeros(n),
        sizes={d: np.full(n, 512.0) for d in ("rows", "depth", "columns")}, steps=np.ones(n),
        base_s=np.zeros(n), flops=np.ones(n), bytes=np.ones(n), graph_ops=np.where(inside, 200.0, 1.0),
        stores=np.zeros(n), fault_s=np.zeros(n), code_reuse=np.zeros(n), n_rows=n)
    return OpColumns(**(values | columns))


def test_the_in_model_fit_recovers_rewarm_from_rows_far_from_their_codes_last_call():
    """solve_context recovers a vector class's rewarm_s and rewarm_half from rows whose code
    reuse distances span a few LLCs (a class timed only inside models: no in_model); a matrix
    class gets no rewarm terms (its in-model terms describe its weights)."""
    from graphcal.fit.kernels import class_times, solve_context

    rng = np.random.default_rng(1)
    n = 80
    inside = np.ones(n, dtype=bool)
    reuse = rng.uniform(0.0, 4.0, n)
    ops = synthetic_columns(rng, "elementwise", inside, code_reuse=reuse,
                            unit_compute=np.full(n, 1e-7), unit_memory=rng.uniform(1e-7, 2e-6, n))
    start = {"compute": {1: 0.5}, "memory": {1: 1.0}, "overhead_s": {1: 2e-6}}
    truth = start | {"rewarm_s": {1: 8e-6}, "rewarm_half": 0.8}
    measured = class_times(ops, "elementwise", truth)
    assert not np.allclose(measured, class_times(ops, "elementwise", start))
    fitted = solve_context("elementwise", ops, np.arange(n), measured, np.ones(n), {"elementwise": start}, 1,
                           in_model=False)
    assert fitted["rewarm_s"][1] == pytest.approx(8e-6, rel=0.05)
    assert fitted["rewarm_half"] == pytest.approx(0.8, rel=0.05)
    assert "in_model" not in fitted
    gemm = synthetic_columns(rng, "gemm", np.arange(n) >= 20, code_reuse=reuse)
    fitted = solve_context("gemm", gemm, np.arange(n), class_times(gemm, "gemm", start), np.ones(n),
                           {"gemm": start}, 1)
    assert "rewarm_s" not in fitted and "in_model" in fitted


def test_the_in_model_fit_recovers_cold_rate_from_rows_with_weights_beyond_the_cache():
    """solve_context (the in-model stage of the gemm fit) recovers a cold_rate from rows whose
    weights lie beyond the LLC, beside in_model, and then fits no in_model_rate (the two trade on
    the same rows); rows without such weights give cold_rate nothing to fit: it is left out and
    in_model_rate fitted."""
    from graphcal.fit.kernels import class_times, solve_context

    rng = np.random.default_rng(0)
    n = 60
    inside = np.arange(n) >= 20                       # 20 rows timed alone, 40 inside models

    def columns(cold: np.ndarray):
        return synthetic_columns(rng, "gemm", inside, unit_cold=cold)

    start = {"compute": {1: 0.8}, "memory": {1: 1.0}, "overhead_s": {1: 5e-6}}
    truth = start | {"in_model": {1: 3.0}, "in_model_half_ops": 20.0, "in_model_from_ops": 1.0,
                     "cold_rate": {1: 0.5}}
    cold = np.where(inside & (np.arange(n) % 2 == 0), rng.uniform(1e-4, 1e-3, n), 0.0)
    ops = columns(cold)
    measured = class_times(ops, "gemm", truth)
    fitted = solve_context("gemm", ops, np.arange(n), measured, np.ones(n), {"gemm": start}, 1, cold=True,
                           in_model_rate=True)
    assert fitted["cold_rate"][1] == pytest.approx(0.5, rel=0.05)
    assert "in_model_rate" not in fitted
    warm = columns(np.zeros(n))
    truth = {k: v for k, v in truth.items() if k != "cold_rate"} | {"in_model_rate": {1: 0.8}}
    measured = class_times(warm, "gemm", truth)
    fitted = solve_context("gemm", warm, np.arange(n), measured, np.ones(n), {"gemm": start}, 1, cold=True,
                           in_model_rate=True)
    assert "cold_rate" not in fitted
    assert fitted["in_model_rate"][1] == pytest.approx(0.8, rel=0.05)


def test_the_in_model_fit_recovers_matvecs_cold_rate_and_its_half_depth():
    """solve_context recovers matvec's cold_rate and cold_half_depth from rows of several depths
    whose weights lie beyond the LLC (a decode step's), beside in_model."""
    from graphcal.fit.kernels import class_times, solve_context

    rng = np.random.default_rng(2)
    n = 60
    inside = np.arange(n) >= 20
    depth = rng.choice([320.0, 640.0, 1728.0, 4096.0], n)
    cold = np.where(inside, rng.uniform(1e-4, 1e-3, n), 0.0)
    ops = synthetic_columns(rng, "matvec", inside, unit_cold=cold, unit_compute=np.full(n, 1e-7),
                            sizes={"rows": np.ones(n), "depth": depth, "columns": np.full(n, 512.0)})
    start = {"compute": {1: 0.8}, "memory": {1: 1.0}, "overhead_s": {1: 5e-6}}
    truth = start | {"in_model": {1: 1.5}, "in_model_half_ops": 20.0, "in_model_from_ops": 1.0,
                     "cold_rate": {1: 0.3}, "cold_half_depth": 400.0}
    measured = class_times(ops, "matvec", truth)
    fitted = solve_context("matvec", ops, np.arange(n), measured, np.ones(n), {"matvec": start}, 1, cold=True)
    assert fitted["cold_rate"][1] == pytest.approx(0.3, rel=0.05)
    assert fitted["cold_half_depth"] == pytest.approx(400.0, rel=0.05)


def test_conv1d_has_its_own_table_apart_from_2d_convolutions(run_cli, write_profile):
    """A 1-D convolution (audio front ends: one input channel, wide windows) is costed from
    kernels.<p>.conv1d and a 2-D one from kernels.<p>.conv: each table moves its own ops only."""
    def times(tables):
        path = write_profile("k", profile_with(tables))
        out = {}
        for spec in ("conv1d:4x1x16000x32x80:s16", "conv2d:1x64x28x28x64x3"):
            result = run_cli("predict", spec, "--hw", path, "--json")
            assert result.code == 0, result.stderr
            out[spec.split(":")[0]] = result.json()["latency_s"]
        return out

    base = {"conv": table(), "conv1d": table(), "elementwise": table()}
    slower_1d = copy.deepcopy(base)
    slower_1d["conv1d"]["compute"] = {4: 0.1}
    before, after = times(base), times(slower_1d)
    assert after["conv1d"] > before["conv1d"] * 1.2
    assert after["conv2d"] == before["conv2d"]
    result = run_cli("predict", "conv1d:4x1x16000x32x80:s16", "--hw",
                     write_profile("k2", profile_with({"conv": table()})), "--json")
    assert "conv1d" in {u["family"] for u in result.json()["uncalibrated"]}


def test_a_native_convolution_is_timed_by_conv_native_and_only_it(run_cli, write_profile):
    """Convolutions that PyTorch runs on ATen's own kernel take kernels.<p>.conv_native, the
    others kernels.<p>.conv: a 1 x 1 convolution over 4 images is native at one thread and
    oneDNN's at two; a small batch-1 one native at both; a 3 x 3 one over 28 x 28 never."""
    specs = {"pointwise": "conv2d:4x96x1x1x24x1", "small": "conv2d:1x96x1x1x24x1", "large": "conv2d:1x64x28x28x64x3"}

    def times(tables):
        path = write_profile("k", profile_with(tables))
        out = {}
        for name, spec in specs.items():
            for threads in (1, 2):
                result = run_cli("predict", spec, "--hw", path, "--json", "--threads", str(threads))
                assert result.code == 0, result.stderr
                out[name, threads] = result.json()["latency_s"]
        return out

    base = {"conv": table(threads=(1, 2)), "conv_native": table(threads=(1, 2))}
    slower = copy.deepcopy(base)
    slower["conv_native"]["overhead_s"] = {1: 50e-6, 2: 50e-6}
    before, after = times(base), times(slower)
    moved = {key for key in before if after[key] != pytest.approx(before[key], rel=1e-6)}
    assert moved == {("pointwise", 1), ("small", 1), ("small", 2)}


def test_a_recurrent_op_reads_its_weights_again_at_every_step():
    """class_unit_times: the memory time of a recurrent op grows by steps x its layer's weights
    at the tier that holds them; no other op has step_bytes."""
    import dataclasses

    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target, class_unit_times, tier_bandwidth
    from graphcal.precision import Precision

    target = Target(HardwareProfile("k", "test", profile_with({})), Precision.FP32, 4)
    lstm = OpCost(flops=1e9, bytes_read=2e6, kind=OpKind.MATRIX, family="lstm", rows=4, depth=2048, columns=4096,
                  steps=64, step_bytes=40e6)
    with_steps = class_unit_times(lstm, target)[1]
    without = class_unit_times(dataclasses.replace(lstm, step_bytes=0.0), target)[1]
    assert with_steps - without == pytest.approx(64 * 40e6 / tier_bandwidth(40e6, target))


def test_packing_runs_at_the_tier_of_the_matrix_not_of_the_model():
    """A GEMM's packing time (class_unit_times) depends on the K x N matrix's own size: a model
    whose weights exceed the caches (reuse_bytes) fetches that matrix from DRAM in its memory
    term, but the packed copy it writes and reads back is cache-sized."""
    import dataclasses

    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target, class_unit_times, tier_bandwidth
    from graphcal.precision import Precision

    data = profile_with({})
    data["memory"]["bandwidth_bytes_per_s"] = 20e9  # DRAM slower than the cache
    target = Target(HardwareProfile("k", "test", data), Precision.FP32, 4)
    matrix = 768 * 3072 * 4
    gemm = OpCost(flops=2 * 128 * 768 * 3072, bytes_read=10e6, kind=OpKind.MATRIX, family="linear", rows=128,
                  depth=768, columns=3072, state_bytes=matrix)
    in_a_large_model = dataclasses.replace(gemm, reuse_bytes=400e6)
    assert class_unit_times(gemm, target)[2] == pytest.approx(matrix / tier_bandwidth(matrix, target))
    assert class_unit_times(in_a_large_model, target)[2] == class_unit_times(gemm, target)[2]
    assert class_unit_times(in_a_large_model, target)[1] > class_unit_times(gemm, target)[1]


def test_state_beyond_the_last_level_cache_streams_from_dram_whatever_share_of_it_fits():
    """memory_time: a model's weights read in the same order every pass from a working set
    larger than the LLC (reuse_bytes) come from DRAM, all of them; the activations the op reads
    and writes stay at the tier of the op's own bytes; within the LLC the weights stay there."""
    import dataclasses

    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target, memory_time
    from graphcal.precision import Precision

    data = profile_with({})
    data["memory"]["bandwidth_bytes_per_s"] = 20e9
    target = Target(HardwareProfile("k", "test", data), Precision.FP32, 2)
    weights, activations = 4e6, 1e6
    matvec = OpCost(flops=2e6, bytes_read=weights + activations, kind=OpKind.MATRIX, family="linear", rows=1,
                    depth=1000, columns=1000, state_bytes=weights)
    beyond = dataclasses.replace(matvec, reuse_bytes=40 * 2**20)   # 40 MiB of state, LLC 32 MiB
    within = dataclasses.replace(matvec, reuse_bytes=24 * 2**20)
    rate = lambda working_set: 100e9 if working_set <= 32 * 2**20 else 20e9  # noqa: E731
    assert memory_time(beyond, target, rate) == pytest.approx(activations / 100e9 + weights / 20e9)
    assert memory_time(within, target, rate) == pytest.approx((activations + weights) / 100e9)


def test_a_retained_share_keeps_that_share_of_a_state_beyond_the_llc_in_the_cache():
    """l3_retained_share interpolates in log(multiple) from 1 at 1x, and beyond the largest
    multiple keeps its bytes; state_working_set and cold_bytes follow it; absent, none is kept."""
    import dataclasses
    import math

    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target, cold_bytes, l3_retained_share, state_working_set
    from graphcal.precision import Precision

    data = profile_with({})
    data["caches"]["l3_retained_share"] = {2: 0.5, 4: 0.1}
    profile = HardwareProfile("k", "test", data)
    assert l3_retained_share(2, profile) == 0.5 and l3_retained_share(4, profile) == pytest.approx(0.1)
    assert l3_retained_share(math.sqrt(2), profile) == pytest.approx(0.75)
    assert l3_retained_share(2 * math.sqrt(2), profile) == pytest.approx(0.3)
    assert l3_retained_share(8, profile) == pytest.approx(0.05)
    assert l3_retained_share(3, HardwareProfile("k", "test", profile_with({}))) == 0.0
    target = Target(profile, Precision.FP32, 2)
    l3 = 32 * 2**20
    weights = OpCost(flops=2e6, bytes_read=4e6 + 1e3, kind=OpKind.MATRIX, family="linear", rows=1,
                     depth=1000, columns=1000, state_bytes=4e6, reuse_bytes=4 * l3)
    assert state_working_set(weights, target) == pytest.approx(l3 / 0.1)
    assert cold_bytes(weights, target) == pytest.approx(0.9 * 4e6)
    within = dataclasses.replace(weights, reuse_bytes=l3 // 2)
    assert state_working_set(within, target) == l3 // 2 and cold_bytes(within, target) == 0.0


def test_a_gemm_with_a_cold_rate_fetches_its_cold_weights_serially_and_not_in_its_memory_term():
    """class_memory_time: with a cold_rate, the weights beyond the LLC leave the memory term
    (whose share the cache-resident rows fit) and are fetched serially at cold_rate x DRAM;
    without one, they stay in the memory term over the memory share."""
    from graphcal.mapper import class_memory_time

    unit_memory, unit_cold = 5e-3, 4e-3   # 4 ms of the 5 are the cold weights at DRAM bandwidth
    assert class_memory_time(unit_memory, unit_cold, 0.5, 0.8) == pytest.approx((1e-3 / 0.5, 4e-3 / 0.8))
    assert class_memory_time(unit_memory, unit_cold, 0.5, None) == pytest.approx((5e-3 / 0.5, 0.0))
    assert class_memory_time(unit_memory, unit_cold, 0.5, 0.4)[1] == pytest.approx(2 * 4e-3 / 0.8)
    assert class_memory_time(unit_memory, unit_cold, 0.25, 0.8)[1] == pytest.approx(4e-3 / 0.8)
    # a matrix-vector product streams them with its arithmetic: memory, not serial, seconds
    assert class_memory_time(unit_memory, unit_cold, 0.5, 0.8, "matvec") == pytest.approx((1e-3 / 0.5 + 4e-3 / 0.8,
                                                                                           0.0))


def test_tanh_exp_and_gelus_tanh_approximation_are_classes_of_their_own():
    from graphcal.cost.formulas.common import TRANSCENDENTAL
    from graphcal.cost.registry import FORMULAS
    from graphcal.load.graph import OpNode, TensorMeta

    x = TensorMeta((4, 8), "float32")

    def cost_of(target: str, **kwargs) -> OpCost:
        return FORMULAS[target](OpNode("n", target, (x,), kwargs, (x,)))

    expected = {("aten.tanh.default", ()): "tanh", ("aten.exp.default", ()): "exp",
                ("aten.gelu.default", (("approximate", "tanh"),)): "gelu_tanh",
                ("aten.gelu.default", ()): "activation", ("aten.sigmoid.default", ()): "activation"}
    for (target, kwargs), kernel in expected.items():
        cost = cost_of(target, **dict(kwargs))
        assert kernel_class(cost, 1, FP32) == kernel, target
        assert (cost.family, cost.flops) == ("activation", TRANSCENDENTAL * 32)  # reports and FLOPs as before


@pytest.mark.parametrize("function", ["tanh", "exp", "gelu_tanh"])
def test_a_function_table_moves_only_that_functions_ops(run_cli, write_profile, function):
    """A table for tanh (exp, gelu_tanh) times that function's ops and no other activation's; a
    profile with tables but none for it reports its ops as uncalibrated."""
    def predict(tables: dict, spec: str) -> dict:
        result = run_cli("predict", spec, "--hw", write_profile(f"p{len(tables)}", profile_with(tables)),
                         "--threads", "4", "--json")
        assert result.code == 0, result.stderr
        return result.json()

    own, other = f"eltwise:{function}:4194304", "eltwise:sigmoid:4194304"
    slow = {"activation": table(compute=0.5), function: table(compute=0.01)}
    fast = {"activation": table(compute=0.5), function: table(compute=0.5)}
    assert predict(slow, own)["latency_s"] > 3 * predict(fast, own)["latency_s"]
    assert predict(slow, other)["latency_s"] == pytest.approx(predict(fast, other)["latency_s"])
    uncalibrated = predict({"activation": table(compute=0.5)}, own)
    assert [u["family"] for u in uncalibrated["uncalibrated"]] == [function]


def _times_by_part(write_profile, tables: dict, layer: str) -> dict[str, float]:
    """A one-layer GRU's (LSTM's) predicted time by part (by family for an op of none): hidden
    256, batch 4, 64 steps, 4 threads."""
    torch = pytest.importorskip("torch")
    import graphcal

    torch.manual_seed(0)
    module = getattr(torch.nn, layer)(128, 256, batch_first=True)
    path = write_profile(f"g{len(str(tables))}-{abs(hash(str(tables)))}", profile_with(tables))
    prediction = graphcal.predict(module, (torch.randn(4, 64, 128),), hw=path, threads=4)
    times: dict[str, float] = {}
    for op in prediction.ops:
        key = op.cost.part or op.cost.family
        times[key] = times.get(key, 0.0) + op.time.total_s
    return times


RECURRENT_TABLES = {"gemm": table(), "matvec": table(), "lstm": table(), "recurrent": table(overhead=3e-6)}


def test_a_grus_parts_are_priced_by_their_classes_and_the_recurrent_table_moves_only_its_gates(write_profile):
    """A GRU is its input projection, hidden steps and gates; the recurrent table times the gates
    alone, once per step (64 steps); the fused LSTM has no parts and never reads it."""
    before = _times_by_part(write_profile, RECURRENT_TABLES, "GRU")
    assert {"input projection", "hidden steps", "gates"} <= set(before)  # beside the zeros of h0
    slower = copy.deepcopy(RECURRENT_TABLES)
    slower["recurrent"]["overhead_s"] = {4: 13e-6}
    after = _times_by_part(write_profile, slower, "GRU")
    assert after["gates"] - before["gates"] == pytest.approx(64 * 10e-6, rel=1e-6)
    assert after["hidden steps"] == before["hidden steps"]
    assert after["input projection"] == before["input projection"]
    assert _times_by_part(write_profile, RECURRENT_TABLES, "LSTM") == _times_by_part(write_profile, slower, "LSTM")
    # the hidden steps are a gemm's: its table moves them, once per step's call
    faster_gemm = copy.deepcopy(RECURRENT_TABLES)
    faster_gemm["gemm"]["overhead_s"] = {4: 1e-6}
    moved = _times_by_part(write_profile, faster_gemm, "GRU")
    assert before["hidden steps"] - moved["hidden steps"] == pytest.approx(64 * 1e-6, rel=1e-6)
    assert moved["gates"] == before["gates"]


def test_an_lstms_compute_and_memory_times_add_and_a_gemms_overlap(write_profile):
    """mapper.serial_time: an LSTM (classes.SERIAL_CLASSES) takes its compute time plus its memory
    time, so a slower memory rate slows it even where compute is the longer of the two; a gemm
    takes the longer alone."""
    torch = pytest.importorskip("torch")
    import graphcal

    torch.manual_seed(0)
    module, x = torch.nn.LSTM(128, 256, batch_first=True), torch.randn(4, 64, 128)

    def lstm_time(memory: float) -> tuple[float, float, float]:
        tables = copy.deepcopy(RECURRENT_TABLES)
        tables["lstm"] = table(compute=0.01, memory=memory, overhead=0.0)   # compute-bound
        path = write_profile(f"serial-{memory}", profile_with(tables))
        [op] = [op for op in graphcal.predict(module, (x,), hw=path, threads=4).ops if op.cost.family == "lstm"]
        return op.time.total_s, op.time.compute_s, op.time.memory_s

    total, compute, memory = lstm_time(0.5)
    assert compute > memory > 0
    assert total == pytest.approx(compute + memory, rel=1e-9)
    slower_total, _, slower_memory = lstm_time(0.25)
    assert slower_memory == pytest.approx(2 * memory, rel=1e-9)
    assert slower_total - total == pytest.approx(memory, rel=1e-9)
    for op in graphcal.predict("mlp:64:1024x1024", hw=write_profile("serial-gemm", profile_with(BASE)), threads=4).ops:
        assert op.time.serial_s == 0.0


def test_a_gemm_called_at_every_step_packs_its_matrix_at_every_step():
    """class_unit_times: the packing time of a part of `steps` calls is steps x one call's."""
    import dataclasses

    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target, class_unit_times
    from graphcal.precision import Precision

    target = Target(HardwareProfile("k", "test", profile_with({})), Precision.FP32, 4)
    step = OpCost(flops=2 * 4 * 768 * 2304, bytes_read=1e4, kind=OpKind.MATRIX, family="recurrent", rows=4,
                  depth=768, columns=2304, part="hidden steps")
    assert kernel_class(step, 4, FP32) == "gemm"
    assert class_unit_times(dataclasses.replace(step, steps=64), target)[2] == pytest.approx(
        64 * class_unit_times(step, target)[2])


def test_rows_holding_a_recurrent_gate_part_belong_to_the_recurrent_class():
    """fit.kernels.dominant_class: a GRU's row fits the gates' table even where its GEMMs take
    longer; other rows keep the class of their longest op."""
    from graphcal.evaluate.costing import CostedRows, OpTable
    from graphcal.fit.kernels import dominant_class, op_columns
    from graphcal.hardware.profile import HardwareProfile

    profile = HardwareProfile("k", "test", profile_with({}))
    steps = OpCost(flops=1e9, bytes_read=1e4, kind=OpKind.MATRIX, family="recurrent", rows=4, depth=768,
                   columns=2304, steps=64, part="hidden steps")
    gates = OpCost(flops=1e5, bytes_read=1e4, family="recurrent", steps=64, part="gates")
    gemm = OpCost(flops=1e9, bytes_read=1e4, kind=OpKind.MATRIX, family="linear", rows=64, depth=768, columns=768)
    add = OpCost(flops=1e3, bytes_read=1e4, family="elementwise")
    tables = (OpTable(("recurrent", "recurrent"), (), (steps, gates)),
              OpTable(("linear", "elementwise"), (), (gemm, add)))
    rows = CostedRows(FP32, ("gru", "mlp"), np.array([4, 4]), tables, ("gru", "mlp"))
    assert dominant_class(op_columns(rows, profile), {}).tolist() == ["recurrent", "gemm"]


def test_a_matvec_streams_weights_beyond_the_llc_at_its_cold_rate_scaled_by_depth(write_profile):
    """matvec's cold_rate and cold_half_depth: the weights its model keeps beyond the LLC (32 MiB
    here) stream at DRAM bandwidth x cold_rate x K / (K + cold_half_depth), with the arithmetic
    (in its memory term, no serial fetch); weights that fit, and the MLP's activations, do not
    move."""
    import graphcal

    base = {"matvec": table(compute=1.0, memory=0.5, overhead=0.0),
            "activation": table(compute=0.4, memory=0.3, overhead=1e-6)}

    def times(spec: str, **cold):
        tables = copy.deepcopy(base)
        tables["matvec"] |= cold
        path = write_profile("mv", profile_with(tables))
        ops = graphcal.predict(spec, hw=path, threads=4).ops
        return {c: [op.time for op in ops if kernel_class(op.cost, 4, FP32) == c] for c in ("matvec", "activation")}

    beyond = "mlp:1:4096x4096x4096x4096"   # three 64 MiB matrices
    matrix = (4096 * 4096 + 4096) * 4
    plain, cold = times(beyond), times(beyond, cold_rate={4: 0.2})
    assert len(cold["matvec"]) == 3 and cold["activation"] == plain["activation"]
    for op in cold["matvec"]:
        assert op.memory_s == pytest.approx(matrix / (100e9 * 0.2), rel=1e-3)   # DRAM: 100 GB/s
        assert op.overhead_s == 0.0 and op.serial_s == 0.0
    halved = times(beyond, cold_rate={4: 0.2}, cold_half_depth=4096.0)
    for slow, fast in zip(halved["matvec"], cold["matvec"]):
        assert slow.memory_s == pytest.approx(2 * fast.memory_s, rel=1e-3)   # K = 4096: half the rate
    fits = "mlp:1:1024x1024x1024"   # 8 MiB of weights
    assert times(fits, cold_rate={4: 0.2}, cold_half_depth=4096.0) == times(fits)
