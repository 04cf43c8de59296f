"""An LLM's generation, predicted: one prefill, then a decode step per new token.

transformers' generate with max_new_tokens=T runs a prefill of the P-token prompt, which yields
the first token (time to first token), then T - 1 decode steps with the cache at lengths P,
P + 1, ..., P + T - 2. A decode step's work grows linearly with the cache (attention and the
cache's append read it whole), so the steps' sum is taken as (T - 1) x the mean of the first
and the last step, both predicted from their own traced graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph
from graphcal.load.llm import LLMConfig, Phase, trace_phases
from graphcal.mapper import Target
from graphcal.precision import Precision
from graphcal.predict.prediction import Prediction, predict_graph

MAX_TOKENS = 1 << 20  # prompt and new tokens per sequence: a million, past any public context length
MAX_BATCH = 1 << 16


@dataclass(frozen=True)
class Generation:
    """What one generate call runs: B sequences, a P-token prompt, T new tokens each."""

    prompt: int
    new_tokens: int
    batch: int = 1

    def __post_init__(self) -> None:
        for name, value, least, most in (("--prompt", self.prompt, 1, MAX_TOKENS),
                                         ("--new-tokens", self.new_tokens, 2, MAX_TOKENS),
                                         ("--batch", self.batch, 1, MAX_BATCH)):
            if value < least:
                raise GraphcalError(f"{name} must be at least {least}, got {value}")
            if value > most:
                raise GraphcalError(f"{name} must be at most {most}, got {value}")

    @property
    def decode_steps(self) -> int:
        return self.new_tokens - 1

    @property
    def last_cache(self) -> int:
        return self.prompt + self.new_tokens - 2


@dataclass(frozen=True)
class LLMPrediction:
    model: str
    target: Target
    generation: Generation
    prefill: Prediction
    decode_first: Prediction
    decode_last: Prediction

    @property
    def ttft_s(self) -> float:
        return self.prefill.latency_s

    @property
    def decode_s(self) -> float:
        """All decode steps: (T - 1) x the mean of the first and the last step."""
        return self.generation.decode_steps * (self.decode_first.latency_s + self.decode_last.latency_s) / 2

    @property
    def tokens_per_s(self) -> float:
        """Tokens the decode steps generate per second, over the batch: B x (T - 1) / decode time."""
        return self.generation.batch * self.generation.decode_steps / self.decode_s

    @property
    def total_s(self) -> float:
        return self.ttft_s + self.decode_s

    def to_dict(self) -> dict[str, Any]:
        """What `graphcal predict MODEL --llm --json` prints."""
        from graphcal.predict.report import llm_json

        return llm_json(self)


def predict_llm(llm: LLMConfig, target: Target, generation: Generation, strict: bool = False) -> LLMPrediction:
    return predict_traced(llm, target, generation, trace_generation(llm, generation, target.precision), strict)


def trace_generation(llm: LLMConfig, generation: Generation, precision: Precision) -> list[OpGraph]:
    """The graphs of the prefill, the first decode step and (when it differs) the last."""
    g = generation
    phases = [Phase(g.batch, g.prompt, 0), Phase(g.batch, 1, g.prompt)]
    if g.last_cache != g.prompt:
        phases.append(Phase(g.batch, 1, g.last_cache))
    return trace_phases(llm, phases, precision)


def predict_traced(llm: LLMConfig, target: Target, generation: Generation, graphs: list[OpGraph],
                   strict: bool = False) -> LLMPrediction:
    """The generation predicted from its traced graphs (trace_generation) on `target`."""
    prefill, first, *last = (predict_graph(graph, target, strict) for graph in graphs)
    return LLMPrediction(llm.name, target, generation, prefill, first, last[0] if last else first)
