"""Op calls as JSON text: the `ops` column of an in-model row (one op timed in place, or a
subgraph of several), which fit and compare cost with the same registry as predict
(graphcal.cost), without the model that held them.

A tensor is {"shape": [...], "dtype": "float32"}, with "persistent": true for the model's
state (a weight, a buffer, a KV cache); an op document may carry "graph_persistent_bytes", the
state of the whole model it ran in (graphcal.load.graph.OpGraph.persistent_bytes), and
"code_reuse_bytes", the op's reuse distance there (graphcal.cost.reuse). Lists and
tuples are lists; numbers, strings, booleans and None are themselves. Anything else the call received (a torch.dtype,
a device, a memory format) is {"repr": str(value)}: no cost formula reads those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph, OpNode, TensorMeta


def _encode(value: Any) -> Any:
    if isinstance(value, TensorMeta):
        tensor = {"shape": list(value.shape), "dtype": value.dtype}
        return {**tensor, "persistent": True} if value.persistent else tensor
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v) for k, v in value.items()}}
    return {"repr": str(value)}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        if "shape" in value:
            return TensorMeta(tuple(int(d) for d in value["shape"]), str(value["dtype"]),
                              value.get("persistent") is True)
        if "dict" in value:
            return {k: _decode(v) for k, v in value["dict"].items()}
        return value.get("repr")
    return value


def _op_document(node: OpNode, graph_persistent_bytes: int, code_reuse: Mapping[str, float]) -> dict:
    document = {
        "name": node.name,
        "target": node.target,
        "args": _encode(node.args),
        "kwargs": {k: _encode(v) for k, v in node.kwargs.items()},
        "outputs": _encode(node.outputs),
    }
    if graph_persistent_bytes:
        document["graph_persistent_bytes"] = graph_persistent_bytes
    if node.name in code_reuse:
        document["code_reuse_bytes"] = code_reuse[node.name]
    return document


def ops_to_json(nodes: list[OpNode] | tuple[OpNode, ...], graph_persistent_bytes: int = 0,
                code_reuse: Mapping[str, float] | None = None) -> str:
    """The calls' names, targets, arguments and outputs, as one compact JSON list;
    `graph_persistent_bytes`: the state of the model they ran in (0: not recorded); `code_reuse`:
    their reuse distances there, by node name (cost.reuse; none: not recorded)."""
    return json.dumps([_op_document(node, graph_persistent_bytes, code_reuse or {}) for node in nodes],
                      separators=(",", ":"))


def ops_from_json(text: str, where: str) -> tuple[OpNode, ...]:
    """The OpNodes `ops_to_json` wrote; a malformed text is an error naming `where`."""
    return graph_from_json(text, where).nodes


def graph_from_json(text: str, where: str) -> OpGraph:
    """The calls `ops_to_json` wrote as an OpGraph, with the state of the model they ran in; a
    malformed text is an error naming `where`."""
    try:
        documents = json.loads(text)
        if not isinstance(documents, list) or not documents:
            raise ValueError("expected a non-empty list of op calls")
        nodes = tuple(
            OpNode(
                name=str(document["name"]),
                target=str(document["target"]),
                args=_decode(document["args"]),
                kwargs={k: _decode(v) for k, v in document["kwargs"].items()},
                outputs=_decode(document["outputs"]),
            )
            for document in documents
        )
        state = max(int(document.get("graph_persistent_bytes") or 0) for document in documents)
        reuse = {str(d["name"]): float(d["code_reuse_bytes"]) for d in documents if "code_reuse_bytes" in d}
    except (ValueError, KeyError, TypeError, AttributeError, GraphcalError) as exc:
        raise GraphcalError(f"{where}: the ops column is not a list of op calls graphcal wrote ({exc})") from None
    return OpGraph(where, nodes, persistent_bytes=state, code_reuse=reuse)
