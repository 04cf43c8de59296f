"""fit's model is the mapper: same latency as predict_graph, bit for bit, and each
parameter moves only the terms it is declared to act on."""

from __future__ import annotations

import numpy as np
import pytest

from graphcal.evaluate.costing import cost_workloads
from graphcal.fit import params as P
from graphcal.fit.calibrate import identify, stratified_split
from graphcal.fit.model import Facts, evaluate, log_jacobian
from graphcal.hardware.profile import COEFFICIENTS, load_profile
from graphcal.load import graph_of_spec
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict import predict_graph
from tests.helpers import base_profile_data

FP32 = Precision.FP32
SPECS = [
    "mlp:8:512x1024x10", "mlp:1:8x8", "linear:3x100x7", "matmul:64x96x1536", "add:1000003",
    "conv2d:1x16x14x14x16x3", "sdpa:1x4x64x64", "layer_norm:128x768", "eltwise:gelu:4096",
]


@pytest.mark.parametrize("profile_ref", ["i7-12700k-tiny", "i7-12700k-large", "custom"])
def test_fit_model_latency_equals_predict_graph_exactly(profile_ref, write_profile):
    if profile_ref == "custom":
        data = base_profile_data(efficiency_factor=0.37, memory_bottleneck_factor=0.91)
        data["runtime"]["per_op_overhead_s"] = 2.7e-6
        profile_ref = str(write_profile("custom", data))
    profile = load_profile(profile_ref)
    workloads = [(s, t) for s in SPECS for t in (1, 3, 64)]
    rows = cost_workloads([w for w, _ in workloads], [t for _, t in workloads], FP32)
    got = evaluate(rows, Facts.of(profile, FP32), P.base_values(profile, FP32)).latency_s
    for (spec, threads), value in zip(workloads, got):
        expected = predict_graph(graph_of_spec(spec, FP32), Target(profile, FP32, threads)).latency_s
        assert value == expected, (spec, threads)  # exact: same float operations, same order


def test_params_cover_every_profile_coefficient_and_round_trip():
    assert {p.name for p in P.PARAMS if p.section == "coefficients"} == set(COEFFICIENTS)
    values = {"efficiency_factor": 0.3, "memory_bottleneck_factor": 0.9, "tile_utilization": 0.6,
              "instruction_efficiency": 0.2, "per_op_overhead_s": 4e-6}
    free = ("per_op_overhead_s", "tile_utilization")
    x = P.to_vector(values, free)
    assert x.tolist() == pytest.approx([4.0, 0.6])  # overhead in units of its 1e-6 scale
    assert P.from_vector(x, values, free) == pytest.approx(values)
    lower, upper = P.bounds(free)
    assert lower.tolist() == [0.0, 1e-4] and upper.tolist() == pytest.approx([1000.0, 1.0])


def test_each_parameter_moves_only_its_terms():
    profile = load_profile("i7-12700k-tiny")  # on the coefficients path: no kernel table stands in for them
    # big matmul: matrix-compute; big add on 12 threads: memory; add:8: overhead
    rows = cost_workloads(["matmul:2048x2048x2048", "add:50000000", "add:8"], [12, 12, 12], FP32)
    facts, base = Facts.of(profile, FP32), P.base_values(profile, FP32)
    terms = evaluate(rows, facts, base)
    assert terms.regimes().tolist() == ["compute", "memory", "overhead"]
    jac = log_jacobian(rows, facts, base, tuple(p.name for p in P.PARAMS))
    names = [p.name for p in P.PARAMS]
    col = {n: jac[:, i] for i, n in enumerate(names)}
    assert col["tile_utilization"][0] < -0.99 and col["tile_utilization"][1:].tolist() == [0, 0]
    assert col["memory_bottleneck_factor"][1] < -0.99 and col["memory_bottleneck_factor"][0] == 0
    assert col["instruction_efficiency"].tolist() == [0, 0, 0]  # no vector op is compute-bound here
    assert col["per_op_overhead_s"][2] * base["per_op_overhead_s"] > 0.5
    assert col["per_op_overhead_s"][0] == 0  # the matmul is a matrix op: its own overhead
    assert col["matrix_op_overhead_s"][0] > 0 and col["matrix_op_overhead_s"][1:].tolist() == [0, 0]
    # rows / (rows + h) at rows = 2048, h = 0: d log(latency) / dh = 1 / 2048 on the matmul only
    assert col["matrix_half_rate_rows"][0] == pytest.approx(1 / 2048, rel=1e-3)
    assert col["matrix_half_rate_rows"][1:].tolist() == [0, 0]


SHAPE = ("matrix_half_rate_rows", "matrix_half_rate_depth", "matrix_half_rate_columns")


def test_identifiability_rules():
    all_regimes = np.array(["matrix", "vector", "memory", "overhead"])
    free, status = identify(all_regimes, ())
    assert free == ("tile_utilization", "instruction_efficiency", "memory_bottleneck_factor",
                    "matrix_op_overhead_s", "per_op_overhead_s", *SHAPE, "cache_bandwidth_bytes_per_s")
    assert status["efficiency_factor"][0] == "confounded"
    free, status = identify(all_regimes, ("tile_utilization",))
    assert "efficiency_factor" in free and status["tile_utilization"][0] == "fixed"
    free, status = identify(np.array(["matrix", "memory"]), ())
    assert free == ("tile_utilization", "memory_bottleneck_factor", *SHAPE, "cache_bandwidth_bytes_per_s")
    assert status["instruction_efficiency"][0] == status["per_op_overhead_s"][0] == "no rows"
    assert status["efficiency_factor"][0] == "confounded"


def test_split_is_seeded_and_stratified():
    labels = np.array(["matrix"] * 10 + ["memory"] * 5 + ["overhead"] * 1)
    train, holdout = stratified_split(labels, 0.2, seed=3)
    again = stratified_split(labels, 0.2, seed=3)
    assert train.tolist() == again[0].tolist() and holdout.tolist() == again[1].tolist()
    held = labels[holdout].tolist()
    # 0.2*10, 0.2*5, min 1 train
    assert held.count("matrix") == 2 and held.count("memory") == 1 and "overhead" not in held
    assert sorted(train.tolist() + holdout.tolist()) == list(range(16))
    assert stratified_split(labels, 0.2, seed=4)[1].tolist() != holdout.tolist()


def test_standard_errors_of_a_bandwidth_beside_an_overhead_are_finite_and_in_its_units():
    # Two parameters of units 1e16 apart: an overhead (d log t / d s ~ 1e5 per second) and a
    # bandwidth (d log t / d (B/s) ~ 1e-11). In raw units the bandwidth's column looked like one
    # that moves nothing and its standard error came out nan; in the solver's units it is fine.
    from graphcal.fit.solver import standard_errors

    rng = np.random.default_rng(0)
    free = ("per_op_overhead_s", "cache_bandwidth_bytes_per_s")
    scaled = rng.normal(size=(40, 2))  # the Jacobian in the solver's units (value / scale)
    scales = np.array([P.BY_NAME[n].scale for n in free])  # 1e-6 s, 1e10 B/s
    residuals = rng.normal(scale=0.05, size=40)
    errors = standard_errors(scaled / scales, residuals, free)
    expected = np.sqrt(np.diag(residuals @ residuals / 38 * np.linalg.inv(scaled.T @ scaled))) * scales
    assert errors["cache_bandwidth_bytes_per_s"] == pytest.approx(expected[1], rel=1e-9)
    assert errors["per_op_overhead_s"] == pytest.approx(expected[0], rel=1e-9)
    # a column that truly moves nothing still has none
    dead = standard_errors(np.column_stack([scaled[:, 0] / scales[0], np.zeros(40)]), residuals, free)
    assert np.isnan(dead["cache_bandwidth_bytes_per_s"]) and np.isfinite(dead["per_op_overhead_s"])
