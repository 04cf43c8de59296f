"""Hostile LLM configs and inputs (`predict --llm`): each is refused before anything is built,
in one line of at most 300 characters, exit code 2, no traceback. Without the bounds, a config
of ten million layers ran for minutes and took gigabytes."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

LLAMA = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=64, intermediate_size=128,
             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
BERT = dict(model_type="bert", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            vocab_size=100)


def one_line_exit_2(result, message: str) -> str:
    assert result.code == 2, (result.code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 300, result.stderr[:2000]
    assert message in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_hidden_layers": 10_000_000}, "num_hidden_layers must be an integer from 1 to 1024, got 10000000"),
    ({"hidden_size": 10**9}, "hidden_size must be an integer from 1 to 65536"),
    ({"intermediate_size": 10**12}, "intermediate_size must be an integer from 1 to 1048576"),
    ({"vocab_size": 10**12}, "vocab_size must be an integer from 1 to 4194304"),
    ({"num_attention_heads": 0}, "num_attention_heads must be an integer from 1"),
    ({"num_key_value_heads": -2}, "num_key_value_heads must be an integer from 1"),
    ({"num_hidden_layers": "many"}, "num_hidden_layers must be an integer"),
    ({"hidden_size": 64.5}, "hidden_size must be an integer"),
    ({"num_hidden_layers": True}, "num_hidden_layers must be an integer"),
    ({"hidden_size": 100, "num_attention_heads": 3, "num_key_value_heads": 3},
     "hidden_size 100 is not a multiple of num_attention_heads 3"),
    ({"num_key_value_heads": 3}, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
    ({"architectures": ["BertModel"]}, "architecture BertModel is not a causal language model"),
    ({"model_type": "no-such-type"}, "has no model_type 'no-such-type'"),
    ({"model_type": "x" * 5000}, "has no model_type"),
])
def test_a_hostile_config_json_is_one_line(run_cli, tmp_path, changes, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA | changes))
    one_line_exit_2(run_cli("predict", path, "--llm", "--hw", "i7-12700k"), message)


def test_an_encoder_config_is_refused(run_cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(BERT))  # no architectures: the model_type tells
    one_line_exit_2(run_cli("predict", path, "--llm", "--hw", "i7-12700k"), "'bert' is not a decoder-only model")
    path.write_text(json.dumps(BERT | {"architectures": ["BertModel"]}))
    one_line_exit_2(run_cli("predict", path, "--llm", "--hw", "i7-12700k"), "BertModel is not a causal language")


def test_an_alias_of_a_field_is_bounded_too(run_cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "gpt2", "n_layer": 10_000_000, "n_embd": 64, "n_head": 4}))
    one_line_exit_2(run_cli("predict", path, "--llm", "--hw", "i7-12700k"), "n_layer must be an integer from 1 to 1024")


@pytest.mark.parametrize(("arg", "message"), [
    ("num_hidden_layers=10000000", "num_hidden_layers must be an integer from 1 to 1024"),
    ("hidden_size=100", "is not a multiple of the number of attention heads (32)"),  # transformers says so
    ("vocab_size=0", "vocab_size must be an integer from 1"),
])
def test_hostile_factory_args_are_one_line(run_cli, arg, message):
    result = run_cli("predict", "hf-config:LlamaConfig", "--llm", "--factory-arg", arg, "--hw", "i7-12700k")
    one_line_exit_2(result, message)


@pytest.mark.parametrize(("args", "message"), [
    (["--prompt", str(10**9)], "--prompt must be at most 1048576"),
    (["--new-tokens", str(10**9)], "--new-tokens must be at most 1048576"),
    (["--batch", str(10**7)], "--batch"),
    (["--batch", "1,2", "--prompt", str(10**9)], "--prompt must be at most"),
])
def test_hostile_generation_sizes_are_one_line(run_cli, args, message):
    one_line_exit_2(run_cli("predict", "qwen2.5-0.5b", "--llm", "--hw", "i7-12700k", *args), message)
