"""bf16 where graphcal does not calibrate it: sweeps warn and still time it, fit and predict
refuse a profile with no bf16 table in one line that says how to get one; fit calibrates a
bf16 table a profile has."""

from __future__ import annotations

import pytest
import yaml

from graphcal.hardware import host
from graphcal.hardware.profile import load_profile
from graphcal.precision import Precision
from tests import fit_synthetic as S

ZEN3 = {"model name": "AMD EPYC 7B13", "flags": "fpu sse sse4_2 avx fma avx2"}
SAPPHIRE_RAPIDS = {"model name": "Intel Xeon Platinum 8480+", "flags": "avx2 fma avx512f avx512_bf16 amx_bf16"}


@pytest.mark.parametrize(("cpu", "warned"), [(ZEN3, True), (SAPPHIRE_RAPIDS, False)])
@pytest.mark.parametrize("kind", ["mlp", "ops"])
def test_a_bf16_sweep_warns_once_where_bf16_is_not_native_and_still_runs(run_cli, tmp_path, monkeypatch, cpu,
                                                                          warned, kind):
    monkeypatch.setattr(host, "cpuinfo", lambda: cpu)
    out = tmp_path / "bf16.csv"
    result = run_cli("sweep", kind, "--grid", f"smoke-{kind}", "--dtype", "bf16", "--out", out, "--budget-s", "0")
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning: bf16: not native" in line]
    assert len(warnings) == (1 if warned else 0)
    fp32 = run_cli("sweep", kind, "--grid", f"smoke-{kind}", "--out", tmp_path / "fp32.csv", "--budget-s", "0")
    assert fp32.code == 0 and "not native" not in fp32.stderr  # fp32 sweeps say nothing of it


def test_a_bf16_sweep_on_a_cpu_with_no_flags_says_it_cannot_tell(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(host, "cpuinfo", lambda: {})
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--dtype", "bf16", "--out", tmp_path / "x.csv",
                     "--budget-s", "0")
    assert result.code == 0 and "bf16: cannot tell whether it is native here" in result.stderr


def bf16_sweep(tmp_path, truth_values=S.TRUTH):
    truth = tmp_path / "truth.yaml"
    truth.write_text(yaml.safe_dump(S.profile_data("truth", S.BASE, bf16=truth_values)))
    rows = S.sweep_rows(truth, S.WORKLOADS, precision=Precision.BF16)
    return S.write_sweep(tmp_path / "bf16.csv", rows)


def test_fit_on_bf16_rows_refuses_a_base_without_a_bf16_table_in_one_line(run_cli, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE)))
    out = tmp_path / "fitted.yaml"
    result = run_cli("fit", bf16_sweep(tmp_path), "--base", base, "--out", out)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--base: profile 'base'" in result.stderr and "has no bf16 coefficients; it describes: fp32" in result.stderr
    assert "peak_flops_per_s.bf16" in result.stderr and "profiles init --host" in result.stderr
    assert "--dtype bf16" in result.stderr
    assert not out.exists()  # nothing invented: no bf16 table from the fp32 one


def test_predict_bf16_on_the_shipped_i7_names_the_profile_and_the_way_to_bf16(run_cli):
    result = run_cli("predict", "mlp:8:512x512x10", "--hw", "i7-12700k", "--dtype", "bf16")
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "profile 'i7-12700k'" in result.stderr and "has no bf16 coefficients" in result.stderr
    assert "native bf16" in result.stderr and "profiles init --host" in result.stderr


def test_fit_on_bf16_rows_calibrates_the_bf16_table_and_leaves_fp32_alone(run_cli, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE, bf16=S.BASE)))
    out = tmp_path / "fitted.yaml"
    result = run_cli("fit", bf16_sweep(tmp_path), "--base", base, "--out", out, "--seed", "7", "--json",
                     "--coefficients")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["provenance"]["dtype"] == "bf16"
    for name in ("tile_utilization", "instruction_efficiency", "memory_bottleneck_factor"):
        assert report["coefficients"][name] == pytest.approx(S.TRUTH[name], rel=0.02), name
    written = yaml.safe_load(out.read_text())
    assert list(written["coefficients"]) == ["bf16"]
    fitted = load_profile(out)
    assert fitted.coefficient(Precision.BF16, "tile_utilization") == report["coefficients"]["tile_utilization"]
    assert fitted.coefficient(Precision.FP32, "tile_utilization") == S.BASE["tile_utilization"]  # the base's


def test_a_bf16_fit_says_the_shared_terms_now_serve_fp32_too(run_cli, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE, bf16=S.BASE)))
    result = run_cli("fit", bf16_sweep(tmp_path), "--base", base, "--out", tmp_path / "fitted.yaml", "--coefficients")
    assert result.code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "matrix_op_overhead_s" in text and "serve its fp32 predictions too" in text


def test_a_bf16_kernel_fit_writes_only_bf16_tables_and_fp32_predictions_stay(run_cli, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE, bf16=S.BASE)))
    out = tmp_path / "fitted.yaml"
    result = run_cli("fit", bf16_sweep(tmp_path), "--base", base, "--out", out)
    assert result.code == 0, result.stderr
    written = yaml.safe_load(out.read_text())
    assert list(written["kernels"]) == ["bf16"] and "coefficients" not in written and "runtime" not in written
    for model in ("mlp:64:512x512x10", "add:1000000"):
        fp32 = [run_cli("predict", model, "--hw", p, "--json").json()["latency_s"] for p in (base, out)]
        assert fp32[0] == fp32[1]
        bf16 = [run_cli("predict", model, "--hw", p, "--json", "--dtype", "bf16").json()["latency_s"]
                for p in (base, out)]
        assert bf16[0] != bf16[1]
