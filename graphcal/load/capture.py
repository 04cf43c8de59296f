"""An nn.Module handed in from Python (graphcal.predict) turned into an OpGraph.

The module may live on any device, the meta device included: only shapes and dtypes are read.
"""

from __future__ import annotations

from typing import Any

from graphcal.load.graph import OpGraph, TensorMeta
from graphcal.precision import Precision


def graph_of_module(module: Any, inputs: tuple, model: str, precision: Precision) -> OpGraph:
    """The OpGraph predict costs for `module(*inputs)`: the graph torch.export gives, node for node."""
    from graphcal.load.formats.common import check_precision, dominant_float_dtype
    from graphcal.load.trace import export_module, meta_of

    state = [meta_of(t) for t in (*module.parameters(), *module.buffers())]
    check_precision(dominant_float_dtype([m for m in state if isinstance(m, TensorMeta)]), precision, model)
    return export_module(module, inputs, model)
