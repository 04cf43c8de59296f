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
from graphcal.load.llm import LLMConfig, Phase, trace_phases
from graphcal.mapper import Target
from graphcal.predict.prediction import Prediction, predict_graph


@dataclass(frozen=True)
class Generation:
    """What one generate call runs: B sequences, a P-token prompt, T new tokens each."""

    prompt: int
    new_tokens: int
    batch: int = 1

    def __post_init__(self) -> None:
        for name, value, least in (("--prompt", self.prompt, 1), ("--new-tokens", self.new_tokens, 2),
                                   ("--batch", self.batch, 1)):
            if value < least:
                raise GraphcalError(f"{name} must be at least {least}, got {value}")

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
    g = generation
    phases = [Phase(g.batch, g.prompt, 0), Phase(g.batch, 1, g.prompt)]
    if g.last_cache != g.prompt:
        phases.append(Phase(g.batch, 1, g.last_cache))
    prefill, first, *last = (predict_graph(graph, target, strict)
                             for graph in trace_phases(llm, phases, target.precision))
    return LLMPrediction(llm.name, target, generation, prefill, first, last[0] if last else first)
