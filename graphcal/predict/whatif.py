"""What-ifs: one model predicted at every combination of batch, thread count and precision.

The model is loaded once per (batch, precision) (graphcal.load.batch rescales the batch) and
mapped once per thread count. Throughput is items per second: batch / latency. With a latency
budget, the combination of the largest throughput within it is the answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import DEFAULT_HEAP
from graphcal.hardware.profile import HardwareProfile
from graphcal.load.graph import OpGraph
from graphcal.load.llm import LLMConfig
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict.llm import Generation, LLMPrediction, predict_traced, trace_generation
from graphcal.predict.prediction import Prediction, predict_graph

MAX_VALUES = 64         # values in one list
MAX_COMBINATIONS = 512  # batch x threads x dtype


@dataclass(frozen=True)
class Grid:
    """The values to combine; a batch of None is the model's own, a thread count of None the
    profile's physical cores."""

    batches: tuple[int | None, ...] = (None,)
    threads: tuple[int | None, ...] = (None,)
    dtypes: tuple[str, ...] = ("fp32",)

    def __post_init__(self) -> None:
        size = len(self.batches) * len(self.threads) * len(self.dtypes)
        if size > MAX_COMBINATIONS:
            raise GraphcalError(f"{size} what-if combinations; at most {MAX_COMBINATIONS} (batch x threads x dtype)")

    @property
    def size(self) -> int:
        return len(self.batches) * len(self.threads) * len(self.dtypes)


@dataclass(frozen=True)
class WhatIf:
    batch: int
    prediction: Prediction

    @property
    def throughput_per_s(self) -> float:
        """Items per second: the batch over the latency."""
        latency = self.prediction.latency_s
        return self.batch / latency if latency > 0 else float("inf")


def parse_list(text: str | None, option: str, parse: Callable[[str], object]) -> tuple:
    """A comma list (`1,2,4`) of distinct values, in the order given; None: an empty tuple."""
    if text is None:
        return ()
    items = [item.strip() for item in str(text).split(",")]
    if not all(items) or len(items) > MAX_VALUES:
        raise GraphcalError(
            f"{option} {text[:60]!r}: give one value or a comma list of at most {MAX_VALUES}, e.g. 1,2,4 "
            "(see --help)"
        )
    values = tuple(parse(item) for item in items)
    if len(set(values)) != len(values):
        raise GraphcalError(f"{option} {text[:60]!r}: a value is given twice (see --help)")
    return values


def positive_int(option: str, most: int) -> Callable[[str], int]:
    def parse(item: str) -> int:
        if not item.isdigit() or not 1 <= int(item) <= most:
            raise GraphcalError(f"{option} {item[:30]!r}: must be an integer from 1 to {most} (see --help)")
        return int(item)

    return parse


def predict_whatifs(
    load: Callable[[int | None, Precision], tuple[OpGraph, int]],
    profile: HardwareProfile,
    grid: Grid,
    strict: bool = False,
    heap: str = DEFAULT_HEAP,
) -> list[WhatIf]:
    """Every combination of `grid`, ordered by dtype, threads, batch as given, from the `heap`
    state (Target.heap). `load(batch, precision)` returns the graph and the batch it holds (see
    graphcal.load.batch)."""
    precisions = [Precision.parse(d) for d in grid.dtypes]
    targets = {(p, t): Target(profile, p, t or profile.physical_cores, heap=heap)
               for p in precisions for t in grid.threads}
    graphs: dict[tuple, tuple[OpGraph, int]] = {}
    results = []
    for precision, threads, batch in itertools.product(precisions, grid.threads, grid.batches):
        if (batch, precision) not in graphs:
            graphs[(batch, precision)] = load(batch, precision)
        graph, held = graphs[(batch, precision)]
        results.append(WhatIf(held, predict_graph(graph, targets[(precision, threads)], strict)))
    return results


def best_within(whatifs: Sequence[WhatIf], max_latency_s: float) -> WhatIf | None:
    """The combination of the largest throughput whose latency is within the budget (the lower
    latency among equals); None when none fits."""
    fitting = [w for w in whatifs if w.prediction.latency_s <= max_latency_s]
    if not fitting:
        return None
    return max(fitting, key=lambda w: (w.throughput_per_s, -w.prediction.latency_s))


def predict_llm_whatifs(llm: LLMConfig, profile: HardwareProfile, grid: Grid, prompt: int, new_tokens: int,
                        strict: bool = False, heap: str = DEFAULT_HEAP) -> list[LLMPrediction]:
    """An LLM's generation at every combination of `grid` (batch: sequences generated together),
    traced once per (batch, precision), from the `heap` state (Target.heap)."""
    precisions = [Precision.parse(d) for d in grid.dtypes]
    generations = {b: Generation(prompt, new_tokens, b or 1) for b in grid.batches}
    targets = {(p, t): Target(profile, p, t or profile.physical_cores, heap=heap)
               for p in precisions for t in grid.threads}
    traced: dict[tuple, list[OpGraph]] = {}
    results = []
    for precision, threads, batch in itertools.product(precisions, grid.threads, grid.batches):
        if (batch, precision) not in traced:
            traced[(batch, precision)] = trace_generation(llm, generations[batch], precision)
        target = targets[(precision, threads)]
        results.append(predict_traced(llm, target, generations[batch], traced[(batch, precision)], strict))
    return results
