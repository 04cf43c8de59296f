"""A latency budget for CI: `--max-latency 20ms` parsed, and a prediction checked against it."""

from __future__ import annotations

import math
import re

from graphcal.errors import CheckFailed, GraphcalError
from graphcal.predict.prediction import Prediction

UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(s|ms|us|µs)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds from a number with a unit, `20ms`, `1.5 s`, `250us`, or a bare number of seconds
    (`0.005`)."""
    match = _DURATION.match(text)
    if match is None:
        raise GraphcalError(f"--max-latency {text!r}: give seconds (0.005) or a number with a unit, s, ms or us "
                            "(e.g. 20ms)")
    seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise GraphcalError(f"--max-latency {text!r}: must be a positive duration")
    return seconds


def within_budget(p: Prediction, max_latency_s: float) -> bool:
    return p.latency_s <= max_latency_s


def check_budget(p: Prediction, max_latency_s: float) -> None:
    """Raise CheckFailed (exit code 1) with one line naming the figure and the budget when the
    prediction exceeds it."""
    from graphcal.predict.report import human_time

    if within_budget(p, max_latency_s):
        return
    gap = f"; {sum(p.unsupported.values())} op(s) not costed, so the figure is a lower bound" if p.unsupported else ""
    raise CheckFailed(
        f"{p.model} on {p.target.profile.name} ({p.target.precision.value}, {p.target.threads} threads): "
        f"predicted {human_time(p.latency_s)} exceeds the budget --max-latency {human_time(max_latency_s)}{gap}"
    )
