"""`compare MODEL --hw A --hw B` says which ops it could not cost, as `predict` does."""

from __future__ import annotations

import pytest
import torch


class Mystery(torch.nn.Module):
    """A linear layer and an op graphcal has no formula for."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        return torch.special.zeta(self.linear(x).abs() + 2, x.abs() + 1)


@pytest.fixture
def mystery(tmp_path):
    path = tmp_path / "mystery.pt2"
    torch.export.save(torch.export.export(Mystery().eval(), (torch.rand(2, 4),)), path)
    return path


HW = ("--hw", "i7-12700k-large", "--hw", "i7-12700k-tiny")


def test_compare_json_and_predict_json_list_the_same_uncosted_ops(run_cli, mystery):
    compared = run_cli("compare", mystery, *HW, "--json")
    predicted = run_cli("predict", mystery, "--hw", "i7-12700k-large", "--json")
    assert compared.code == 0 and predicted.code == 0, compared.stderr + predicted.stderr
    assert compared.json()["unsupported_ops"] == predicted.json()["unsupported_ops"] == {"aten.special_zeta.default": 1}


def test_compare_table_lists_the_uncosted_ops(run_cli, mystery):
    result = run_cli("compare", mystery, *HW)
    assert result.code == 0, result.stderr
    text = " ".join(result.stdout.split())  # rich wraps the line at the terminal width
    assert "unsupported ops (not costed, latency is understated): aten.special_zeta.default x1" in text


def test_compare_of_a_fully_costed_model_says_nothing_of_gaps(run_cli):
    result = run_cli("compare", "mlp:4:16x16", *HW, "--json")
    assert result.json()["unsupported_ops"] == {}
    assert "unsupported" not in run_cli("compare", "mlp:4:16x16", *HW).stdout


def test_compare_strict_fails_with_exit_1(run_cli, mystery):
    result = run_cli("compare", mystery, *HW, "--strict")
    assert result.code == 1 and "aten.special_zeta.default x1" in result.stderr and result.stdout == ""
