"""An LLM config checked before anything is built from it.

A config is data from the user: a config.json or --factory-arg fields. Each shape field is a
positive integer under a stated limit (well above the largest public models: Llama 3.1 405B has
126 layers, width 16384, 128 heads, a vocabulary of 128256), heads divide the width and
key/value heads divide the heads, and the architecture is a causal language model. Every
refusal is one line naming the field and the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphcal.errors import GraphcalError

# Upper limits of the shape fields, by transformers' canonical names.
LIMITS = {
    "num_hidden_layers": 1024,
    "hidden_size": 65536,
    "intermediate_size": 1 << 20,
    "num_attention_heads": 1024,
    "num_key_value_heads": 1024,
    "head_dim": 4096,
    "vocab_size": 1 << 22,
}
# Names some configs give the same fields in their config.json (transformers maps them).
ALIASES = {
    "n_layer": "num_hidden_layers", "n_layers": "num_hidden_layers", "num_layers": "num_hidden_layers",
    "n_embd": "hidden_size", "d_model": "hidden_size", "n_head": "num_attention_heads",
    "n_heads": "num_attention_heads", "n_inner": "intermediate_size", "ffn_dim": "intermediate_size",
}
EXAMPLE_TYPES = "llama, mistral, qwen2, phi3"


def check_fields(values: Mapping[str, Any], label: str) -> None:
    """Each shape field present in `values` (a config.json's fields, a config's attributes) is
    null or an integer in [1, its limit]."""
    for key, value in values.items():
        field = ALIASES.get(key, key)
        if field not in LIMITS or value is None:
            continue
        limit = LIMITS[field]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise GraphcalError(f"{label}: {key} must be an integer from 1 to {limit}, got {shown}")
    fields = {ALIASES.get(key, key): value for key, value in values.items()}
    check_heads(fields.get("hidden_size"), fields.get("num_attention_heads"), fields.get("num_key_value_heads"), label)


def check_heads(hidden: int | None, heads: int | None, kv_heads: int | None, label: str) -> None:
    """Heads divide the hidden size and key/value heads divide the heads (where given)."""
    if hidden is not None and heads is not None and hidden % heads:
        raise GraphcalError(f"{label}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    if heads is not None and kv_heads is not None and heads % kv_heads:
        raise GraphcalError(
            f"{label}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
        )


def check_model_type(model_type: str, transformers: Any, label: str) -> None:
    """A model_type transformers knows, named in one short line when it does not."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if model_type not in CONFIG_MAPPING_NAMES:
        shown = model_type if len(model_type) <= 40 else model_type[:40] + "..."
        raise GraphcalError(
            f"{label}: transformers {transformers.__version__} has no model_type {shown!r} "
            f"(--llm covers decoder-only types such as {EXAMPLE_TYPES})"
        )


def check_config(config: Any, label: str) -> str:
    """Check a built transformers config; return the name of its causal-LM class."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    check_fields({name: getattr(config, name, None) for name in LIMITS}, label)
    model_type = getattr(config, "model_type", None)
    class_name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    encoder = getattr(config, "is_encoder_decoder", False) or (
        model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False))
    architectures = [str(a) for a in getattr(config, "architectures", None) or []]
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if architectures and not any(a in causal or a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise GraphcalError(
            f"{label}: architecture {', '.join(architectures)[:80]} is not a causal language model; --llm predicts "
            f"decoder-only generation (e.g. LlamaForCausalLM)"
        )
    if class_name is None or encoder:
        raise GraphcalError(
            f"{label}: {model_type!r} is not a decoder-only model transformers can build for causal language "
            f"modelling (--llm covers models such as {EXAMPLE_TYPES})"
        )
    hidden, heads = getattr(config, "hidden_size", None), getattr(config, "num_attention_heads", None)
    if hidden is None or heads is None:
        raise GraphcalError(f"{label}: the config names no hidden_size or num_attention_heads")
    check_heads(hidden, heads, getattr(config, "num_key_value_heads", None), label)
    return class_name


def build_error(exc: BaseException) -> str:
    """The informative line of an error transformers raised building a config (its validators
    wrap the cause)."""
    cause = exc.__cause__ or exc
    text = str(cause).strip()
    return text.splitlines()[0][:200] if text else type(cause).__name__
