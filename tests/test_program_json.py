"""The torch-free .pt2 reader gives torch.export.load's graph, node for node."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from torch import nn

from graphcal.load.formats import exported
from graphcal.load.formats.detect import inspect_file
from graphcal.load.formats.program_json import (
    LAYOUTS,
    MEMORY_FORMATS,
    SCALAR_TYPES,
    SCHEMA_MAJOR,
    NotPlain,
    read_graph,
)
from graphcal.load.graph import TensorMeta
from graphcal.load.trace import graph_from_fx, persistent_inputs


class Splitting(nn.Module):
    """Multi-output ops (split, lstm), dtype and device keywords, a scalar list argument."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.proj = nn.Linear(8, 24)

    def forward(self, x):
        q, k, v = self.proj(x).split(8, dim=-1)
        out, (h, c) = self.lstm(q + k * v)
        mask = torch.ones(x.shape[1], dtype=torch.float32, device=x.device)
        return out.mean(dim=(1, 2)) + h.sum() + c.sum() + mask.sum(), out.to(torch.float64)


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, groups=8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


MODELS = {
    "cnn": (conv_net, (torch.randn(1, 3, 16, 16),)),
    "transformer encoder": (encoder, (torch.randn(2, 5, 16),)),
    "split, lstm, dtype kwargs": (Splitting, (torch.randn(2, 5, 8),)),
}


def normalised(graph):
    """Torch objects (dtypes, devices, layouts) as their text, lists as tuples."""

    def value(v):
        if isinstance(v, TensorMeta) or v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (list, tuple)):
            return tuple(value(x) for x in v)
        return str(v)

    return [(n.name, n.target, value(n.args), {k: value(x) for k, x in n.kwargs.items()}, n.outputs, n.module)
            for n in graph.nodes]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_json_reader_equals_torch_export_load(name, tmp_path):
    factory, inputs = MODELS[name]
    path = tmp_path / "model.pt2"
    with torch.no_grad():
        torch.export.save(torch.export.export(factory().eval(), inputs, strict=False), path)
    mf = inspect_file(path)
    graph, placeholders, user_inputs = read_graph(exported.read_records(mf)["program"], path.name)
    program = torch.export.load(path)
    expected = graph_from_fx(program.graph, path.name, persistent_inputs(program))
    assert normalised(graph) == normalised(expected)
    assert graph.persistent_bytes == expected.persistent_bytes > 0
    assert [m.shape for m in user_inputs] == [tuple(t.shape) for t in inputs]
    assert len(placeholders) == len(user_inputs) + len(list(factory().state_dict()))


def test_an_output_type_from_another_library_goes_to_torch(tmp_path):
    program = {"graph_module": {"graph": {"tensor_values": {}, "nodes": [], "inputs": []},
                                "signature": {"input_specs": []},
                                "module_call_graph": [{"fqn": "", "signature": {
                                    "in_spec": None,
                                    "out_spec": json.dumps([1, {"type": "transformers.ModelOutput", "context": "[]",
                                                                "children_spec": []}])}}]}}
    with pytest.raises(NotPlain, match="pytree"):
        read_graph(program, "m.pt2")


def test_schema_major_version_matches_torch():
    from torch._export.serde.schema import SCHEMA_VERSION

    assert SCHEMA_MAJOR == SCHEMA_VERSION[0]


def test_a_program_from_another_schema_major_goes_to_torch_which_refuses_it_in_one_line(tmp_path, run_cli):
    """What a .pt2 from a torch with another schema major version meets: torch's deserializer
    (the installed torch) judges it, and a refusal is one line naming the torch to export with."""
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(nn.Linear(4, 2).eval(), (torch.randn(1, 4),)), path)
    mf = inspect_file(path)
    program = exported.read_records(mf)["program"]
    program["schema_version"]["major"] = SCHEMA_MAJOR + 90
    with pytest.raises(NotPlain, match="schema major version"):
        read_graph(program, path.name)
    newer = tmp_path / "newer.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(newer, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == mf.root + exported.MODELS_FILENAME_FORMAT.format("model"):
                data = json.dumps(program).encode()
            dst.writestr(info, data)
    result = run_cli("predict", newer, "--hw", "i7-12700k-large")
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and torch.__version__ in result.stderr, result.stderr


def test_enum_tables_and_record_names_match_torch():
    from torch._export.serde import schema
    from torch._export.serde import serialize as serde
    from torch.export.pt2_archive import constants

    dtypes = {m.value: str(serde._SERIALIZE_TO_TORCH_DTYPE[m]).removeprefix("torch.")
              for m in schema.ScalarType if m in serde._SERIALIZE_TO_TORCH_DTYPE}
    assert SCALAR_TYPES == dtypes
    assert LAYOUTS == {m.value: str(serde._SERIALIZE_TO_TORCH_LAYOUT[m])
                       for m in schema.Layout if m in serde._SERIALIZE_TO_TORCH_LAYOUT}
    assert MEMORY_FORMATS == {m.value: str(serde._SERIALIZE_TO_TORCH_MEMORY_FORMAT[m])
                              for m in schema.MemoryFormat if m in serde._SERIALIZE_TO_TORCH_MEMORY_FORMAT}
    for name in ("MODELS_FILENAME_FORMAT", "WEIGHTS_CONFIG_FILENAME_FORMAT", "CONSTANTS_CONFIG_FILENAME_FORMAT",
                 "ARCHIVE_VERSION_PATH", "ARCHIVE_VERSION_VALUE"):
        assert getattr(exported, name) == getattr(constants, name), name


def test_predicting_a_pt2_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "model.pt2"
    with torch.no_grad():
        torch.export.save(torch.export.export(conv_net().eval(), MODELS["cnn"][1], strict=False), path)
    code = ("import sys; from graphcal.load import load_graph; from graphcal.precision import Precision; "
            f"g = load_graph({str(path)!r}, Precision.FP32); print(len(g.nodes), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 5 and out[1] == "False"
