"""Shared test helpers: run the real CLI entry point in-process, write small profiles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "configs" / "hardware"
# The predecessor's i7-12700K variants (efficiency 0.20 and 0.60): the shipped profiles are now
# calibrated on measurements, so the coefficient-ratio tests use these fixed values instead.
PREDECESSOR_TINY = REPO / "tests" / "fixtures" / "predecessor-tiny.yaml"
PREDECESSOR_LARGE = REPO / "tests" / "fixtures" / "predecessor-large.yaml"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `graphcal ARGS...` through graphcal.cli.main, as the console script does."""
    from graphcal.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["graphcal", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def write_profile(tmp_path):
    """Write a profile YAML into tmp_path and return its path."""

    def write(name: str, data: dict) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def base_profile_data(**coefficients) -> dict:
    """A complete standalone profile with round numbers, coefficients overridable."""
    coeffs = {
        "efficiency_factor": 0.5,
        "memory_bottleneck_factor": 0.5,
        "tile_utilization": 0.5,
        "instruction_efficiency": 0.5,
    }
    coeffs.update(coefficients)
    return {
        "name": "test-cpu",
        "cpu": {"model": "Test CPU", "physical_cores": 4, "logical_cores": 8},
        "caches": {"l3_bytes": 32 * 2**20},
        "memory": {"bandwidth_bytes_per_s": 100_000_000_000, "cache_bandwidth_bytes_per_s": 100_000_000_000},
        "peak_flops_per_s": {"fp32": 1_000_000_000_000},
        "runtime": {"per_op_overhead_s": 1.0e-6, "matrix_op_overhead_s": 1.0e-6, "matrix_half_rate_rows": 0,
                    "matrix_half_rate_depth": 0, "matrix_half_rate_columns": 0},
        "coefficients": {"fp32": coeffs},
    }
