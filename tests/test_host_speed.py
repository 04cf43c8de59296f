"""The fit puts each sweep at the calibration's typical host speed (graphcal.fit.hostspeed): the
speed gauge of every round says how fast the host ran, and sweeps timed at different speeds
are scaled to one before any table is fitted."""

from __future__ import annotations

import pytest
import yaml

from graphcal.fit.hostspeed import speed_scaling
from graphcal.sweep.csvfile import SWEEP_COLUMNS, read_sweep
from tests import fit_synthetic as S

GEMM_TRUTH = {"compute": {1: 0.9, 8: 0.6}, "memory": {1: 0.06, 8: 0.1}, "overhead_s": {1: 3e-6, 8: 9e-6}}
WORKLOADS = [(f"mlp:{b}:{d}x{d}", t) for b in (1, 2, 8, 32, 128, 512) for d in (64, 512, 2048, 4096) for t in (1, 8)]


def timed(rows: list[dict], slower: float, gauge_s: float | None) -> list[dict]:
    """`rows` as a host `slower` times slower timed them, each round's gauge reading `gauge_s`."""
    out = []
    for row in rows:
        row = dict(row)
        for column in ("latency_s", "median_s", "p90_s"):
            row[column] = repr(float(row[column]) * slower)
        row["gauge_s"] = "" if gauge_s is None else repr(gauge_s)
        out.append(row)
    return out


def test_each_sweep_is_scaled_by_its_gauge_against_the_median_of_the_sweeps(tmp_path):
    base = tmp_path / "truth.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("truth", S.BASE)))
    rows = S.sweep_rows(base, WORKLOADS[:8], sigma=0.0)
    fast = S.write_sweep(tmp_path / "fast.csv", timed(rows[:4], 1.0, 100e-6), SWEEP_COLUMNS)
    slow = S.write_sweep(tmp_path / "slow.csv", timed(rows[4:6], 1.3, 130e-6), SWEEP_COLUMNS)
    bare = S.write_sweep(tmp_path / "bare.csv", timed(rows[6:], 1.0, None), SWEEP_COLUMNS)
    swept = read_sweep(fast) + read_sweep(slow) + read_sweep(bare)
    speed = speed_scaling(swept)
    # reference: the median of the two gauged sweeps' medians at each thread count (115 us)
    assert speed.reference_s == {1: pytest.approx(115e-6), 8: pytest.approx(115e-6)}
    assert list(speed.factors) == pytest.approx([1.15] * 4 + [115 / 130] * 2 + [1.0] * 2)
    assert speed.ungauged == 2
    assert list(speed_scaling(swept, enabled=False).factors) == [1.0] * 8


def test_a_sweep_timed_on_a_slower_host_does_not_pull_the_fit(run_cli, tmp_path):
    """Half the workloads timed on a host 1.3x slower (its gauge says so): scaled, the two
    sweeps agree and the fit reproduces them; fitted as timed (--raw-speed), they cannot."""
    truth = tmp_path / "truth.yaml"
    truth.write_text(yaml.safe_dump(S.profile_data("truth", S.BASE) | {"kernels": {"fp32": {"gemm": GEMM_TRUTH}}}))
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(S.profile_data("base", S.BASE)))
    rows = S.sweep_rows(truth, WORKLOADS, sigma=0.005, seed=1)
    # every other workload (both its thread counts) in each file: the files share shapes and threads
    halves = [[r for i, r in enumerate(rows) if (i // 2) % 2 == k] for k in (0, 1)]
    fast = S.write_sweep(tmp_path / "fast.csv", timed(halves[0], 1.0, 100e-6), SWEEP_COLUMNS)
    slow = S.write_sweep(tmp_path / "slow.csv", timed(halves[1], 1.3, 130e-6), SWEEP_COLUMNS)

    def fit(*extra: str) -> dict:
        result = run_cli("fit", fast, slow, "--base", base, "--out", tmp_path / f"fit{len(extra)}.yaml", "--json",
                         *extra)
        assert result.code == 0, result.stderr
        return result.json()

    scaled, raw = fit(), fit("--raw-speed")
    assert scaled["train"]["mape"] < 0.03
    assert raw["train"]["mape"] > 0.08
    speed = scaled["provenance"]["host_speed"]
    assert speed["reference_gauge_s"]["8"] == pytest.approx(115e-6)
    assert {(s["file"], s["threads"]): round(s["factor"], 4) for s in speed["sweeps"]} == {
        ("fast.csv", 1): 1.15, ("fast.csv", 8): 1.15, ("slow.csv", 1): round(115 / 130, 4),
        ("slow.csv", 8): round(115 / 130, 4)}
    assert "host_speed" not in raw["provenance"]
