"""Sweep files under faults (issue 14, classes 1, 2, 3, 5 and 14): strict reading, one writer
at a time, outputs that exist even when empty, --resume only onto its own grid's file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from graphcal.errors import GraphcalError
from graphcal.hardware.host import fingerprint
from graphcal.sweep.csvfile import SWEEP_COLUMNS, append_rows, read_sweep

HEADER = "workload,dtype,threads,latency_s,host_id\n"


def sweep_file(tmp_path: Path, text: str | bytes, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def one_line(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # cut from 5.054e-06 by a crash: used to be read as 5.054 s
        (HEADER + "mlp:1:8x8,fp32,2,1e-5,h\nmlp:2:8x8,fp32,2,5.054", "s.csv:3: the last line has no newline"),
        (HEADER + "mlp:1:8x8,fp32,2,1e-5,h\nmlp:2:8x8,fp32,2,5.054\n", "s.csv:3: 4 field(s) where the header has 5"),
        (HEADER + "mlp:1:8x8,fp32,2,1e-5,h,extra\n", "s.csv:2: 6 field(s) where the header has 5"),
        (HEADER + "mlp:1:8x8,fp32,two,1e-5,h\n", "s.csv:2: latency_s and threads must be numbers"),
        (HEADER + "mlp:1:8x8,fp32,0,1e-5,h\n", "s.csv:2: threads must be a positive integer"),
        (HEADER + "mlp:1:8x8,fp32,1,nan,h\n", "s.csv:2: latency_s must be a positive number"),
        ("workload,dtype,threads,latency_s,host_id,median_s\nmlp:1:8x8,fp32,1,1e-5,h,fast\n",
         "s.csv:2: median_s must be a number"),
        (HEADER + 'mlp:1:8x8,fp32,1,1e-5,"h\n', "s.csv:"),  # an open quote swallows the file
    ],
)
def test_a_torn_short_or_mistyped_row_is_an_error_naming_the_line(tmp_path, text, words):
    with pytest.raises(GraphcalError) as excinfo:
        read_sweep(sweep_file(tmp_path, text))
    assert words in one_line(excinfo)


def test_a_binary_file_is_one_line(tmp_path):
    with pytest.raises(GraphcalError) as excinfo:
        read_sweep(sweep_file(tmp_path, HEADER.encode() + b"\x89PNG\r\n\x1a\n\xff\xfe"))
    assert "s.csv:2: not a sweep CSV (not UTF-8 text)" in one_line(excinfo)


def test_optional_text_columns_pass(tmp_path):
    # other tools (and in-model rows) add text columns, JSON with commas and quotes included
    text = HEADER.rstrip("\n") + ',scope,op\nmlp:1:8x8,fp32,1,1e-5,h,model,"{""target"": ""aten.mm"", ""x"": [1, 2]}"\n'
    (row,) = read_sweep(sweep_file(tmp_path, text))
    assert row.fields["op"] == '{"target": "aten.mm", "x": [1, 2]}' and row.latency_s == 1e-5


@pytest.mark.parametrize("command", ["compare", "fit"])
@pytest.mark.parametrize("tail", [b"mlp:2:8x8,fp32,2,5.054", b"mlp:2:8x8,fp32,2,5.054\n", b"\xff\xd8\xff\xe0"])
def test_compare_and_fit_refuse_torn_rows_and_binary_files_in_one_line(tmp_path, run_cli, command, tail):
    path = sweep_file(tmp_path, HEADER.encode() + b"mlp:1:8x8,fp32,2,1e-5,h\n" + tail)
    args = ["compare", path, "--hw", "i7-12700k"] if command == "compare" else [
        "fit", path, "--base", "i7-12700k", "--out", tmp_path / "o.yaml"]
    result = run_cli(*args)
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "s.csv:3:" in result.stderr
    assert not (tmp_path / "o.yaml").exists()


def measured_row(**fields) -> dict:
    row = {c: "" for c in SWEEP_COLUMNS}
    row.update(fingerprint().as_row(), workload="mlp:1:8x8", dtype="fp32", threads="1", latency_s="1e-5",
               role="measure", grid="smoke-mlp", **{"pass": "1"})
    row.update(fields)
    return row


def test_resume_onto_a_binary_file_is_one_line_and_cuts_nothing(tmp_path, run_cli):
    data = b"\x00\x01binary\xff\xfe\nmore\xff"
    out = sweep_file(tmp_path, data, "x.csv")
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--resume", "--threads", "1")
    assert result.code == 2 and len(result.stderr.splitlines()) == 1 and "not a sweep CSV" in result.stderr
    assert out.read_bytes() == data


def test_resume_onto_another_grids_file_is_refused_unless_forced(tmp_path, run_cli):
    out = tmp_path / "x.csv"
    append_rows(out, [measured_row(grid="mlp-default")])
    before = out.read_text()
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--resume", "--threads", "1",
                     "--budget-s", "0")
    assert result.code == 2 and "grid 'mlp-default'" in result.stderr and "--force" in result.stderr
    assert out.read_text() == before
    forced = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--resume", "--threads", "1",
                     "--budget-s", "0", "--force")
    assert forced.code == 0, forced.stderr


@pytest.mark.parametrize("args", [["--shard", "7/7"], ["--budget-s", "0"]])
def test_a_run_that_times_nothing_still_writes_the_header(tmp_path, run_cli, args):
    out = tmp_path / "x.csv"
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--threads", "1", *args)
    assert result.code == 0, result.stderr
    assert out.read_text() == ",".join(SWEEP_COLUMNS) + "\n"
    assert "header only" in " ".join(result.stdout.split())


def test_out_onto_a_directory_is_one_line(tmp_path, run_cli):
    result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", tmp_path, "--threads", "1")
    assert result.code == 2 and len(result.stderr.splitlines()) == 1 and "is a directory" in result.stderr


@pytest.mark.parametrize("resume", [False, True])
def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, run_cli, resume):
    out = tmp_path / "x.csv"
    append_rows(out, [measured_row()])
    before = out.read_bytes() + b"mlp:2:8x8,fp32,1,1e"  # a block the first writer is appending
    out.write_bytes(before)
    fd = os.open(out, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first sweep holds it
        args = ["--resume"] if resume else ["--force"]
        result = run_cli("sweep", "mlp", "--grid", "smoke-mlp", "--out", out, "--threads", "1", *args)
    finally:
        os.close(fd)
    assert result.code == 2 and len(result.stderr.splitlines()) == 1
    assert "being written by another `graphcal sweep`" in result.stderr
    assert out.read_bytes() == before  # neither truncated (--force) nor its tail cut (--resume)


def test_a_refused_run_leaves_no_empty_file(tmp_path, run_cli):
    out = tmp_path / "x.csv"
    grid = tmp_path / "g.yaml"
    grid.write_text("kind: mlp\nworkloads: [mlp:100000000:100000x100000]\n")  # too large: refused before timing
    result = run_cli("sweep", "mlp", "--grid", grid, "--out", out, "--threads", "1")
    assert result.code == 2 and "too large" in result.stderr
    assert not out.exists()


def test_a_grid_product_too_large_to_expand_is_one_line(tmp_path):
    from graphcal.sweep.grid import load_grid

    grid = tmp_path / "g.yaml"
    values = list(range(1, 101))
    grid.write_text(f"kind: mlp\nproducts:\n  - template: 'mlp:{{a}}:{{b}}x{{c}}'\n    a: {values}\n"
                    f"    b: {values}\n    c: {values}\n")  # 100^3 workloads
    with pytest.raises(GraphcalError) as excinfo:
        load_grid(str(grid), "mlp")
    assert "expands to 1000000 workloads" in one_line(excinfo)
