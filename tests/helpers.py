"""Helpers the tests import: repository paths, the predecessor's profiles, a result of running
the CLI, and a complete test profile. Fixtures live in conftest.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "graphcal" / "data" / "hardware"
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
