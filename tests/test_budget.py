"""The CI gate: `predict --max-latency`, its units, its JSON, and the exit codes 0 / 1 / 2."""

from __future__ import annotations

import pytest

from graphcal.errors import GraphcalError
from graphcal.predict.budget import parse_duration

MODEL, HW = "mlp:32:784x512x10", "i7-12700k-large"


@pytest.mark.parametrize(("text", "seconds"), [
    ("20ms", 0.020), ("1.5s", 1.5), ("250us", 250e-6), ("250 µs", 250e-6), (" 2e-3 s ", 0.002), (".5ms", 0.0005),
    ("0.005", 0.005), ("2", 2.0),  # a bare number is seconds
])
def test_durations_read_with_their_unit(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["20 min", "ms", "-1ms", "0ms", "0", "20mss", "1e999s", "1e999"])
def test_durations_malformed_or_not_positive_are_refused(text):
    with pytest.raises(GraphcalError, match="--max-latency"):
        parse_duration(text)


def _latency(run_cli) -> float:
    result = run_cli("predict", MODEL, "--hw", HW, "--json")
    assert result.code == 0, result.stderr
    return result.json()["latency_s"]


def test_within_the_budget_exits_0_and_json_says_so(run_cli):
    latency = _latency(run_cli)
    budget_us = latency * 1e6 * 1.01  # 1% above the prediction
    result = run_cli("predict", MODEL, "--hw", HW, "--json", "--max-latency", f"{budget_us}us")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["max_latency_s"] == pytest.approx(budget_us * 1e-6)
    assert data["within_budget"] is True and result.stderr == ""


def test_over_the_budget_exits_1_with_one_line_naming_figure_and_budget(run_cli):
    latency = _latency(run_cli)
    budget_us = latency * 1e6 * 0.99  # 1% below the prediction
    result = run_cli("predict", MODEL, "--hw", HW, "--json", "--max-latency", f"{budget_us}us")
    assert result.code == 1
    assert result.json()["within_budget"] is False  # the report is still printed, for the CI log
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert MODEL in lines[0] and HW in lines[0] and "exceeds the budget" in lines[0]
    assert f"{latency * 1e6:.3g} us" in lines[0] and f"{budget_us:.3g} us" in lines[0]


def test_the_table_states_the_verdict(run_cli):
    result = run_cli("predict", MODEL, "--hw", HW, "--max-latency", "1s")
    assert result.code == 0 and "budget 1 s: within" in result.stdout


def test_without_a_budget_the_json_keys_are_null(run_cli):
    result = run_cli("predict", MODEL, "--hw", HW, "--json")
    assert result.json()["max_latency_s"] is None and result.json()["within_budget"] is None


def test_a_malformed_budget_is_bad_input_exit_2(run_cli):
    result = run_cli("predict", MODEL, "--hw", HW, "--max-latency", "20 min")
    assert result.code == 2 and "a number with a unit" in result.stderr and result.stdout == ""


def test_strict_failure_is_exit_1(run_cli, tmp_path):
    import torch

    class Mystery(torch.nn.Module):
        def forward(self, x):
            return torch.special.zeta(x, x)  # no cost formula

    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(Mystery(), (torch.rand(4) + 1,)), path)
    loose = run_cli("predict", path, "--hw", HW, "--json")
    assert loose.code == 0 and loose.json()["unsupported_ops"], loose.stderr
    strict = run_cli("predict", path, "--hw", HW, "--strict")
    assert strict.code == 1 and strict.stderr.count("\n") == 1 and "--strict" in strict.stderr
