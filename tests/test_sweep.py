"""graphcal sweep: the CSV columns, round trips into predict, shards, resume, bad input.

Real kernels are timed only with the smoke grids' quick protocol (a few seconds); nothing here
asserts a speed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from graphcal.cost import cost_graph
from graphcal.errors import GraphcalError
from graphcal.load import graph_of_spec
from graphcal.precision import Precision
from graphcal.sweep.csvfile import COLUMNS, SWEEP_COLUMNS, noise_floor, read_sweep
from graphcal.sweep.grid import load_grid, shipped_grids
from graphcal.sweep.runner import Shard

QUICK = {
    "rounds": 2, "max_rounds": 3, "window_s": 0.002, "min_samples": 3,
    "warmup_calls": 1, "warmup_s": 0.0, "min_sample_s": 0.00002, "passes": 1,
}


def rows_of(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_grid(path: Path, **data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.slow
def test_columns_rows_and_noise_floor(run_cli, tmp_path):
    out = tmp_path / "s.csv"
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--threads", "1")
    assert result.code == 0, result.stderr
    assert "6 row(s) written" in result.stdout
    assert str(out) in result.stderr  # announced at the start
    rows = rows_of(out)
    assert tuple(rows[0]) == SWEEP_COLUMNS and set(COLUMNS) <= set(SWEEP_COLUMNS)
    measured = [r for r in rows if r["role"] == "measure"]
    repeats = [r for r in rows if r["role"] == "repeat"]
    grid = load_grid("smoke-mlp", "mlp")
    assert sorted(r["workload"] for r in measured) == sorted(grid.workloads)
    assert len(repeats) == 3  # max(3, 10% of 6), at most the configurations timed
    for r in measured:
        assert r["dtype"] == "fp32" and r["threads"] == "1" and r["grid"] == "smoke-mlp"
        assert 0 < float(r["latency_s"]) <= float(r["median_s"]) <= float(r["p90_s"])
        assert float(r["latency_s"]) <= float(r["best_round_median_s"])
        assert int(r["samples"]) >= 2 * 3  # rounds x min_samples
        for column in ("host_id", "host_cpu_model", "host_logical_cores", "host_simd", "torch_version",
                       "torch_backend", "graphcal_version", "timestamp"):
            assert r[column], column
    # fit's reader: measurements only; the noise floor pairs the repeats
    assert len(read_sweep(out)) == 6
    floor = noise_floor([out])
    assert floor is not None and floor >= 0


@pytest.mark.slow
def test_every_ops_row_round_trips_into_predict(run_cli, tmp_path):
    out = tmp_path / "ops.csv"
    assert run_cli("sweep", "ops", "--grid", "smoke-ops", "--out", out, "--threads", "1").code == 0
    rows = [r for r in rows_of(out) if r["role"] == "measure"]
    assert {r["workload"].split(":")[0] for r in rows} >= {"conv2d", "conv1d", "bmm", "sdpa", "eltwise",
                                                          "layer_norm", "batch_norm", "softmax", "maxpool2d",
                                                          "avgpool2d", "global_avgpool2d", "embedding"}
    for r in rows:
        total = cost_graph(graph_of_spec(r["workload"], Precision.parse(r["dtype"]))).total
        assert float(r["flops"]) == total.flops and float(r["bytes"]) == total.bytes, r["workload"]
        assert r["unsupported_ops"] == ""
    # and through the CLI, as a user would check one row
    first = rows[0]
    predicted = run_cli("predict", first["workload"], "--hw", "i7-12700k", "--json").json()
    assert predicted["flops"] == float(first["flops"]) and predicted["bytes"] == float(first["bytes"])


def test_shards_partition_the_grid():
    workloads = list(load_grid("mlp-default", "mlp").workloads)
    shards = [Shard.parse(f"{i}/3").take(workloads) for i in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(workloads)
    assert sum(len(s) for s in shards) == len(workloads)  # disjoint
    assert shards[1] == workloads[1::3]


@pytest.mark.slow
def test_shard_files_concatenate_into_the_grid(run_cli, tmp_path):
    grid = write_grid(tmp_path / "g.yaml", kind="mlp", workloads=[f"mlp:{b}:8x8" for b in (1, 2, 3, 4, 5)],
                      protocol=QUICK)
    seen = []
    for i in (1, 2):
        out = tmp_path / f"shard{i}.csv"
        assert run_cli("sweep", "mlp", "--grid", grid, "--out", out, "--shard", f"{i}/2", "--threads", "1").code == 0
        seen += [r["workload"] for r in rows_of(out) if r["role"] == "measure"]
    assert sorted(seen) == sorted(f"mlp:{b}:8x8" for b in (1, 2, 3, 4, 5))


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2"])
def test_bad_shard(text):
    with pytest.raises(GraphcalError, match="--shard"):
        Shard.parse(text)


def test_shipped_grids_load_and_stay_apart_from_validation_mlps():
    for name in ("mlp-tiny", "mlp-large", "mlp-default", "ops-default", "smoke-mlp", "smoke-ops"):
        assert name in shipped_grids()
    tiny = load_grid("mlp-tiny", "mlp").workloads
    large = load_grid("mlp-large", "mlp").workloads
    for text in tiny:
        batch, widths = text.split(":")[1:]
        assert 1 <= int(batch) <= 32 and max(map(int, widths.split("x"))) <= 784
    for text in large:
        batch, widths = text.split(":")[1:]
        assert int(batch) >= 32 and max(map(int, widths.split("x"))) >= 512
    for text in load_grid("ops-default", "ops").workloads:  # every op spec costs fully
        assert not cost_graph(graph_of_spec(text, Precision.FP32)).unsupported, text


# --- bad input: one line, exit 2, nothing timed ------------------------------------------------

@pytest.mark.parametrize(
    "grid, message",
    [
        ({"kind": "mlp", "workloads": ["mlp:1:8x8"], "rounds": 3}, "unknown key"),
        ({"kind": "mlp", "workloads": []}, "non-empty list"),
        ({"kind": "mlp", "products": [{"template": "mlp:{b}:8x8", "b": []}]}, "non-empty list"),
        ({"kind": "mlp", "products": [{"template": "mlp:{b}:8x8", "b": [0, 2]}]}, "not a positive integer"),
        ({"kind": "mlp", "products": [{"template": "mlp:{b}:8x8", "c": [1]}]}, "no list of values"),
        ({"kind": "mlp", "workloads": ["mlp:1:0x8"]}, "must be positive"),
        ({"kind": "mlp", "workloads": ["conv2d:1x3x8x8x4x3"]}, "not an MLP spec"),
        ({"kind": "ops", "workloads": ["add:8"]}, "cannot be used by `graphcal sweep mlp`"),
        ({"kind": "mlp", "workloads": ["mlp:1:8x8"], "protocol": {"rounds": 0}}, "positive"),
        ({"kind": "mlp", "workloads": ["mlp:1:8x8"], "protocol": {"speed": 1}}, "unknown setting"),
        ({"kind": "mlp", "workloads": ["mlp:1000000:100000x100000"]}, "too large for this machine's memory"),
    ],
)
def test_bad_grid_is_one_line_exit_2_before_timing(run_cli, tmp_path, grid, message):
    path = write_grid(tmp_path / "bad.yaml", **grid)
    out = tmp_path / "never.csv"
    result = run_cli("sweep", "mlp", "--grid", path, "--out", out)
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_grid_name_lists_shipped(run_cli, tmp_path):
    result = run_cli("sweep", "mlp", "--grid", "nosuch", "--out", tmp_path / "x.csv")
    assert result.code == 2 and "mlp-default" in result.stderr and "ops-default" in result.stderr


@pytest.mark.parametrize("out", ["missing-dir/x.csv", "."])
def test_unwritable_output(run_cli, tmp_path, out):
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", tmp_path / out)
    assert result.code == 2 and ("does not exist" in result.stderr or "directory" in result.stderr)


def test_existing_output_needs_resume_or_force(run_cli, tmp_path):
    out = tmp_path / "x.csv"
    out.write_text("something\n")
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out)
    assert result.code == 2 and "--resume" in result.stderr
    assert out.read_text() == "something\n"


def test_resume_refuses_other_threads_unless_forced(run_cli, tmp_path):
    from graphcal.hardware.host import fingerprint
    from graphcal.sweep.csvfile import append_rows

    out = tmp_path / "x.csv"
    row = {c: "" for c in SWEEP_COLUMNS}
    row.update(fingerprint().as_row(), workload="mlp:1:8x8", dtype="fp32", threads="7", latency_s="1e-5",
               role="measure")
    append_rows(out, [row])
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--resume", "--threads", "1")
    assert result.code == 2 and "7 threads" in result.stderr and "--force" in result.stderr
    row.update(threads="1", host_id="another-host")
    out.unlink()
    append_rows(out, [row])
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--resume", "--threads", "1")
    assert result.code == 2 and "another-host" in result.stderr


def test_budget_stops_cleanly(run_cli, tmp_path):
    out = tmp_path / "x.csv"
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--budget-s", "0")
    assert result.code == 0 and "--budget-s reached" in result.stdout and "--resume" in result.stdout


def test_noise_floor_pairs_repeats_with_their_measurement(tmp_path):
    from graphcal.sweep.csvfile import append_rows

    def row(workload, latency, role):
        r = {c: "" for c in SWEEP_COLUMNS}
        r.update(workload=workload, dtype="fp32", threads="2", latency_s=str(latency), host_id="h", role=role)
        return r

    out = tmp_path / "x.csv"
    append_rows(out, [row("a", 1.0, "measure"), row("b", 2.0, "measure"), row("c", 4.0, "measure")])
    assert noise_floor([out]) is None
    append_rows(out, [row("a", 1.1, "repeat"), row("b", 2.0, "repeat"), row("c", 3.0, "repeat")])
    # |1.1-1|/1 = 0.1, 0, |3-4|/4 = 0.25: median 0.1
    assert noise_floor([out]) == pytest.approx(0.1)
    assert [r.workload for r in read_sweep(out)] == ["a", "b", "c"]


@pytest.mark.slow
def test_sweep_model_times_specs_and_pt2_files(run_cli, tmp_path):
    import torch

    program = torch.export.export(torch.nn.Sequential(torch.nn.Linear(8, 4)).eval(), (torch.randn(2, 8),))
    pt2 = tmp_path / "m.pt2"
    torch.export.save(program, str(pt2))
    out = tmp_path / "models.csv"
    result = run_cli("sweep", "model", "mlp:2:8x8", str(pt2), "--out", out, "--threads", "1")
    assert result.code == 0, result.stderr
    rows = {r["workload"]: r for r in rows_of(out) if r["role"] == "measure"}
    assert set(rows) == {"mlp:2:8x8", str(pt2)}
    assert float(rows[str(pt2)]["flops"]) == 2 * 2 * 8 * 4  # 128, as predict counts the file
    assert all(r["grid"] == "model" for r in rows.values())


def test_a_path_the_file_system_refuses_fails_before_timing(run_cli, monkeypatch):
    # /proc accepts no new file although its permission bits let root write there
    import graphcal.sweep.runner as runner

    monkeypatch.setattr(runner, "time_block", lambda *a, **k: pytest.fail("timed before checking the output"))
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", "/proc/graphcal-sweep.csv")
    assert result.code == 2 and "cannot write /proc/graphcal-sweep.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_passes_time_every_configuration_twice_and_keep_the_faster(run_cli, tmp_path):
    workloads = [f"mlp:{b}:8x8" for b in (1, 2, 3)]
    grid = write_grid(tmp_path / "g.yaml", kind="mlp", workloads=workloads, protocol=dict(QUICK, passes=2))
    out = tmp_path / "two.csv"
    result = run_cli("sweep", "mlp", "--grid", grid, "--out", out, "--threads", "1")
    assert result.code == 0, result.stderr
    assert "between passes" in result.stdout
    measured = [r for r in rows_of(out) if r["role"] == "measure"]
    assert sorted((r["workload"], r["pass"]) for r in measured) == sorted((w, p) for w in workloads for p in "12")
    merged = {r.workload: r.latency_s for r in read_sweep(out)}
    assert sorted(merged) == sorted(workloads)
    for w in workloads:
        assert merged[w] == min(float(r["latency_s"]) for r in measured if r["workload"] == w)


def test_the_speed_gauge_is_read_each_round_and_its_median_recorded():
    from graphcal.sweep.protocol import Protocol, time_block

    readings = iter([3e-4, 1e-4, 2e-4, 9e-4, 5e-4])
    calls = []
    timings = time_block([lambda: None, lambda: None], Protocol(rounds=5, max_rounds=5, window_s=0.0),
                         gauge=lambda: calls.append(1) or next(readings))
    assert len(calls) == 5   # once per round, not per workload
    assert [t.gauge_s for t in timings] == [3e-4, 3e-4]
    assert time_block([lambda: None], Protocol(rounds=2, max_rounds=2, window_s=0.0))[0].gauge_s is None


def test_sweep_rows_carry_the_speed_gauge(run_cli, tmp_path):
    out = tmp_path / "g.csv"
    assert run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", str(out)).code == 0
    rows = read_sweep(out)
    assert rows and all(0 < float(r.fields["gauge_s"]) < 1 for r in rows)
