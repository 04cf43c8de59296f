"""Ctrl-C and kill -9 in the middle of a sweep, each followed by --resume: every finished row
survives, none is duplicated, and the file parses at every step. Real subprocesses, a tiny grid
timed in two passes (the default), so a resume also crosses from one pass to the next."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from graphcal.sweep.csvfile import read_sweep

pytestmark = pytest.mark.slow

WORKLOADS = [f"mlp:{b}:16x16" for b in range(1, 13)]  # 12 configurations: 3 blocks of 4
# Slow enough (about 0.3 s a block) to be interrupted between blocks.
PROTOCOL = {"rounds": 2, "max_rounds": 2, "window_s": 0.03, "min_samples": 3, "warmup_calls": 1,
            "warmup_s": 0.0, "min_sample_s": 0.00002, "passes": 2}
EVERY_PASS = sorted((w, p) for w in WORKLOADS for p in ("1", "2"))


def sweep(grid: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from graphcal.cli import main; main()", "sweep", "mlp", "--grid", str(grid),
         "--out", str(out), "--threads", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def measure_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["role"] == "measure"]


def wait_for_rows(path: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) - 1 >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"sweep ended early ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no block was written in time")


@pytest.fixture
def grid(tmp_path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"kind": "mlp", "workloads": WORKLOADS, "protocol": PROTOCOL}))
    return path


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_interrupt_then_resume_loses_and_duplicates_nothing(grid, tmp_path, how):
    out = tmp_path / "sweep.csv"
    proc = sweep(grid, out)
    wait_for_rows(out, 4, proc)  # the first block is on disk
    proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=60)
    if how == "sigint":
        assert proc.returncode == 130, stderr
        assert "interrupted" in stdout and "--resume" in stdout
    else:
        assert proc.returncode == -signal.SIGKILL
    before = measure_rows(out)
    assert 4 <= len(before) < len(EVERY_PASS) and len(before) % 4 == 0  # whole blocks only
    read_sweep(out)  # parses

    proc = sweep(grid, out, "--resume")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    after = measure_rows(out)
    assert sorted((r["workload"], r["pass"]) for r in after) == EVERY_PASS  # no duplicate, none missing
    assert after[: len(before)] == before  # finished rows untouched
    assert f"{len(before)} already there" in stdout


def test_resume_cuts_a_torn_last_line(grid, tmp_path):
    out = tmp_path / "sweep.csv"
    (tmp_path / "first").mkdir()
    first = tmp_path / "first" / "grid.yaml"  # the first 3 configurations, as an earlier run of grid "grid"
    first.write_text(yaml.safe_dump({"kind": "mlp", "workloads": WORKLOADS[:3], "protocol": PROTOCOL}))
    proc = sweep(first, out)
    assert proc.wait(timeout=60) == 0
    kept = measure_rows(out)
    with out.open("a") as handle:
        handle.write("mlp:99:16x16,fp32,1,0.0001")  # a write torn by a crash
    proc = sweep(grid, out, "--resume")
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    rows = measure_rows(out)
    assert rows[: len(kept)] == kept
    assert sorted((r["workload"], r["pass"]) for r in rows) == EVERY_PASS


def ready_sweep(grid: Path, out: Path, *extra: str) -> subprocess.Popen:
    """A sweep that has imported graphcal and torch and starts when a line is written to its
    stdin, so that it runs while another sweep is in flight, not seconds later."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys, torch, graphcal.sweep.runner; from graphcal.cli import main; "
         "sys.stdin.readline(); main()", "sweep", "mlp", "--grid", str(grid), "--out", str(out), "--threads", "1",
         *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_two_sweeps_on_one_file_lose_and_duplicate_nothing(tmp_path):
    """Concurrent writers (issue 14, class 1): while one sweep holds the output, others on the
    same file, with --resume or --force or neither, are refused in one line and write nothing."""
    slow = tmp_path / "slow.yaml"  # about 0.6 s a block
    slow.write_text(yaml.safe_dump({"kind": "mlp", "workloads": WORKLOADS,
                                    "protocol": {**PROTOCOL, "window_s": 0.06}}))
    out = tmp_path / "sweep.csv"
    others = [ready_sweep(slow, out, *extra) for extra in (("--resume",), ("--force",), ())]
    time.sleep(0.5)
    first = sweep(slow, out)
    wait_for_rows(out, 4, first)
    for other in others:
        other.stdin.write("go\n")
        other.stdin.flush()
    for other in others:
        _, stderr = other.communicate(timeout=60)
        assert other.returncode == 2, stderr
        assert len(stderr.splitlines()) == 1 and "being written by another" in stderr
    assert first.poll() is None, "the first sweep ended before the others were refused: make it slower"
    assert first.wait(timeout=120) == 0, first.stderr.read()
    rows = measure_rows(out)
    assert sorted((r["workload"], r["pass"]) for r in rows) == EVERY_PASS  # no duplicate, none lost
    again = sweep(slow, out, "--resume")  # once the first is done, a resume finds nothing to add
    assert again.wait(timeout=60) == 0, again.stderr.read()
    assert measure_rows(out) == rows
