"""MODEL loaded at another batch size: the batch is the first dimension of the model's inputs.

- a workload spec has its batch in the text (`mlp:32:784x10`, `conv2d:8x...`, `net:NAME:B`):
  the spec is rewritten with the new batch; kinds without one (matmul, add, ...) are refused;
- a factory, TorchScript file or pickle is traced on its --input-shape: the first dimension of
  every shape is replaced;
- a .pt2 program fixes its shapes when exported statically: only its own batch is accepted; one
  exported with a dynamic batch dimension is specialised to each batch (formats.rebatch).

A model's own batch (what `batch=None` loads) is reported too, for throughput: the spec's B, the
first dimension of the first input, or 1 for a spec without a batch (one call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph
from graphcal.load.resolve import InputSpec, ModelKind, check_factory_kwargs, graph_of_spec, load_graph, model_kind
from graphcal.load.specs import Spec, parse_spec
from graphcal.precision import Precision

MAX_BATCH = 1 << 20


def load_at_batch(
    model: str,
    precision: Precision,
    batch: int | None,
    input_specs: tuple[InputSpec, ...] = (),
    trust_pickle: bool = False,
    factory_kwargs: Mapping[str, Any] | None = None,
) -> tuple[OpGraph, int]:
    """(the OpGraph of MODEL at `batch`, the batch it was loaded at); `batch=None` loads MODEL
    as it is (load_graph) and reports its own batch."""
    if batch is not None and not 1 <= batch <= MAX_BATCH:
        raise GraphcalError(f"--batch {batch}: must be from 1 to {MAX_BATCH}")
    kind = model_kind(model)
    check_factory_kwargs(model, kind, factory_kwargs)
    if kind is ModelKind.SPEC:
        spec = parse_spec(model)
        own = spec_batch(spec)
        if batch is None or batch == own:
            return graph_of_spec(model, precision), own or 1
        return graph_of_spec(spec_with_batch(spec, batch).text, precision), batch
    if kind is ModelKind.FILE:
        from graphcal.load.formats.detect import Kind, inspect_file

        mf = inspect_file(Path(model))
        if mf.kind is Kind.EXPORT:
            from graphcal.load.formats.rebatch import load_exported_at_batch

            return load_exported_at_batch(mf, precision, batch, input_specs)
    if batch is not None:
        if not input_specs:
            raise GraphcalError(
                f"{model}: --batch rescales the first dimension of each --input-shape; pass --input-shape "
                "(e.g. --input-shape 1x3x224x224)"
            )
        input_specs = tuple(rebatched(spec, batch) for spec in input_specs)
    graph = load_graph(model, precision, input_specs, trust_pickle, factory_kwargs)
    return graph, batch or (input_specs[0].shape[0] if input_specs else 1)


def rebatched(spec: InputSpec, batch: int) -> InputSpec:
    return replace(spec, shape=(batch, *spec.shape[1:]))  # NB: an --input-shape has at least one dimension


def _batch_index(spec: Spec) -> int | None:
    """Where the spec's parameters hold its batch: the grammar's B (`mlp:B:...`, `conv2d:BxC...`,
    `net:NAME:B`), counted over the colon-separated fields; None for a kind without one."""
    fields = spec.kind.grammar.split(":")[1:]
    for index, field in enumerate(fields):
        if field == "B" or field.startswith("Bx"):
            return index
    return None


def spec_batch(spec: Spec) -> int | None:
    index = _batch_index(spec)
    return None if index is None else int(spec.params[index])


def spec_with_batch(spec: Spec, batch: int) -> Spec:
    """The spec with batch `batch`, parsed again from its text (so every check of the kind runs)."""
    index = _batch_index(spec)
    if index is None:
        raise GraphcalError(
            f"workload spec {spec.text!r} has no batch dimension ({spec.kind.grammar}); --batch applies to "
            "specs with a B, such as mlp:B:... or conv2d:BxCxHxWxOxK"
        )
    params = spec.params[:index] + (batch,) + spec.params[index + 1:]
    return parse_spec(Spec(spec.kind, params).text)
