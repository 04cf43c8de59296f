"""The LLMs benchmarks/validate_llm.py times: public shapes with random weights, never downloaded.

MODELS maps a name to its config.json (benchmarks/llm_configs/, each naming the public config it
copies, or a config graphcal ships) and the parameter count its model card or paper publishes.
SMOKE holds two tiny configs of two families for a smoke run. A config is read with graphcal's
own reader (graphcal.load.llm.load_config), so the model timed and the model predicted are built
from one config object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "llm_configs"


@dataclass(frozen=True)
class Model:
    """A config file and the parameter count published for its model (None: not a public model)."""

    config_path: Path
    published_params: int | None
    published_as: str


def _shipped(name: str) -> Path:
    from graphcal.load.llm import shipped_configs

    return shipped_configs()[name]


MODELS: dict[str, Model] = {
    "smollm-135m": Model(CONFIGS / "smollm-135m.json", 135_000_000, "135M (SmolLM-135M model card)"),
    "pythia-160m": Model(CONFIGS / "pythia-160m.json", 162_322_944, "162,322,944 (Pythia paper, table 1)"),
    "pythia-410m": Model(CONFIGS / "pythia-410m.json", 405_334_016, "405,334,016 (Pythia paper, table 1)"),
    "qwen2.5-0.5b": Model(_shipped("qwen2.5-0.5b"), 494_032_768, "0.49B (Qwen2.5-0.5B model card)"),
    "tinyllama-1.1b": Model(CONFIGS / "tinyllama-1.1b.json", 1_100_048_384, "1.1B (TinyLlama-1.1B model card)"),
}

# NB: for a smoke run only; two families so that both builders run. Their embeddings dominate.
SMOKE_CONFIGS: dict[str, dict] = {
    "smoke-llama": {
        "model_type": "llama", "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 1024, "max_position_embeddings": 256,
        "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0,
    },
    "smoke-gpt-neox": {
        "model_type": "gpt_neox", "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 1024, "max_position_embeddings": 256, "rotary_pct": 0.25,
        "use_parallel_residual": True, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0,
    },
}

PARAMS_TOLERANCE = 0.01  # a config whose count is further than this from the published one is misread


def config_document(name: str) -> dict:
    """The config.json of a model of MODELS or SMOKE_CONFIGS, as a JSON object."""
    if name in SMOKE_CONFIGS:
        return {"graphcal": {"name": name, "source": "benchmarks/llm_models.py SMOKE_CONFIGS"},
                **SMOKE_CONFIGS[name]}
    return json.loads(MODELS[name].config_path.read_text())


def write_config(name: str, directory: Path) -> Path:
    """The model's config.json written into `directory` (what `graphcal predict --llm` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(config_document(name), indent=2) + "\n")
    return path


def import_transformers() -> None:
    """Make transformers importable where a torchvision without its C extension is installed."""
    from benchmarks.zoo import define_torchvision_schemas

    define_torchvision_schemas()


def load(path: Path):
    """The transformers config of a config.json, read as `graphcal predict --llm` reads it."""
    from graphcal.load.llm import load_config

    import_transformers()

    return load_config(str(path)).config


def build(config, dtype: str = "fp32", device: str = "cpu"):
    """The causal LM of `config` with random weights (seeded) in eval mode; on device "meta" it
    holds shapes only."""
    import torch

    import_transformers()
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype={"fp32": torch.float32, "bf16": torch.bfloat16}[dtype])
    return model.eval()


def count_params(model) -> int:
    """Parameters of a model, a tied embedding counted once (as model cards count them)."""
    return sum(p.numel() for p in model.parameters())


def params_check(name: str, params: int) -> tuple[bool, str]:
    """Whether a model's parameter count matches its published figure, and a line saying so."""
    model = MODELS.get(name)
    if model is None or model.published_params is None:
        return True, f"{name}: {params / 1e6:.1f}M parameters (not a public model)"
    error = params / model.published_params - 1
    ok = abs(error) <= PARAMS_TOLERANCE
    return ok, (f"{name}: {params:,} parameters, published {model.published_as}: {error:+.2%} "
                + ("ok" if ok else f"MISMATCH (over {PARAMS_TOLERANCE:.0%})"))
