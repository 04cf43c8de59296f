"""`graphcal fit` end to end through the CLI, on seeded synthetic sweeps made by a known profile."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
import yaml

from graphcal.hardware.profile import load_profile
from tests import fit_synthetic as S

JSON_KEYS = {"coefficients", "kernels", "train", "holdout", "holdout_models", "provenance"}
ERROR_KEYS = {"mape", "within_10", "n"}


@pytest.fixture
def synthetic(tmp_path):
    """Base and truth profiles, and a sweep made by the truth with 1% seeded noise."""
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE)))

    def make(truth_values=S.TRUTH, workloads=S.WORKLOADS, name="sweep.csv", sigma=0.01, seed=0, host=S.HOST):
        truth = tmp_path / f"truth-{name}.yaml"
        truth.write_text(yaml.safe_dump(S.profile_data("truth", truth_values)))
        return S.write_sweep(tmp_path / name, S.sweep_rows(truth, workloads, sigma, seed, host))

    return base, make


def fit_json(run_cli, *args):
    result = run_cli("fit", "--coefficients", *map(str, args), "--json")
    assert result.code == 0, result.stderr
    return result.json()


def test_recovers_known_coefficients_within_2_percent(run_cli, synthetic, tmp_path):
    base, make = synthetic
    out = tmp_path / "fitted.yaml"
    report = fit_json(run_cli, make(), "--base", base, "--out", out, "--seed", "7")
    assert set(report) == JSON_KEYS
    assert set(report["train"]) == set(report["holdout"]) == ERROR_KEYS
    for name in ("tile_utilization", "instruction_efficiency", "memory_bottleneck_factor",
                 "matrix_op_overhead_s", "matrix_half_rate_rows"):
        assert report["coefficients"][name] == pytest.approx(S.TRUTH[name], rel=0.02), name
    # confounded with tile_utilization and instruction_efficiency: kept, and said so
    assert report["coefficients"]["efficiency_factor"] == S.BASE["efficiency_factor"]
    assert report["provenance"]["parameters"]["efficiency_factor"]["status"] == "confounded"
    assert report["holdout"]["n"] > 0 and report["holdout"]["mape"] < 0.03
    # the written profile extends the base, states the fitted values, and predicts what fit reported
    written = yaml.safe_load(out.read_text())
    assert written["extends"] == "base.yaml"
    fitted = load_profile(out)
    assert fitted.coefficient(S.FP32, "tile_utilization") == report["coefficients"]["tile_utilization"]
    assert fitted.runtime("matrix_op_overhead_s") == report["coefficients"]["matrix_op_overhead_s"]
    assert fitted.peak_flops_per_s(S.FP32) == 1.0e12  # facts come from the base


def test_recovers_a_familys_rate_factor_and_overhead(run_cli, synthetic, tmp_path):
    base, make = synthetic
    truth = dict(S.TRUTH, conv_rate_factor=0.4, conv_overhead_s=2.0e-5)
    out = tmp_path / "fitted.yaml"
    report = fit_json(run_cli, make(truth, S.WORKLOADS + S.CONVS), "--base", base, "--out", out, "--seed", "3")
    for name in ("conv_rate_factor", "conv_overhead_s", "tile_utilization", "matrix_op_overhead_s"):
        assert report["coefficients"][name] == pytest.approx(truth[name], rel=0.02), name
    parameters = report["provenance"]["parameters"]
    assert parameters["conv_rate_factor"]["status"] == "fitted"
    # no pooling row: its terms keep the base value (no correction), and the report says why
    assert parameters["pool_rate_factor"]["status"] == "no rows" and "pool" in parameters["pool_rate_factor"]["note"]
    assert report["coefficients"]["pool_rate_factor"] == 1.0
    # the sweep's matmuls are a family too, one the truth does not correct: recovered as none
    assert report["coefficients"]["matmul_rate_factor"] == pytest.approx(1.0, rel=0.02)
    written = yaml.safe_load(out.read_text())
    assert {"conv_rate_factor", "conv_overhead_s"} <= set(written["families"])


def test_a_family_without_reference_rows_is_not_fitted(run_cli, synthetic, tmp_path):
    base, make = synthetic
    truth = dict(S.TRUTH, conv_rate_factor=0.4)
    convs_and_matmuls = S.CONVS + [(f"matmul:{n}x{n}x{n}", t) for n in (256, 512, 1024) for t in (1, 4, 8)]
    report = fit_json(run_cli, make(truth, convs_and_matmuls), "--base", base, "--out", tmp_path / "f.yaml")
    status = report["provenance"]["parameters"]["conv_rate_factor"]
    assert status["status"] == "no rows" and "reference family linear" in status["note"]
    assert report["coefficients"]["conv_rate_factor"] == 1.0


def test_fix_frees_the_confounded_coefficient(run_cli, synthetic, tmp_path):
    base, make = synthetic
    truth = dict(
        S.TRUTH, tile_utilization=S.BASE["tile_utilization"], efficiency_factor=0.8, instruction_efficiency=0.2
    )
    report = fit_json(run_cli, make(truth), "--base", base, "--out", tmp_path / "f.yaml", "--fix", "tile_utilization")
    assert report["coefficients"]["tile_utilization"] == S.BASE["tile_utilization"]
    for name in ("efficiency_factor", "instruction_efficiency", "memory_bottleneck_factor", "per_op_overhead_s"):
        assert report["coefficients"][name] == pytest.approx(truth[name], rel=0.02), name
    assert report["provenance"]["parameters"]["tile_utilization"]["status"] == "fixed"


def test_a_coefficient_without_rows_keeps_its_base_value_and_the_report_says_so(run_cli, synthetic, tmp_path):
    base, make = synthetic
    sweep = make(workloads=S.MLP_ONLY, name="mlp.csv")  # no vector-compute-bound row
    out = tmp_path / "mlp-fit.yaml"
    result = run_cli("fit", "--coefficients", sweep, "--base", base, "--out", out)
    assert result.code == 0, result.stderr
    assert "instruction_efficiency: no rows in its regime" in " ".join(result.stdout.split())
    report = fit_json(run_cli, sweep, "--base", base, "--out", out, "--force")
    entry = report["provenance"]["parameters"]["instruction_efficiency"]
    assert entry["status"] == "no rows" and entry["stderr"] is None
    assert report["coefficients"]["instruction_efficiency"] == S.BASE["instruction_efficiency"]
    assert "instruction_efficiency" not in yaml.safe_load(out.read_text())["coefficients"]["fp32"]


def test_provenance_records_the_files_hashes_host_and_solver(run_cli, synthetic, tmp_path):
    base, make = synthetic
    first, second = make(name="a.csv", seed=1), make(name="b.csv", seed=2)
    out = tmp_path / "two.yaml"
    report = fit_json(run_cli, first, second, "--base", base, "--out", out, "--holdout", "0.25", "--seed", "3")
    written = yaml.safe_load(out.read_text())["provenance"]
    assert written == json.loads(json.dumps(report["provenance"]))
    assert [s["file"] for s in written["sweeps"]] == ["a.csv", "b.csv"]
    for entry, path in zip(written["sweeps"], (first, second)):
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == len(S.WORKLOADS)
    assert written["base"]["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert [h["host_id"] for h in written["hosts"]] == [S.HOST]
    assert written["rows"]["total"] == 2 * len(S.WORKLOADS) == written["rows"]["train"] + written["rows"]["holdout"]
    assert written["holdout_mape"] == report["holdout"]["mape"]
    assert written["split"] == {"holdout_fraction": 0.25, "seed": 3, "stratified_by": written["split"]["stratified_by"]}
    solver = written["solver"]
    assert solver["settings"]["loss"] == "soft_l1" and solver["nfev"] > 0 and solver["status"] > 0
    assert written["parameters"]["tile_utilization"]["stderr"] > 0
    assert written["graphcal_version"] and written["date"]


def test_refit_profile_reproduces_its_all_rows_error_through_compare(run_cli, synthetic, tmp_path):
    base, make = synthetic
    sweep, out = make(), tmp_path / "f.yaml"
    report = fit_json(run_cli, sweep, "--base", base, "--out", out)
    compared = run_cli("compare", sweep, "--hw", out, "--json").json()
    assert compared["mape"] == report["provenance"]["error"]["all_rows_after_refit"]["mape"]


def test_same_seed_same_split_other_seed_other_split(run_cli, synthetic, tmp_path):
    base, make = synthetic
    sweep = make()
    runs = [fit_json(run_cli, sweep, "--base", base, "--out", tmp_path / f"{i}.yaml", "--seed", s)
            for i, s in enumerate(("1", "1", "2"))]
    assert runs[0]["holdout"] == runs[1]["holdout"]
    assert runs[0]["holdout"]["mape"] != runs[2]["holdout"]["mape"]


def test_human_report_has_the_parts(run_cli, synthetic, tmp_path):
    base, make = synthetic
    result = run_cli("fit", "--coefficients", make(), "--base", base, "--out", tmp_path / "f.yaml")
    assert result.code == 0, result.stderr
    text = result.stdout
    for part in ("parameters", "holdout", "by regime", "by op class", "worst rows", "noise floor", "RMSPE", "wrote"):
        assert part in text, part


def test_plot_writes_a_png(run_cli, synthetic, tmp_path):
    pytest.importorskip("matplotlib")
    base, make = synthetic
    plot = tmp_path / "fit.png"
    fit_json(run_cli, make(), "--base", base, "--out", tmp_path / "f.yaml", "--plot", plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_line_and_writes_nothing(run_cli, synthetic, tmp_path, monkeypatch):
    base, make = synthetic
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "f.yaml"
    result = run_cli("fit", "--coefficients", make(), "--base", base, "--out", out, "--plot", tmp_path / "p.png")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install 'graphcal[plot]'" in result.stderr
    assert not out.exists()


# --- bad input: one line, exit code 2, nothing written ---------------------------------------

def bad(run_cli, out, *args) -> str:
    result = run_cli("fit", "--coefficients", *map(str, args), "--out", out)
    assert result.code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("graphcal: error: ") and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert not out.exists()
    return result.stderr


@pytest.fixture
def rows(synthetic):
    base, make = synthetic
    sweep = make()
    return base, sweep, S.sweep_rows(sweep.parent / "truth-sweep.csv.yaml", S.WORKLOADS)


def test_empty_sweep(run_cli, rows, tmp_path):
    base, _, _ = rows
    header_only = S.write_sweep(tmp_path / "empty.csv", [])
    assert "no rows" in bad(run_cli, tmp_path / "o.yaml", header_only, "--base", base)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    assert "missing column" in bad(run_cli, tmp_path / "o.yaml", blank, "--base", base)


def test_missing_columns(run_cli, rows, tmp_path):
    base, _, data = rows
    sweep = S.write_sweep(tmp_path / "cols.csv", data, columns=[c for c in S.COLUMNS if c != "latency_s"])
    assert "latency_s" in bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base)


@pytest.mark.parametrize("latency", ["nan", "0", "-1e-3", "", "fast"])
def test_bad_latencies(run_cli, rows, tmp_path, latency):
    base, _, data = rows
    data[5]["latency_s"] = latency
    sweep = S.write_sweep(tmp_path / "lat.csv", data)
    message = bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base)
    assert "lat.csv:7" in message and "latency_s" in message  # header is line 1, row 5 is line 7


def test_several_hosts_need_force(run_cli, synthetic, tmp_path):
    base, make = synthetic
    first, second = make(name="h1.csv"), make(name="h2.csv", host="other-host", seed=5)
    message = bad(run_cli, tmp_path / "o.yaml", first, second, "--base", base)
    assert "2 hosts" in message and "--force" in message
    report = fit_json(run_cli, first, second, "--base", base, "--out", tmp_path / "o.yaml", "--force")
    assert {h["host_id"] for h in report["provenance"]["hosts"]} == {S.HOST, "other-host"}


def test_base_profile_that_fails_to_load(run_cli, rows, tmp_path):
    _, sweep, _ = rows
    assert "--base" in bad(run_cli, tmp_path / "o.yaml", sweep, "--base", "no-such-profile")
    broken = tmp_path / "broken.yaml"
    data = S.profile_data("broken", S.BASE)
    data["coefficients"]["fp32"]["tile_utilization"] = 1.5
    broken.write_text(yaml.safe_dump(data))
    assert "tile_utilization" in bad(run_cli, tmp_path / "o.yaml", sweep, "--base", broken)


def test_fewer_rows_than_free_coefficients(run_cli, rows, tmp_path):
    base, _, data = rows
    sweep = S.write_sweep(tmp_path / "few.csv", data[:3])
    message = bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base)
    assert "3 row(s)" in message and " free" in message
    # fixing enough coefficients makes the same rows fittable
    report = fit_json(run_cli, sweep, "--base", base, "--out", tmp_path / "o.yaml", "--holdout", "0",
                      "--fix", "efficiency_factor,instruction_efficiency,per_op_overhead_s,matrix_op_overhead_s,"
                      "matrix_half_rate_rows,matrix_half_rate_depth,matrix_half_rate_columns,"
                      "cache_bandwidth_bytes_per_s,vector_product_half_rate_depth")
    # no row held out: the training fit is the profile's fit (one solve, not the same one twice)
    errors = report["provenance"]["error"]
    assert (report["holdout"]["n"], report["train"]["n"]) == (0, 3)
    assert errors["train"]["mape"] == errors["all_rows_after_refit"]["mape"]


def test_unknown_fix_name_and_bad_holdout(run_cli, rows, tmp_path):
    base, sweep, _ = rows
    assert "tile_utilisation" in bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base, "--fix", "tile_utilisation")
    assert "--holdout" in bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base, "--holdout", "1.5")


def test_a_failed_fit_writes_nothing(run_cli, rows, tmp_path, monkeypatch):
    from graphcal.fit import calibrate, solver

    base, sweep, _ = rows
    original = calibrate.solve
    monkeypatch.setattr(calibrate, "solve", lambda *a: original(*a[:5], solver.SolverSettings(max_nfev=1)))
    message = bad(run_cli, tmp_path / "o.yaml", sweep, "--base", base)
    assert "did not converge" in message and "nothing was written" in message
    previous = tmp_path / "previous.yaml"
    previous.write_text("kept: true\n")
    result = run_cli("fit", "--coefficients", sweep, "--base", base, "--out", previous, "--force")
    assert result.code == 2 and "did not converge" in result.stderr and previous.read_text() == "kept: true\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
