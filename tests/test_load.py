"""Model files and factories: each format detected by content, and every bad input refused with
one line on stderr and exit code 2.

The models are small nets written from torch.nn into a module in a temporary folder (so that a
pickled module can be unpickled, and a factory imported, from that folder), saved in each
format once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from graphcal.errors import GraphcalError
from graphcal.load import InputSpec, load_graph
from graphcal.load.trace import export_module, graph_from_fx, persistent_inputs
from graphcal.precision import Precision
from tests.helpers import REPO, base_profile_data

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

FP32 = Precision.FP32
X = (InputSpec((2, 3, 8, 8), None),)  # the input of gc_models.Net

MODELS_SOURCE = textwrap.dedent('''
    import torch
    from torch import nn


    class Net(nn.Module):
        """conv, norm, attention and linear: the families a loader must carry through."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = nn.LayerNorm(8)
            self.head = nn.Linear(8, 4)

        def forward(self, x):
            y = torch.relu(self.conv(x)).flatten(2).transpose(1, 2)  # (B, 64, 8)
            y = self.norm(y)
            y = nn.functional.scaled_dot_product_attention(y, y, y)
            return self.head(y.mean(1))


    def build():
        return Net()


    def not_a_module():
        return 42


    def needs_args(width):
        return nn.Linear(width, width)


    NOT_CALLABLE = 3
''')


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """A folder with gc_models.py on sys.path and the model Net saved in every format."""
    root = tmp_path_factory.mktemp("zoo")
    (root / "gc_models.py").write_text(MODELS_SOURCE)
    (root / "gc_broken.py").write_text("raise RuntimeError('broken at import')\n")
    sys.path.insert(0, str(root))
    import gc_models

    torch.manual_seed(0)
    net = gc_models.Net().eval()
    x = torch.zeros(2, 3, 8, 8)
    torch.export.save(torch.export.export(net, (x,)), root / "net.pt2")
    torch.export.save(torch.export.export(net.to(torch.bfloat16), (x.bfloat16(),)), root / "net_bf16.pt2")
    net = net.float()
    torch.jit.script(net).save(str(root / "scripted.pt"))
    torch.jit.trace(net, (x,)).save(str(root / "traced.pt"))
    torch.save(net, root / "module.pt")
    torch.save(net.state_dict(), root / "state_dict.pt")
    (root / "notes.txt").write_text("not a model\n")
    (root / "empty.pt2").write_bytes(b"")
    with zipfile.ZipFile(root / "random.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    whole = (root / "net.pt2").read_bytes()
    (root / "truncated.pt2").write_bytes(whole[: len(whole) // 2])
    whole = (root / "module.pt").read_bytes()
    (root / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    yield root
    sys.path.remove(str(root))


def shapes(graph):
    return [(n.target, n.inputs, n.outputs) for n in graph.nodes]


# --- torch.export archives ------------------------------------------------------------------------

def test_pt2_graph_equals_torch_export_load(zoo):
    graph = load_graph(str(zoo / "net.pt2"), FP32)
    program = torch.export.load(str(zoo / "net.pt2"))
    expected = graph_from_fx(program.graph, "net.pt2", persistent_inputs(program))
    assert graph == expected and graph.persistent_bytes > 0
    assert {"aten.conv2d.default", "aten.layer_norm.default", "aten.linear.default",
            "aten.scaled_dot_product_attention.default"} <= {n.target for n in graph.nodes}


def test_pt2_reads_no_weight_and_unpickles_nothing(zoo, monkeypatch):
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    monkeypatch.setattr(torch, "load", no_unpickling)
    load_graph(str(zoo / "net.pt2"), FP32)
    assert any(name.endswith("models/model.json") for name in opened)
    # the config that describes the weights is read; no payload (data/weights/weight_N) is
    assert not [name for name in opened if "/weights/weight_" in name or "sample_inputs" in name]


def test_program_decoding_matches_torch(zoo):
    """graphcal's cached JSON-to-schema decoder builds what torch's own decoder builds."""
    import json

    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    from graphcal.load.formats.exported import to_dataclass

    with zipfile.ZipFile(zoo / "net.pt2") as archive:
        data = json.loads(archive.read("net/models/model.json"))
    assert to_dataclass(schema.ExportedProgram, data) == _dict_to_dataclass(schema.ExportedProgram, data)


def test_format_is_detected_by_content_not_extension(zoo, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes((zoo / "net.pt2").read_bytes())
    assert load_graph(str(renamed), FP32).nodes == load_graph(str(zoo / "net.pt2"), FP32).nodes
    text = tmp_path / "model.pt2"
    text.write_text("import torch\n")
    with pytest.raises(GraphcalError, match="not a PyTorch model file"):
        load_graph(str(text), FP32)


def test_pt2_in_bf16_refuses_another_dtype(zoo):
    graph = load_graph(str(zoo / "net_bf16.pt2"), Precision.BF16)
    assert graph.nodes[0].outputs[0].dtype == "bfloat16"
    with pytest.raises(GraphcalError, match=r"computes in bfloat16 but --dtype is fp32.*--dtype bf16"):
        load_graph(str(zoo / "net_bf16.pt2"), FP32)
    with pytest.raises(GraphcalError, match=r"computes in float32 but --dtype is bf16"):
        load_graph(str(zoo / "net.pt2"), Precision.BF16)


def test_pt2_input_shape_must_match_the_program(zoo):
    assert load_graph(str(zoo / "net.pt2"), FP32, X) == load_graph(str(zoo / "net.pt2"), FP32)
    with pytest.raises(GraphcalError, match="exported for input shapes 2x3x8x8"):
        load_graph(str(zoo / "net.pt2"), FP32, (InputSpec((1, 3, 8, 8), None),))


class Pair:
    """An output type from a 'library' that the loading process has not imported."""

    def __init__(self, a, b):
        self.a, self.b = a, b


class PairOut(torch.nn.Module):
    def forward(self, x):
        return Pair(x + 1, x * 2)


def test_pt2_with_an_unimported_output_type_names_it(tmp_path):
    from torch.utils import _pytree as pytree

    pytree.register_pytree_node(
        Pair, lambda p: ([p.a, p.b], None), lambda xs, _: Pair(*xs),
        serialized_type_name="otherlib.outputs.Pair",
    )
    try:
        torch.export.save(torch.export.export(PairOut(), (torch.zeros(3),)), tmp_path / "pair.pt2")
    finally:
        pytree._deregister_pytree_node(Pair)
    with pytest.raises(GraphcalError) as info:
        load_graph(str(tmp_path / "pair.pt2"), FP32)
    message = str(info.value)
    assert "otherlib.outputs.Pair" in message and "return_dict=False" in message and "import otherlib" in message


# --- TorchScript ----------------------------------------------------------------------------------

def test_torchscript_traces_to_the_export_vocabulary(zoo):
    exported = load_graph(str(zoo / "net.pt2"), FP32)
    scripted = load_graph(str(zoo / "scripted.pt"), FP32, X)
    # scripted code reaches the same aten ops, at the same shapes, as torch.export records
    assert [(n.target, n.outputs) for n in scripted.nodes] == [(n.target, n.outputs) for n in exported.nodes]
    traced = load_graph(str(zoo / "traced.pt"), FP32, X)
    # torch.jit.trace saved aten::_convolution in place of conv2d; the rest is the same
    assert [n.target for n in traced.nodes][0] == "aten._convolution.default"
    assert [n.outputs for n in traced.nodes] == [n.outputs for n in exported.nodes]
    weight = traced.nodes[0].inputs[1]
    assert (weight.shape, weight.dtype) == ((8, 3, 3, 3), "float32")


def test_torchscript_needs_input_shape(zoo):
    with pytest.raises(GraphcalError, match="TorchScript archive has no recorded input shapes; pass --input-shape"):
        load_graph(str(zoo / "scripted.pt"), FP32)


def test_torchscript_input_dtype_is_checked(zoo):
    with pytest.raises(GraphcalError, match="unknown input dtype 'nn'"):
        load_graph(str(zoo / "scripted.pt"), FP32, (InputSpec((2, 3, 8, 8), "nn"),))


# --- torch.save files -----------------------------------------------------------------------------

def test_pickled_module_is_refused_without_trust(zoo):
    with pytest.raises(GraphcalError) as info:
        load_graph(str(zoo / "module.pt"), FP32, X)
    message = str(info.value)
    assert "gc_models.Net" in message and "--trust-pickle" in message and "torch.export.save" in message


def test_pickled_module_with_trust_traces_like_the_module(zoo):
    import gc_models

    graph = load_graph(str(zoo / "module.pt"), FP32, X, trust_pickle=True)
    expected = export_module(gc_models.Net(), (torch.zeros(2, 3, 8, 8),), "module.pt")
    assert shapes(graph) == shapes(expected)
    with pytest.raises(GraphcalError, match="needs --input-shape|pass --input-shape"):
        load_graph(str(zoo / "module.pt"), FP32, trust_pickle=True)


def test_state_dict_says_how_to_export(zoo):
    for trust in (False, True):
        with pytest.raises(GraphcalError, match=r"only weights.*torch\.export\.export.*torch\.export\.save"):
            load_graph(str(zoo / "state_dict.pt"), FP32, X, trust_pickle=trust)


# --- factories ------------------------------------------------------------------------------------

def test_factory_traces_its_module(zoo):
    import gc_models

    graph = load_graph("gc_models:build", FP32, X)
    assert shapes(graph) == shapes(export_module(gc_models.Net(), (torch.zeros(2, 3, 8, 8),), "x"))
    assert graph.model == "gc_models:build"


@pytest.mark.parametrize(
    "ref, specs, message",
    [
        ("gc_models:build", (), "a factory has no recorded input shapes; pass --input-shape"),
        ("gc_nowhere:build", X, "no module named 'gc_nowhere' on the Python path"),
        ("gc_broken:build", X, "importing gc_broken failed with RuntimeError: broken at import"),
        ("gc_models:missing", X, "has no attribute 'missing'"),
        ("gc_models:NOT_CALLABLE", X, "NOT_CALLABLE is a int, not a function"),
        ("gc_models:not_a_module", X, "returned a int, not a torch.nn.Module"),
        ("gc_models:needs_args", X, "raised TypeError.*called with no arguments"),
    ],
)
def test_factory_errors(zoo, ref, specs, message):
    with pytest.raises(GraphcalError, match=message):
        load_graph(ref, FP32, specs)


# --- bad files, through the CLI -------------------------------------------------------------------

BAD_FILES = [
    ("missing.pt2", (), "missing.pt2: no such file"),
    ("empty.pt2", (), "the file is empty"),
    ("notes.txt", (), "not a PyTorch model file"),
    ("random.zip", (), "a zip archive, but not a PyTorch model"),
    ("truncated.pt2", (), "cut off or corrupt"),
    ("truncated.pt", (), "cut off or corrupt"),
    ("scripted.pt", (), "pass --input-shape"),
    ("module.pt", ("--input-shape", "2x3x8x8"), "--trust-pickle"),
    ("state_dict.pt", (), "torch.export.save"),
    ("net_bf16.pt2", (), "computes in bfloat16 but --dtype is fp32"),
]


@pytest.mark.parametrize("name, extra, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_cli_bad_file_is_one_line_exit_2(zoo, run_cli, name, extra, message):
    result = run_cli("predict", zoo / name, "--hw", "i7-12700k", "--json", *extra)
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphcal: error: ") and message in lines[0], result.stderr


def test_cli_directory_is_not_a_model(zoo, run_cli):
    result = run_cli("predict", zoo, "--hw", "i7-12700k")
    assert result.code == 2 and "not a regular file" in result.stderr


def test_cli_factory_without_input_shape(zoo, run_cli):
    result = run_cli("predict", "gc_models:build", "--hw", "i7-12700k")
    assert result.code == 2 and "pass --input-shape" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_predicts_each_format(zoo, run_cli):
    flops = {}
    for model, extra in [
        ("net.pt2", ()),
        ("scripted.pt", ("--input-shape", "2x3x8x8")),
        ("module.pt", ("--input-shape", "2x3x8x8", "--trust-pickle")),
    ]:
        result = run_cli("predict", zoo / model, "--hw", "i7-12700k", "--json", *extra)
        assert result.code == 0, result.stderr
        flops[model] = result.json()["flops"]
    result = run_cli("predict", "gc_models:build", "--hw", "i7-12700k", "--json", "--input-shape", "2x3x8x8")
    assert result.code == 0, result.stderr
    flops["factory"] = result.json()["flops"]
    assert len(set(flops.values())) == 1 and flops["net.pt2"] > 0, flops


def test_cli_dtype_mismatch_is_an_error_not_a_cast(zoo, run_cli, write_profile):
    data = base_profile_data()
    data["peak_flops_per_s"]["bf16"] = data["peak_flops_per_s"]["fp32"]
    data["coefficients"]["bf16"] = dict(data["coefficients"]["fp32"])
    profile = write_profile("two-precisions", data)
    assert run_cli("predict", zoo / "net_bf16.pt2", "--hw", profile, "--dtype", "bf16", "--json").code == 0
    result = run_cli("predict", zoo / "net.pt2", "--hw", profile, "--dtype", "bf16", "--json")
    assert result.code == 2 and "computes in float32 but --dtype is bf16" in result.stderr


def test_real_process_python_m_graphcal(zoo):
    """The installed entry point, in its own process: JSON on success, one line on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(zoo)])}
    env.pop("GRAPHCAL_DEBUG", None)
    ok = subprocess.run(
        [sys.executable, "-m", "graphcal", "predict", str(zoo / "net.pt2"), "--hw", "i7-12700k", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert '"latency_s"' in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "graphcal", "predict", str(zoo / "truncated.pt2"), "--hw", "i7-12700k"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr and "cut off or corrupt" in bad.stderr


@pytest.mark.parametrize(("make", "shape"), [
    (lambda: torch.randn(2, 3, 5), (6, 5)),                           # contiguous: a view
    (lambda: torch.randn(2, 3, 5).transpose(0, 1), (6, 5)),           # transposed: a copy
    (lambda: torch.randn(2, 1, 4, 8).expand(2, 3, 4, 8), (6, 4, 8)),  # expanded (GQA keys): a copy
    (lambda: torch.randn(2, 1, 4, 8).expand(2, 3, 4, 8), (2, 3, 32)), # expanded, inner dims merged: a view
    (lambda: torch.randn(4, 6)[:, :3], (2, 2, 3)),                    # a slice, outer dim split: a view
])
def test_reshape_target_says_whether_torch_copies(make, shape):
    from graphcal.load.graph import RESHAPE_COPY, reshape_target

    x = make()
    copies = x.reshape(shape).untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    assert (reshape_target(tuple(x.shape), x.stride(), shape) == RESHAPE_COPY) == copies
