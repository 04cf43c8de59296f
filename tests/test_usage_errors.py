"""Click's usage errors (a bad option value, a missing argument, an unknown command) go through
graphcal's one-line error with exit code 2, as every other user error does (issue 14, class 13)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["predict", "mlp:1:8x8", "--hw", "i7-12700k", "--threads", "0"], "--threads"),
        (["predict", "mlp:1:8x8", "--hw", "i7-12700k", "--top", "0"], "--top"),
        (["sweep", "mlp", "--passes", "0"], "--passes"),
        (["sweep", "mlp", "--budget-s", "nan"], "--budget-s"),
        (["sweep", "mlp", "--budget-s", "inf"], "--budget-s"),
        (["fit", "x.csv", "--base", "i7-12700k", "--out", "o.yaml", "--holdout", "nan"], "--holdout"),
        (["sweep", "model"], "give MODELs or --grid"),
        (["predict"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["predict", "mlp:1:8x8", "--hw", "i7-12700k", "--bogus"], "--bogus"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(run_cli, tmp_path, monkeypatch, args, names):
    monkeypatch.chdir(tmp_path)
    result = run_cli(*args)
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("graphcal: error: ") and names in lines[0]
    assert "--help" in lines[0]
    assert not (tmp_path / "o.yaml").exists()
