"""LLMs from a config (`predict --llm`): the phases' FLOPs and bytes against hand-computed values
for one small Llama config, the layer shortcut against a whole trace, the generation's sums,
state bytes live in the decode prediction, the shipped configs' sizes and the CLI's contract."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("transformers")

from graphcal.cost import cost_graph  # noqa: E402
from graphcal.cost.allocations import call_events  # noqa: E402
from graphcal.load import llm as llm_module  # noqa: E402
from graphcal.load.llm import Phase, load_config, trace_phases  # noqa: E402
from graphcal.precision import Precision  # noqa: E402
from tests.helpers import base_profile_data  # noqa: E402

# hidden 64, MLP 128, 3 layers (one more than are traced), 4 query heads and 2 key/value heads
# of 16, a vocabulary of 100; fp32
H, MLP, LAYERS, HEADS, KV, D, V = 64, 128, 3, 4, 2, 16, 100
FIELDS = dict(hidden_size=H, intermediate_size=MLP, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
              num_key_value_heads=KV, head_dim=D, vocab_size=V, tie_word_embeddings=False)
ARGS = [f"--factory-arg={k}={v}" for k, v in FIELDS.items()]
P, CACHE = 8, 8

LAYER_WEIGHTS = H * HEADS * D + 2 * H * KV * D + HEADS * D * H + 3 * H * MLP  # q, k, v, o; gate, up, down
CACHE_BYTES = 2 * LAYERS * KV * CACHE * D * 4  # keys and values of every layer, batch 1


@pytest.fixture(scope="module")
def small():
    return load_config("hf-config:LlamaConfig", FIELDS)


@pytest.fixture(scope="module")
def phases(small):
    prefill, decode = trace_phases(small, [Phase(1, P, 0), Phase(1, 1, CACHE)], Precision.FP32)
    return cost_graph(prefill), cost_graph(decode), prefill, decode


def family(costed, name):
    return [cost for _, cost in costed.ops if cost.family == name]


def test_linear_flops_and_weights_by_hand(phases):
    prefill, decode, _, _ = phases
    # every layer's projections on P rows; the LM head on the last position only (logits_to_keep=1)
    assert sum(c.flops for c in family(prefill, "linear")) == LAYERS * 2 * P * LAYER_WEIGHTS + 2 * H * V
    assert sum(c.flops for c in family(decode, "linear")) == LAYERS * 2 * LAYER_WEIGHTS + 2 * H * V
    # a decode step reads every projection weight once, as state
    weights = (LAYERS * LAYER_WEIGHTS + H * V) * 4
    assert sum(c.state_bytes for c in family(decode, "linear")) == weights
    # each projection's input and output row: q, k and v, o, gate and up, down; then the head
    per_layer = (H + HEADS * D) + 2 * (H + KV * D) + (HEADS * D + H) + 2 * (H + MLP) + (MLP + H)
    activations = 4 * (LAYERS * per_layer + H + V)
    assert sum(c.bytes for c in family(decode, "linear")) == weights + activations


def test_attention_and_the_cache_by_hand(phases):
    prefill, decode, prefill_graph, decode_graph = phases
    # 2 x heads x L x S x (D + Dv) per layer: P x P in prefill, 1 x (cache + 1) in decode
    assert sum(c.flops for c in family(prefill, "attention")) == LAYERS * 2 * HEADS * P * P * 2 * D
    assert sum(c.flops for c in family(decode, "attention")) == LAYERS * 2 * HEADS * 1 * (CACHE + 1) * 2 * D
    # the append reads the cache (state) and the new token's keys or values, and writes both
    appends = [c for c in family(decode, "memory") if c.state_bytes]
    assert len(appends) == 2 * LAYERS
    assert sum(c.state_bytes for c in appends) == CACHE_BYTES
    assert sum(c.bytes_written for c in appends) == 2 * LAYERS * KV * (CACHE + 1) * D * 4
    # the decode program's state is the prefill's (weights, buffers) plus the cache
    assert decode_graph.persistent_bytes - prefill_graph.persistent_bytes == CACHE_BYTES
    parameters = LAYERS * (LAYER_WEIGHTS + 2 * H) + 2 * H * V + H  # + norms, embedding, head, final norm
    assert parameters * 4 <= prefill_graph.persistent_bytes < parameters * 4 + 1024  # + rotary buffers


def test_the_layer_shortcut_matches_a_whole_trace(small, phases, monkeypatch):
    monkeypatch.setattr(llm_module, "uniform_layers", lambda config: False)
    whole = trace_phases(small, [Phase(1, P, 0), Phase(1, 1, CACHE)], Precision.FP32)
    def summary(costed):
        return sorted((n.target, c.flops, c.bytes, c.state_bytes) for n, c in costed.ops)

    for short, full in zip(phases[:2], whole):
        assert summary(short) == summary(cost_graph(full))
    assert [g.persistent_bytes for g in whole] == [phases[2].persistent_bytes, phases[3].persistent_bytes]
    # the copied layer reads its own ops and the layer before it: the call allocates and frees
    # as the whole trace does, tensor for tensor (the ops' indices aside: free ops sit elsewhere)
    def sequence(graph):
        return [(type(e).__name__, e.key, getattr(e, "nbytes", 0)) for e in call_events(graph, {})]

    for short, full in zip(phases[2:], whole):
        assert sequence(short) == sequence(full)


def test_the_generation_sums_its_steps(small, write_profile):
    from graphcal.hardware.profile import load_profile
    from graphcal.mapper import Target
    from graphcal.predict.llm import Generation, predict_llm

    target = Target(load_profile(str(write_profile("p", base_profile_data()))), Precision.FP32, 4)
    p = predict_llm(small, target, Generation(prompt=P, new_tokens=5, batch=2))
    assert p.decode_first.model.endswith("L8") and p.decode_last.model.endswith(f"L{P + 5 - 2}")
    assert p.decode_last.latency_s > p.decode_first.latency_s
    assert p.decode_s == pytest.approx(4 * (p.decode_first.latency_s + p.decode_last.latency_s) / 2)
    assert p.tokens_per_s == pytest.approx(2 * 4 / p.decode_s)
    assert p.total_s == pytest.approx(p.ttft_s + p.decode_s)


def test_state_is_read_at_the_tier_of_the_whole_model(run_cli, write_profile):
    """caches.l3_bytes decides a decode step's weight reads by the model's state, not the op's
    bytes: a last-level cache larger than every op but smaller than the model slows decode."""
    def decode_s(l3_bytes):
        data = base_profile_data()
        data["caches"]["l3_bytes"] = l3_bytes
        data["memory"]["bandwidth_bytes_per_s"] = 10_000_000_000  # DRAM 10x slower than the cache
        data["runtime"].update(per_op_overhead_s=1e-9, matrix_op_overhead_s=1e-9)
        path = write_profile(f"l3-{l3_bytes}", data)
        result = run_cli("predict", "hf-config:LlamaConfig", "--llm", *ARGS, "--hw", str(path),
                         "--prompt", "8", "--new-tokens", "2", "--json")
        assert result.code == 0, result.stderr
        return result.json()["decode_first_s"]

    largest_op = 4 * (H * V + H + V)  # the LM head's weight and activations
    model = 4 * (LAYERS * (LAYER_WEIGHTS + 2 * H) + 2 * H * V + H) + CACHE_BYTES
    assert decode_s(2 * largest_op) > 3 * decode_s(4 * model)


def test_cli_json_contract(run_cli):
    result = run_cli("predict", "hf-config:LlamaConfig", "--llm", *ARGS, "--hw", "i7-12700k",
                     "--prompt", "16", "--new-tokens", "4", "--batch", "2", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert {"model", "hardware", "dtype", "threads", "prompt", "new_tokens", "batch", "ttft_s", "decode_first_s",
            "decode_last_s", "tokens_per_s", "total_s", "prefill", "decode"} <= set(data)
    assert (data["prompt"], data["new_tokens"], data["batch"], data["dtype"]) == (16, 4, 2, "fp32")
    for phase in ("prefill", "decode"):
        assert {"latency_s", "flops", "bytes", "ops", "unsupported_ops"} <= set(data[phase])
        assert data[phase]["unsupported_ops"] == {}
    assert data["ttft_s"] == pytest.approx(data["prefill"]["latency_s"])
    assert data["decode_first_s"] == pytest.approx(data["decode"]["latency_s"])
    table = run_cli("predict", "hf-config:LlamaConfig", "--llm", *ARGS, "--hw", "i7-12700k", "--top", "3")
    assert table.code == 0 and "time to first token" in table.stdout and "tokens per second" in table.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nope-7b", "--llm"], "not a config.json file, hf-config:CLASS or a shipped config"),
    (["hf-config:NoSuchConfig", "--llm"], "no config class"),
    (["llama-3-8b", "--llm", "--input-shape", "1x8"], "--input-shape: not with --llm"),
    (["llama-3-8b", "--llm", "--factory-arg", "hidden_size=8"], "--factory-arg sets the fields"),
    (["llama-3-8b", "--llm", "--new-tokens", "1"], "--new-tokens"),
])
def test_bad_llm_input_is_one_line(run_cli, args, message):
    result = run_cli("predict", *args, "--hw", "i7-12700k")
    assert result.code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_config_json_without_model_type_is_refused(run_cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 64}))
    result = run_cli("predict", str(path), "--llm", "--hw", "i7-12700k")
    assert result.code == 2 and "no model_type" in result.stderr


def test_without_transformers_it_says_how_to_install(monkeypatch):
    from graphcal.errors import GraphcalError

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(GraphcalError, match="pip install"):
        load_config("llama-3-8b")


@pytest.mark.parametrize(("name", "parameters"), [
    ("llama-3-8b", 8_030_261_248),
    ("mistral-7b", 7_241_732_096),
    ("qwen2.5-0.5b", 494_032_768),
    ("qwen2.5-7b", 7_615_616_512),
    ("phi-3-mini", 3_821_079_552),
])
def test_shipped_configs_have_the_public_models_sizes(name, parameters):
    """The parameter counts their model cards give, from the traced state (two layers traced)."""
    (graph,) = trace_phases(load_config(name), [Phase(1, 1, 0)], Precision.BF16)
    assert graph.persistent_bytes / 2 == pytest.approx(parameters, rel=1e-4)


def test_bf16_halves_what_a_decode_step_reads(small, write_profile):
    """--dtype bf16 builds the model in bf16: a decode step reads half the bytes of state, and a
    profile without bf16 coefficients refuses it rather than fall back to fp32."""
    from graphcal.errors import GraphcalError
    from graphcal.hardware.profile import load_profile
    from graphcal.mapper import Target
    from graphcal.predict.llm import Generation, predict_llm

    data = base_profile_data()
    fp32_only = load_profile(str(write_profile("fp32", data)))
    data["peak_flops_per_s"]["bf16"] = 2 * data["peak_flops_per_s"]["fp32"]
    data["coefficients"]["bf16"] = dict(data["coefficients"]["fp32"])
    both = load_profile(str(write_profile("both", data)))
    generation = Generation(prompt=P, new_tokens=2)
    fp32 = predict_llm(small, Target(both, Precision.FP32, 4), generation)
    bf16 = predict_llm(small, Target(both, Precision.BF16, 4), generation)
    # (the rotary embedding keeps its few fp32 buffers)
    assert bf16.decode_first.state_bytes == pytest.approx(fp32.decode_first.state_bytes / 2, rel=1e-3)
    assert bf16.decode_first.flops == fp32.decode_first.flops
    with pytest.raises(GraphcalError, match="bf16"):
        predict_llm(small, Target(fp32_only, Precision.BF16, 4), generation)
