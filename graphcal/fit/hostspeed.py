"""Host speed across a calibration: every sweep's rows at the calibration's typical speed.

Each sweep round starts with the speed gauge (graphcal.sweep.protocol.speed_gauge, the
`gauge_s` column): a 256^3 fp32 matmul at the round's thread count. On a shared machine the
gauge moves between sweeps timed minutes apart (measured on a 2-vCPU KVM guest of an Emerald
Rapids Xeon: 93 us at 2 threads through a models sweep, 110 us through the MLP sweep before
it), and a fit that takes both as they are gives each population the host speed it happened
to be timed at. So the fit scales each row by reference / (median gauge of its sweep file,
thread count and pass): the reference, per thread count, is the median of those sweeps'
medians, each sweep counted once. A row without a gauge (a CSV written before the column) is
not scaled, and the report says how many.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from graphcal.sweep.csvfile import pass_number


@dataclass(frozen=True)
class SpeedScaling:
    factors: np.ndarray                            # per row: latency multiplier (1 where no gauge)
    sweeps: dict[tuple[str, int, int], tuple[float, int]]  # (file, threads, pass) -> (median gauge s, rows)
    reference_s: dict[int, float]                  # threads -> the reference gauge
    ungauged: int                                  # rows without a gauge

    def factor_of(self, key: tuple[str, int, int]) -> float:
        return self.reference_s[key[1]] / self.sweeps[key][0]

    def as_dict(self) -> dict:
        return {
            "reference_gauge_s": {t: g for t, g in sorted(self.reference_s.items())},
            "sweeps": [{"file": f, "threads": t, "pass": p, "gauge_s": g, "rows": n,
                        "factor": self.factor_of((f, t, p))}
                       for (f, t, p), (g, n) in sorted(self.sweeps.items())],
            "ungauged_rows": self.ungauged,
        }


def gauge_of(row) -> float | None:
    """The row's gauge in seconds; None where the column is absent or empty (read_sweep has
    checked that a filled one is a number)."""
    text = (row.fields.get("gauge_s") or "").strip()
    value = float(text) if text else 0.0
    return value if value > 0 else None


def speed_scaling(rows, enabled: bool = True) -> SpeedScaling:
    """The factor that puts each row at the calibration's reference host speed (see the module)."""
    keys, gauges = [], []
    for row in rows:
        keys.append((row.source.rsplit(":", 1)[0], row.threads, pass_number(row)))
        gauges.append(gauge_of(row))
    grouped: dict[tuple[str, int, int], list[float]] = {}
    for key, gauge in zip(keys, gauges):
        if gauge is not None:
            grouped.setdefault(key, []).append(gauge)
    sweeps = {key: (statistics.median(values), len(values)) for key, values in grouped.items()}
    by_threads: dict[int, list[float]] = {}
    for (_, threads, _), (median, _) in sweeps.items():
        by_threads.setdefault(threads, []).append(median)
    reference = {t: statistics.median(medians) for t, medians in by_threads.items()}
    factors = np.array([reference[k[1]] / sweeps[k][0] if enabled and g is not None else 1.0
                        for k, g in zip(keys, gauges)])
    ungauged = sum(g is None for g in gauges)
    return SpeedScaling(factors, sweeps if enabled else {}, reference if enabled else {}, ungauged)
