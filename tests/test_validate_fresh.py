"""benchmarks/validate_fresh.py on M5 (pure torch): each model timed in processes of its own, the
population written for benchmarks/report.py; with glibc keeping its memory a pass faults far less.
benchmarks/fit_populations.py's floor groups rows that time the same call, whatever its name."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from benchmarks.fit_populations import same_call
from benchmarks.validate_fresh import main
from graphcal.sweep.csvfile import SweepRow
from tests.helpers import base_profile_data

M5 = "m5-audio b4 16000"


def _faults_per_pass(out: str) -> int:
    return int(next(line for line in out.splitlines() if line.startswith(M5)).split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables")
def test_each_model_is_timed_in_processes_of_its_own_and_written_as_a_population(write_profile, tmp_path, capsys):
    profile = write_profile("base", base_profile_data())
    args = ["--hw", str(profile), "--models", M5, "--threads", "1", "--rounds", "2", "--warmup", "5",
            "--passes", "4", "--results", str(tmp_path), "--population", "p"]
    faults = {}
    for flags in ([], ["--no-trim"]):
        assert main(args + flags) == 0
        out = capsys.readouterr().out
        assert "CPU:" in out and "MAPE" in out and "busy" in out
        with (tmp_path / "populations" / "p.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert [r["case"] for r in rows] == [M5]
        assert float(rows[0]["measured"]) > 0 and float(rows[0]["predicted"]) > 0, out
        faults[bool(flags)] = _faults_per_pass(out)
    # M5's activations exceed glibc's default thresholds: returned and faulted in again at every pass
    # (about 4,000 faults a pass); kept, they fault a few times at most
    assert faults[True] * 10 < faults[False], faults


def _row(ops: list[dict]) -> SweepRow:
    fields = {"ops": json.dumps(ops), "scope": "op"}
    return SweepRow("net:x:1", "fp32", 2, 1e-6, "h", "f:1", fields)


def test_the_floor_groups_rows_that_time_the_same_call_whatever_its_name():
    call = {"target": "aten.rsqrt.default", "args": [{"shape": [1, 32, 1], "dtype": "float32"}], "kwargs": {},
            "outputs": [{"shape": [1, 32, 1], "dtype": "float32"}]}
    first, second = _row([{"name": "rsqrt", **call}]), _row([{"name": "rsqrt_4", **call}])
    assert same_call(first) == same_call(second)
    wider = {**call, "args": [{"shape": [1, 64, 1], "dtype": "float32"}]}
    assert same_call(_row([{"name": "rsqrt", **wider}])) != same_call(first)
