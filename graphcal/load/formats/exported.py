"""A torch.export archive (.pt2) read for its program only: graph and tensor metadata.

torch.export.load reads every weight into memory (440 MB for BERT-base) and unpickles the
saved example inputs. Predicting needs shapes, not weights, so this reader takes from the zip
only the program JSON (`models/<name>.json`) and the two payload configs that describe the
weights and constants (`data/weights/<name>_weights_config.json`, ...), builds meta tensors
of the recorded sizes and dtypes in place of the payloads, and hands all of it to torch's own
ExportedProgramDeserializer. The graph is thus the one torch.export.load gives, node for node,
while no weight byte is read and nothing is unpickled.

Most programs never reach torch's deserializer: `program_json` reads the same graph from the
JSON without importing torch (which torch._export.serde would, with torch._dynamo: about a
second). A program it does not handle (NotPlain) goes the way above.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
import zipfile
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.formats.common import check_precision, dominant_float_dtype, first_line
from graphcal.load.formats.detect import ModelFile
from graphcal.load.graph import OpGraph
from graphcal.precision import Precision

MODEL_NAME = "model"  # the program torch.export.save writes and torch.export.load returns
UNREGISTERED_TYPE = re.compile(r"Deserializing (\S+) in pytree is not registered")


# torch.export.pt2_archive.constants, stated here so that reading them needs no torch import
# (tests/test_program_json.py checks them against torch's).
MODELS_FILENAME_FORMAT = "models/{}.json"
WEIGHTS_CONFIG_FILENAME_FORMAT = "data/weights/{}_weights_config.json"
CONSTANTS_CONFIG_FILENAME_FORMAT = "data/constants/{}_constants_config.json"
ARCHIVE_VERSION_PATH = "archive_version"
ARCHIVE_VERSION_VALUE = "0"


def load_exported(mf: ModelFile, precision: Precision, input_specs: tuple = ()) -> OpGraph:
    """The OpGraph of the archive's program, equal to graph_from_fx(torch.export.load(..).graph)."""
    from graphcal.load.formats.program_json import NotPlain, read_graph

    records = read_records(mf)
    try:
        graph, placeholders, user_inputs = read_graph(records["program"], mf.path.name)
        recorded = [m.shape for m in user_inputs]
    except NotPlain:
        from graphcal.load.trace import graph_from_fx, meta_of, persistent_inputs

        program = deserialize_program(mf, records)
        graph = graph_from_fx(program.graph, mf.path.name, persistent_inputs(program))
        placeholders = [meta_of(n.meta["val"]) for n in program.graph.nodes if n.op == "placeholder" and _is_tensor(n)]
        recorded = _user_input_shapes(program)
    check_precision(dominant_float_dtype(placeholders), precision, mf.path.name)
    if input_specs:
        _check_input_specs(recorded, input_specs, mf)
    return graph


def read_records(mf: ModelFile) -> dict[str, Any]:
    """The archive's program JSON and its weights' and constants' configs (no weight bytes)."""
    with zipfile.ZipFile(mf.path) as archive:
        def read_json(record: str) -> Any:
            if record not in mf.records:
                raise GraphcalError(f"{mf.path}: the torch.export archive lacks {record}; save it again")
            try:
                return json.loads(archive.read(mf.root + record))
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise GraphcalError(f"{mf.path}: {record} is corrupt ({exc}); save the model again") from None

        _check_archive_version(archive, mf)
        model_name = _model_name(mf, MODELS_FILENAME_FORMAT)
        return {
            "program": read_json(MODELS_FILENAME_FORMAT.format(model_name)),
            "weights": read_json(WEIGHTS_CONFIG_FILENAME_FORMAT.format(model_name)),
            "constants": read_json(CONSTANTS_CONFIG_FILENAME_FORMAT.format(model_name)),
        }


def deserialize_program(mf: ModelFile, records: dict[str, Any]) -> Any:
    """torch's ExportedProgramDeserializer on the records, meta tensors for the payloads."""
    import torch  # noqa: F401  (the deserializer needs torch initialised)
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, SerializeError
    from torch.export.pt2_archive import constants as names

    program_json, weights, constants = records["program"], records["weights"], records["constants"]

    try:
        serialized = to_dataclass(schema.ExportedProgram, program_json)
        weight_config = to_dataclass(schema.PayloadConfig, weights)
        constant_config = to_dataclass(schema.PayloadConfig, constants)
    except Exception as exc:  # the dataclass decoder raises several types on bad JSON
        raise GraphcalError(f"{mf.path}: the program is not a valid torch.export program ({first_line(exc)})") from None
    state_dict = _meta_payloads(weight_config, mf, names)
    constant_values = _meta_payloads(constant_config, mf, names)
    try:
        return ExportedProgramDeserializer().deserialize(serialized, state_dict, constant_values, None)
    except NotImplementedError as exc:
        match = UNREGISTERED_TYPE.search(str(exc))
        if match is None:
            raise GraphcalError(f"{mf.path}: cannot read the program: {first_line(exc)}") from None
        raise GraphcalError(_unregistered_type_message(mf, match.group(1))) from None
    except SerializeError as exc:
        raise GraphcalError(
            f"{mf.path}: {first_line(exc)}; export it again with torch {torch.__version__}"
        ) from None
    except GraphcalError:
        raise
    except Exception as exc:  # torch raises many types; the user needs its message
        raise GraphcalError(f"{mf.path}: cannot read the program: {first_line(exc)}") from None


def to_dataclass(cls: Any, data: Any) -> Any:
    """torch's serialize._dict_to_dataclass, with each schema class's type hints computed once.

    NB: torch's version calls typing.get_type_hints for every object it builds: 10,000 times,
    0.6 s, for BERT-base. Same decoding rules (unknown keys ignored, as torch does).
    """
    from torch._export.serde import schema
    from torch._export.serde.union import _Union

    if isinstance(cls, typing.ForwardRef):
        cls = cls.__forward_arg__
    if isinstance(cls, str):
        cls = getattr(schema, cls)
    origin = typing.get_origin(cls)
    if origin is typing.Annotated:
        return to_dataclass(cls.__origin__, data)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(cls):
        return None if data is None else to_dataclass(typing.get_args(cls)[0], data)
    if isinstance(cls, type) and issubclass(cls, _Union):
        ((field, value),) = data.items()
        return cls.create(**{field: to_dataclass(_type_hints(cls)[field], value)})
    if dataclasses.is_dataclass(cls):
        hints = _type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.name in data]
        return cls(**{f.name: to_dataclass(hints[f.name], data[f.name]) for f in fields})
    if isinstance(data, list):
        return [to_dataclass(typing.get_args(cls)[0], d) for d in data] if data else data
    if isinstance(data, dict):
        value_type = typing.get_args(cls)[1]
        return {k: to_dataclass(value_type, v) for k, v in data.items()}
    if cls is float:
        return float(data)
    return data


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    from torch._export.serde import schema

    return typing.get_type_hints(cls, globalns=vars(schema))


def _check_archive_version(archive: zipfile.ZipFile, mf: ModelFile) -> None:
    if ARCHIVE_VERSION_PATH not in mf.records:
        return  # torch.export.load treats a missing version as the current one too
    version = archive.read(mf.root + ARCHIVE_VERSION_PATH).decode(errors="replace").strip()
    if version != ARCHIVE_VERSION_VALUE:
        raise GraphcalError(
            f"{mf.path}: pt2 archive version {version!r}, but this graphcal reads version "
            f"{ARCHIVE_VERSION_VALUE!r}; save the model again with torch.export.save"
        )


def _model_name(mf: ModelFile, filename_format: str) -> str:
    prefix, suffix = filename_format.split("{}")
    found = sorted(r[len(prefix):-len(suffix)] for r in mf.records if r.startswith(prefix) and r.endswith(suffix))
    if MODEL_NAME in found:
        return MODEL_NAME
    if len(found) == 1:
        return found[0]
    if not found:
        raise GraphcalError(
            f"{mf.path}: the archive holds no exported program (an AOTInductor package?); "
            "save the model with torch.export.save"
        )
    raise GraphcalError(
        f"{mf.path}: the archive holds several programs ({', '.join(found)}) and none named {MODEL_NAME!r}"
    )


def _meta_payloads(config: Any, mf: ModelFile, names: Any) -> dict[str, Any]:
    """A meta tensor (no data) of the recorded size, stride and dtype for every payload."""
    import torch
    from torch._export.serde.serialize import (
        deserialize_scalar_type,
        deserialize_size,
        deserialize_storage_offset,
        deserialize_stride,
    )

    out: dict[str, Any] = {}
    for fqn, payload in config.config.items():
        is_tensor = payload.path_name.startswith((names.WEIGHT_FILENAME_PREFIX, names.TENSOR_CONSTANT_FILENAME_PREFIX))
        meta = payload.tensor_meta
        if not is_tensor or meta is None:
            raise GraphcalError(
                f"{mf.path}: constant {fqn!r} is a scripted or opaque object, which graphcal does not read; "
                "export a model whose constants are tensors"
            )
        size, stride = deserialize_size(meta.sizes), deserialize_stride(meta.strides)
        offset = deserialize_storage_offset(meta.storage_offset)
        span = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
        storage = torch.empty(offset + span, dtype=deserialize_scalar_type(meta.dtype), device="meta")
        tensor = storage.as_strided(size, stride, offset)
        if payload.is_param:
            tensor = torch.nn.Parameter(tensor, requires_grad=meta.requires_grad)
        out[fqn] = tensor
    return out


def _user_input_shapes(program: Any) -> list[tuple[int, ...]]:
    user = set(program.graph_signature.user_inputs)
    return [
        tuple(n.meta["val"].shape)
        for n in program.graph.nodes
        if n.op == "placeholder" and n.name in user and _is_tensor(n)
    ]


def _check_input_specs(recorded: list[tuple[int, ...]], input_specs: tuple, mf: ModelFile) -> None:
    """--input-shape with a .pt2 must repeat the exported shapes: the program fixes them."""
    given = [tuple(s.shape) for s in input_specs]
    if given != recorded:
        shown = " ".join("x".join(map(str, s)) for s in recorded)
        raise GraphcalError(
            f"{mf.path}: the program was exported for input shapes {shown}, not the --input-shape given; "
            "drop --input-shape, or export the model again with the shapes you want"
        )


def _is_tensor(node: Any) -> bool:
    return hasattr(node.meta.get("val"), "dtype") and hasattr(node.meta.get("val"), "shape")


def _unregistered_type_message(mf: ModelFile, type_name: str) -> str:
    library = type_name.split(".", 1)[0]
    return (
        f"{mf.path}: the program's inputs or outputs are of type {type_name}, from {library}, "
        f"which graphcal does not import; export the model so that it returns plain tensors "
        f"(for transformers: pass return_dict=False), or call graphcal.load.load_graph from "
        f"Python after `import {library}`"
    )

