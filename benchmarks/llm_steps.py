"""One LLM forward pass as a module, for `graphcal compare FACTORY --measure` (per-op diagnosis
of what `predict --llm` predicts): benchmarks/validate_llm.py's models (benchmarks/llm_models.py)
with random weights, fp32.

    graphcal compare benchmarks.llm_steps:prefill --factory-arg name=tinyllama-1.1b \\
        --input-shape 1x128:int64 --hw host-fit.yaml --measure
    graphcal compare benchmarks.llm_steps:decode --factory-arg name=tinyllama-1.1b --factory-arg cached=128 \\
        --input-shape 1x1:int64 --hw host-fit.yaml --measure

`decode` holds a cache of `cached` random keys and values per layer as buffers and runs one
step on a fresh copy of it (DynamicCache appends in place of a copy the caller would make).
"""

from __future__ import annotations

import torch

from benchmarks.llm_models import MODELS, build, load


class Prefill(torch.nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.model = build(load(MODELS[name].config_path))

    def forward(self, ids):
        from transformers import DynamicCache

        return self.model(input_ids=ids, cache=DynamicCache(config=self.model.config), use_cache=True,
                          logits_to_keep=1).logits


def prefill(name: str = "tinyllama-1.1b") -> torch.nn.Module:
    return Prefill(name)


class Decode(torch.nn.Module):
    def __init__(self, name: str, cached: int) -> None:
        super().__init__()
        self.model = build(load(MODELS[name].config_path))
        config = self.model.config
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (1, heads, cached, head_dim)
        for layer in range(config.num_hidden_layers):
            self.register_buffer(f"keys{layer}", torch.randn(shape))
            self.register_buffer(f"values{layer}", torch.randn(shape))

    def forward(self, ids):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for layer, state in enumerate(cache.layers):
            state.lazy_initialization(getattr(self, f"keys{layer}"), getattr(self, f"values{layer}"))
            state.keys, state.values = getattr(self, f"keys{layer}"), getattr(self, f"values{layer}")
        return self.model(input_ids=ids, cache=cache, use_cache=True).logits


def decode(name: str = "tinyllama-1.1b", cached: int = 128) -> torch.nn.Module:
    return Decode(name, cached)
