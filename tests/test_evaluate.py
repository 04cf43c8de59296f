"""`graphcal compare SWEEP.csv --hw PROFILE` and the error metrics behind it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from graphcal.evaluate.costing import is_sweep_file
from graphcal.evaluate.metrics import breakdown, metrics
from tests import fit_synthetic as S

ROW_KEYS = {"workload", "measured_s", "predicted_s", "error"}


def test_metrics_arithmetic():
    measured = np.array([1.0, 2.0, 4.0, 10.0])
    predicted = np.array([1.05, 1.5, 4.4, 10.0])  # errors +5%, -25%, +10%, 0%
    m = metrics(predicted, measured)
    assert m.n == 4
    assert m.mape == pytest.approx((0.05 + 0.25 + 0.10 + 0) / 4)
    assert m.within_10 == 0.75  # +10% counts as within
    assert m.rmspe == pytest.approx(np.sqrt((0.05**2 + 0.25**2 + 0.10**2) / 4))
    groups = breakdown(predicted, measured, np.array(["a", "b", "a", "b"]))
    assert groups["a"].mape == pytest.approx(0.075) and groups["b"].mape == pytest.approx(0.125)
    assert metrics(np.array([]), np.array([])).mape is None


@pytest.fixture
def sweep(tmp_path):
    """A sweep of mixed workloads, threads and regimes timed by the synthetic truth, 5% noise."""
    truth = tmp_path / "truth.yaml"
    truth.write_text(yaml.safe_dump(S.profile_data("truth", S.TRUTH)))
    workloads = S.WORKLOADS[::3] + [
        ("mlp:32:784x512x512x10", 2),
        ("eltwise:gelu:262144", 1),
        ("conv2d:1x16x14x14x16x3", 4),
    ]
    return S.write_sweep(tmp_path / "measured.csv", S.sweep_rows(truth, workloads, sigma=0.05, seed=11)), tmp_path


def test_compare_mape_equals_predict_recomputed_row_by_row(run_cli, sweep):
    path, tmp = sweep
    profile = "i7-12700k-tiny"
    result = run_cli("compare", path, "--hw", profile, "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert {"n", "mape", "within_10", "rows"} <= set(report)
    assert all(ROW_KEYS <= set(row) for row in report["rows"])
    import csv

    errors = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            predicted = run_cli("predict", row["workload"], "--dtype", row["dtype"], "--threads", row["threads"],
                                "--hw", profile, "--json").json()["latency_s"]
            errors.append(abs(predicted - float(row["latency_s"])) / float(row["latency_s"]))
    assert report["n"] == len(errors)
    assert report["mape"] == pytest.approx(float(np.mean(errors)), rel=1e-12)
    assert report["within_10"] == pytest.approx(float(np.mean(np.array(errors) <= 0.10)))
    assert [r["workload"] for r in report["rows"]][:3] == [w for w, _ in (S.WORKLOADS[::3])[:3]]


def test_compare_breaks_down_by_regime_and_op_class(run_cli, sweep):
    path, _ = sweep
    report = run_cli("compare", path, "--hw", "i7-12700k-large", "--json").json()
    assert set(report["by_regime"]) <= {"compute", "memory", "overhead"}
    assert sum(m["n"] for m in report["by_regime"].values()) == report["n"]
    assert {"matmul", "elementwise", "linear"} <= set(report["by_op_class"])
    assert sum(m["n"] for m in report["by_op_class"].values()) == report["n"]
    table = run_cli("compare", path, "--hw", "i7-12700k-large")
    assert table.code == 0 and "by regime" in table.stdout and "by op class" in table.stdout


def test_compare_against_the_truth_sees_only_the_noise(run_cli, sweep):
    path, tmp = sweep
    report = run_cli("compare", path, "--hw", tmp / "truth.yaml", "--json").json()
    assert report["mape"] < 0.08  # 5% lognormal noise: mean |error| about 4%


def test_compare_sweep_bad_input(run_cli, sweep):
    path, tmp = sweep
    two = run_cli("compare", path, "--hw", "i7-12700k-tiny", "--hw", "i7-12700k-large")
    assert two.code == 2 and "one --hw" in two.stderr
    threads = run_cli("compare", path, "--hw", "i7-12700k-tiny", "--threads", "2")
    assert threads.code == 2 and "own threads" in threads.stderr
    empty = S.write_sweep(tmp / "empty.csv", [])
    result = run_cli("compare", empty, "--hw", "i7-12700k-tiny")
    assert result.code == 2 and "no rows" in result.stderr and result.stderr.count("\n") == 1
    plot_on_model = run_cli("compare", "add:16", "--hw", "i7-12700k-tiny", "--plot", tmp / "x.png")
    assert plot_on_model.code == 2 and "sweep CSV" in plot_on_model.stderr


def test_sweep_files_are_recognised_by_content(sweep, tmp_path):
    path, _ = sweep
    renamed = tmp_path / "measurements.txt"
    renamed.write_bytes(path.read_bytes())
    assert is_sweep_file(path) and is_sweep_file(renamed)
    other = tmp_path / "model.pt2"
    other.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert not is_sweep_file(other)


def test_compare_plot(run_cli, sweep):
    pytest.importorskip("matplotlib")
    path, tmp = sweep
    plot = tmp / "compare.png"
    result = run_cli("compare", path, "--hw", "i7-12700k-tiny", "--json", "--plot", plot)
    assert result.code == 0 and result.json()["n"] > 0
    assert plot.read_bytes()[:4] == b"\x89PNG"
