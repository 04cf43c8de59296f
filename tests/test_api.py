"""The Python API (graphcal.predict, predict_llm, load_profile): the same answers as the CLI's
JSON, for every MODEL form and for modules on the meta device; arguments refused in one line
before anything is built."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import graphcal
from graphcal.errors import GraphcalError
from tests.helpers import REPO

HW = "i7-12700k"
SPEC = "mlp:32:784x512x10"
FACTORY = "tests.test_api:small_cnn"


def small_cnn() -> torch.nn.Module:
    """conv, batch norm, relu, pool, linear: a little of every family, with module paths."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10),
    ).eval()


def same_json(data: dict) -> dict:
    """As the CLI prints it: through json (tuples become lists)."""
    return json.loads(json.dumps(data))


@pytest.fixture(scope="module")
def pt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "cnn.pt2"
    program = torch.export.export(small_cnn(), (torch.zeros(1, 3, 16, 16),))
    torch.export.save(program, str(path))
    return path


def test_the_public_surface():
    assert set(graphcal.__all__) == {"CheckFailed", "GraphcalError", "__version__", "load_profile", "measure",
                                     "predict", "predict_llm"}
    assert all(hasattr(graphcal, name) for name in graphcal.__all__)


def test_import_graphcal_does_not_import_torch():
    code = "import sys, graphcal; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_a_spec_equals_the_cli_json(run_cli):
    p = graphcal.predict(SPEC, hw=HW)
    cli = run_cli("predict", SPEC, "--hw", HW, "--json")
    assert cli.code == 0, cli.stderr
    assert same_json(p.to_dict()) == cli.json()
    # 784x512 + 512x10 linears at batch 32: 2*32*(784*512 + 512*10) FLOPs, and a relu
    assert sum(op.flops for op in p.ops if op.family == "linear") == 2 * 32 * (784 * 512 + 512 * 10)


def test_a_module_equals_the_cli_json_of_its_factory(run_cli):
    p = graphcal.predict(small_cnn(), torch.zeros(1, 3, 16, 16), hw=HW, threads=2, name=FACTORY)
    cli = run_cli("predict", FACTORY, "--input-shape", "1x3x16x16", "--hw", HW, "--threads", "2", "--json")
    assert cli.code == 0, cli.stderr
    assert same_json(p.to_dict()) == cli.json()
    assert p.model == FACTORY and graphcal.predict(small_cnn(), torch.zeros(1, 3, 16, 16), hw=HW).model == "Sequential"


def test_a_pt2_file_and_its_program_equal_the_cli_json(run_cli, pt2):
    p = graphcal.predict(pt2, hw=HW, dtype="fp32")
    cli = run_cli("predict", pt2, "--hw", HW, "--json")
    assert cli.code == 0, cli.stderr
    assert same_json(p.to_dict()) == cli.json()
    program = torch.export.load(str(pt2))
    assert same_json(graphcal.predict(program, hw=HW, name=pt2.name).to_dict()) == cli.json()


def test_a_module_on_the_meta_device_predicts_what_it_does_on_the_cpu():
    cpu = graphcal.predict(small_cnn(), torch.zeros(1, 3, 16, 16), hw=HW)
    with torch.device("meta"):
        meta_module = small_cnn()
    assert next(meta_module.parameters()).is_meta
    meta = graphcal.predict(meta_module, torch.empty(1, 3, 16, 16, device="meta"), hw=HW)
    assert meta.to_dict() == cpu.to_dict()
    assert [op.module for op in meta.ops] == [op.module for op in cpu.ops]


def test_records_and_breakdowns_sum_to_the_latency():
    p = graphcal.predict(small_cnn(), torch.zeros(1, 3, 16, 16), hw=HW)
    op = p.ops[0]
    assert (op.name, op.target, op.family, op.time_s, op.bound) == (
        op.node.name, op.node.target, op.cost.family, op.time.total_s, op.time.bound)
    with pytest.raises(AttributeError):
        op.name = "x"  # frozen
    assert {o.module for o in p.ops} >= {"0", "1", "3.0", "6"}  # conv, batch norm, the inner conv, linear
    for groups in (p.by_family(), p.by_module(), p.by_module(1)):
        assert sum(g.time_s for g in groups.values()) == pytest.approx(p.latency_s, rel=1e-12)
        assert sum(g.ops for g in groups.values()) == len(p.ops)
    assert "3" in p.by_module(1) and "3.0" in p.by_module()
    assert list(p.by_family().values())[0].time_s == max(g.time_s for g in p.by_family().values())


def test_load_profile_takes_a_name_or_a_path():
    by_name = graphcal.load_profile(HW)
    by_path = graphcal.load_profile(REPO / "graphcal" / "data" / "hardware" / f"{HW}.yaml")
    assert by_name.name == by_path.name == HW
    assert graphcal.predict(SPEC, hw=by_name).latency_s == graphcal.predict(SPEC, hw=HW).latency_s


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(threads=0), "threads must be at least 1, got 0"),
    (dict(threads=1.5), "threads must be a whole number"),
    (dict(threads=True), "threads must be a whole number"),
    (dict(dtype="fp8"), "unknown precision 'fp8'"),
    (dict(dtype=torch.int8), "unknown precision"),
    (dict(hw="no-such-cpu"), "no-such-cpu"),
    (dict(hw=3), "hw: give a profile name"),
    (dict(name=""), "name must be a non-empty string"),
])
def test_bad_arguments_are_refused_before_anything_is_built(kwargs, message, monkeypatch):
    import graphcal.load.resolve as resolve

    monkeypatch.setattr(resolve, "load_graph", lambda *a, **k: pytest.fail("built before refusing"))
    with pytest.raises(GraphcalError, match=message) as caught:
        graphcal.predict(SPEC, **{"hw": HW, **kwargs})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("model", "inputs", "message"), [
    (42, None, "model: give an nn.Module, an ExportedProgram, a model file or a workload spec"),
    ("mlp:8:8x8", torch.zeros(8, 8), "builds its own inputs"),
    ("no/such/model.pt2", None, "no such file"),
    (torch.nn.Linear(4, 4), None, "needs example_inputs"),
    (torch.nn.Linear(4, 4), [1, 2], "example_inputs: give a tensor or a tuple of tensors"),
])
def test_bad_models_are_one_line_errors(model, inputs, message):
    with pytest.raises(GraphcalError, match=message) as caught:
        graphcal.predict(model, inputs, hw=HW)
    assert "\n" not in str(caught.value)


def test_a_module_in_another_precision_is_an_error_not_a_cast():
    bf16 = torch.nn.Linear(4, 4).to(torch.bfloat16)
    with pytest.raises(GraphcalError, match="computes in bfloat16 but --dtype is fp32"):
        graphcal.predict(bf16, torch.zeros(2, 4, dtype=torch.bfloat16), hw=HW, dtype=torch.float32)


def test_a_cli_error_is_the_same_line_from_python(run_cli):
    cli = run_cli("predict", "mlp:8:8x8", "--hw", HW, "--dtype", "fp8")
    with pytest.raises(GraphcalError) as caught:
        graphcal.predict("mlp:8:8x8", hw=HW, dtype="fp8")
    assert cli.code == 2 and cli.stderr.strip() == f"graphcal: error: {caught.value}"


# --- LLMs -----------------------------------------------------------------------------------------

LLAMA = dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, vocab_size=100, tie_word_embeddings=False)


@pytest.fixture
def llama_folder(tmp_path):
    from benchmarks.zoo import define_torchvision_schemas

    define_torchvision_schemas()  # transformers imports torchvision when it is installed
    pytest.importorskip("transformers")
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA))
    return folder


def test_predict_llm_equals_the_cli_json_and_names_the_folder(run_cli, llama_folder):
    config = llama_folder / "config.json"
    p = graphcal.predict_llm(config, prompt=16, new_tokens=4, batch=2, hw=HW, threads=2)
    cli = run_cli("predict", config, "--llm", "--prompt", "16", "--new-tokens", "4", "--batch", "2", "--hw", HW,
                  "--threads", "2", "--json")
    assert cli.code == 0, cli.stderr
    assert same_json(p.to_dict()) == cli.json()
    assert cli.json()["model"] == "my-model" and cli.json()["prefill"]["model"].startswith("my-model ")
    table = run_cli("predict", config, "--llm", "--prompt", "16", "--new-tokens", "4", "--hw", HW)
    assert "my-model on" in table.stdout and "config.json" not in table.stdout


def test_a_config_file_of_another_name_keeps_its_name(llama_folder):
    from graphcal.load.llm import config_name, load_config

    other = llama_folder / "llama-tiny.json"
    other.write_text(json.dumps(LLAMA))
    assert load_config(str(other)).name == "llama-tiny.json"
    assert load_config("qwen2.5-0.5b").name == "qwen2.5-0.5b"
    assert config_name(llama_folder / "config.json") == "my-model"


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(prompt=0), "prompt must be at least 1"),
    (dict(new_tokens=1), "new_tokens must be at least 2"),
    (dict(batch="2"), "batch must be a whole number"),
    (dict(threads=-1), "threads must be at least 1"),
])
def test_bad_llm_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(GraphcalError, match=message):
        graphcal.predict_llm("qwen2.5-0.5b", **{"prompt": 8, "new_tokens": 4, "hw": HW, **kwargs})


def test_graphcal_predict_stays_the_function_after_its_stage_is_imported():
    import graphcal.predict.report  # noqa: F401  (the stage package of the same name)
    from graphcal.predict.report import prediction_json

    assert callable(graphcal.predict) and graphcal.predict is graphcal.api.predict
    assert prediction_json(graphcal.predict(SPEC, hw=HW)) == graphcal.predict(SPEC, hw=HW).to_dict()
