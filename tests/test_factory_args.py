"""`--factory-arg NAME=VALUE`: keyword arguments for a factory MODEL in predict, compare and
sweep model, each VALUE a Python literal or a bare word read as a string."""

from __future__ import annotations

import sys

import pytest

from graphcal.errors import GraphcalError
from graphcal.load import parse_factory_args
from graphcal.precision import Precision
from graphcal.sweep.workload import build_module, cost_workload

SOURCE = '''
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


def build(width, depth=1, act="relu", bias=True):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=bias), ACTIVATIONS[act]()]
    return nn.Sequential(*layers)
'''


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "gc_factories.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "gc_factories:build"
    sys.modules.pop("gc_factories", None)


@pytest.mark.parametrize(("texts", "kwargs"), [
    (["width=16"], {"width": 16}),
    (["model_name=resnet50"], {"model_name": "resnet50"}),  # a bare word: a string
    (["model_name='resnet50'"], {"model_name": "resnet50"}),  # a quoted string: the same
    (["name=vit_base_patch16_224.augreg_in21k"], {"name": "vit_base_patch16_224.augreg_in21k"}),
    (["pretrained=False", "drop_rate=0.1", "img_size=(224, 224)", "x=None"],
     {"pretrained": False, "drop_rate": 0.1, "img_size": (224, 224), "x": None}),
    (["width = 8"], {"width": 8}),
])
def test_values_are_literals_or_bare_words(texts, kwargs):
    assert parse_factory_args(texts) == kwargs


@pytest.mark.parametrize(("text", "message"), [
    ("width", "expected NAME=VALUE"),
    ("=3", "expected NAME=VALUE"),
    ("1x=3", "expected NAME=VALUE"),
    ("class=3", "expected NAME=VALUE"),
    ("shape=[1, 2", "neither a Python literal nor a bare word"),
    ("act=gelu relu", "neither a Python literal nor a bare word"),
])
def test_malformed_arguments_are_refused(text, message):
    with pytest.raises(GraphcalError, match=message):
        parse_factory_args([text])


def test_a_name_given_twice_is_refused():
    with pytest.raises(GraphcalError, match="given twice"):
        parse_factory_args(["width=1", "width=2"])


def test_predict_passes_the_arguments_to_the_factory(run_cli, factories):
    args = ("predict", factories, "--hw", "i7-12700k-large", "--input-shape", "4x16", "--json")
    result = run_cli(*args, "--factory-arg", "width=16", "--factory-arg", "depth=2", "--factory-arg", "act=gelu")
    assert result.code == 0, result.stderr
    data = result.json()
    assert [op["target"] for op in data["ops"]] == ["aten.linear.default", "aten.gelu.default"] * 2
    linear = 2 * 4 * 16 * 16  # 2048 per layer
    assert sum(op["flops"] for op in data["ops"] if op["target"] == "aten.linear.default") == 2 * linear


def test_a_factory_that_needs_arguments_says_so(run_cli, factories):
    result = run_cli("predict", factories, "--hw", "i7-12700k-large", "--input-shape", "4x16")
    assert result.code == 2 and "add --factory-arg" in result.stderr and len(result.stderr.splitlines()) == 1


def test_an_argument_the_factory_rejects_is_one_line(run_cli, factories):
    result = run_cli("predict", factories, "--hw", "i7-12700k-large", "--input-shape", "4x16",
                     "--factory-arg", "width=16", "--factory-arg", "colour=red")
    assert result.code == 2 and "colour='red'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_factory_args_for_a_model_that_is_no_factory_are_refused(run_cli):
    result = run_cli("predict", "mlp:1:8x8", "--hw", "i7-12700k-large", "--factory-arg", "width=16")
    assert result.code == 2 and "--factory-arg is for a factory MODEL" in result.stderr


def test_compare_passes_the_arguments(run_cli, factories):
    result = run_cli("compare", factories, "--hw", "i7-12700k-large", "--hw", "i7-12700k-tiny",
                     "--input-shape", "4x16", "--factory-arg", "width=16", "--json")
    assert result.code == 0, result.stderr
    assert [r["hardware"] for r in result.json()["rows"]] == ["i7-12700k-large", "i7-12700k-tiny"]


def test_sweep_model_builds_and_costs_with_the_arguments(factories):
    from graphcal.load import InputSpec

    specs = (InputSpec((4, 16), None),)
    kwargs = {"width": 16, "bias": False}
    module, inputs = build_module(factories, Precision.FP32, specs, factory_kwargs=kwargs)
    assert module[0].bias is None and tuple(module(*inputs).shape) == (4, 16)
    workload = cost_workload(factories, Precision.FP32, specs, factory_kwargs=kwargs)
    assert workload.flops == 2 * 4 * 16 * 16 + 4 * 16  # linear 2048 + relu 64


def test_sweep_model_refuses_factory_args_for_a_spec(run_cli, tmp_path):
    result = run_cli("sweep", "model", "mlp:1:8x8", "--factory-arg", "width=3", "--out", tmp_path / "o.csv")
    assert result.code == 2 and "--factory-arg is for a factory MODEL" in result.stderr
