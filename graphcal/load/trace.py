"""Turn a PyTorch program into an OpGraph: op targets with the shapes and dtypes they touch.

Two sources: an FX graph whose nodes carry `meta["val"]` (torch.export), and an nn.Module,
which is exported first (on whatever device its tensors live, meta included).
"""

from __future__ import annotations

import operator
from dataclasses import replace
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import RESHAPE, OpGraph, OpNode, TensorMeta, innermost_module, reshape_target, tensors_in


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def meta_of(value: Any) -> Any:
    """TensorMeta for a tensor-like value (FakeTensor, meta tensor, TensorMetadata)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        try:
            return TensorMeta(tuple(int(d) for d in shape), dtype_name(dtype))
        except TypeError:
            raise GraphcalError(
                "the model has symbolic (dynamic) shapes; give --batch N to predict a dynamic batch at N, "
                "or export it with static shapes"
            ) from None
    if isinstance(value, (list, tuple)):
        return type(value)(meta_of(v) for v in value) if isinstance(value, tuple) else [meta_of(v) for v in value]
    return value


def _value_of(arg: Any, persistent: frozenset[str] = frozenset()) -> Any:
    """Replace fx Nodes in an argument by the TensorMeta (or constant) they stand for; a
    placeholder named in `persistent` is marked so."""
    import torch.fx

    if isinstance(arg, torch.fx.Node):
        meta = meta_of(arg.meta.get("val"))
        if arg.op == "placeholder" and arg.name in persistent and isinstance(meta, TensorMeta):
            return replace(meta, persistent=True)
        return meta
    if isinstance(arg, (list, tuple)):
        return tuple(_value_of(a, persistent) for a in arg)
    if isinstance(arg, dict):
        return {k: _value_of(v, persistent) for k, v in arg.items()}
    return arg


def _outputs(value: Any) -> tuple[TensorMeta, ...]:
    meta = meta_of(value)
    if isinstance(meta, TensorMeta):
        return (meta,)
    if isinstance(meta, (list, tuple)):
        return tuple(m for m in meta if isinstance(m, TensorMeta))
    return ()


def graph_from_fx(fx_graph: Any, model: str, persistent: frozenset[str] = frozenset()) -> OpGraph:
    """OpGraph of every call_function node of an FX graph with shape metadata; the placeholders
    named in `persistent` (see persistent_inputs) are the program's state. An autocast region
    (torch.autocast inside forward) contributes its body's ops at the autocast dtype."""
    state_bytes = 0
    for node in fx_graph.nodes:
        if node.op == "placeholder" and node.name in persistent and node.users:  # NB: a tied weight's twin has none
            meta = meta_of(node.meta.get("val"))
            state_bytes += meta.nbytes if isinstance(meta, TensorMeta) else 0
    nodes = _call_nodes(fx_graph, persistent)
    return OpGraph(model=model, nodes=tuple(nodes), persistent_bytes=state_bytes)


AUTOCAST = "wrap_with_autocast"  # str() of torch.ops.higher_order.wrap_with_autocast
CAST = "aten._to_copy.default"


def _call_nodes(fx_graph: Any, persistent: frozenset[str], prefix: str = "",
                operands: dict[str, str] | None = None) -> list[OpNode]:
    """The graph's ops; `operands` names, for an autocast region's body, the op outside that made
    each of its placeholders (OpNode.sources; "" for one handed in)."""
    operands = operands or {}
    results: dict[str, str] = {}  # an autocast region's i-th result ("name.i") -> the body op that made it
    nodes = []
    for node in fx_graph.nodes:
        if node.op != "call_function":
            continue
        if str(node.target) == AUTOCAST:
            body, made = _autocast_body(fx_graph, node, persistent, prefix, operands)
            nodes += body
            results.update({f"{prefix}{node.name}.{i}": name for i, name in enumerate(made)})
            continue
        nodes.append(
            OpNode(
                name=prefix + node.name,
                target=_target(node),
                args=tuple(_value_of(a, persistent) for a in node.args),
                kwargs={k: _value_of(v, persistent) for k, v in node.kwargs.items()},
                outputs=_outputs(node.meta.get("val")),
                module=_module(node.meta.get("nn_module_stack")),
                sources=_picked(node, prefix, results)
                or tuple(_sources((node.args, tuple(node.kwargs.values())), prefix, operands)),
            )
        )
    return nodes


def _picked(node: Any, prefix: str, results: dict[str, str]) -> tuple[str, ...] | None:
    """OpNode.sources of a getitem of an autocast region's result: the body op that made it."""
    if node.target is not operator.getitem or not hasattr(node.args[0], "name"):
        return None
    result = results.get(f"{prefix}{node.args[0].name}.{node.args[1]}")
    return None if result is None else (result,)


def _sources(arg: Any, prefix: str, operands: dict[str, str]):
    """OpNode.sources of an argument, in the order OpNode.inputs lists its tensors (`prefix`: of
    the names of the ops in an autocast region's body; `operands`: see _call_nodes). A
    placeholder is handed in, or an autocast body's operand; a get_attr is a constant."""
    import torch.fx

    if isinstance(arg, torch.fx.Node):
        meta = meta_of(arg.meta.get("val"))
        if arg.op == "placeholder":
            origin = operands.get(arg.name, "")
        elif arg.op == "get_attr":
            origin = ""
        else:
            origin = prefix + arg.name
        if isinstance(meta, TensorMeta):
            yield origin
        elif isinstance(meta, (list, tuple)):
            yield from (origin and f"{origin}.{i}" for i, m in enumerate(meta) if isinstance(m, TensorMeta))
    elif isinstance(arg, (list, tuple)):
        for item in arg:
            yield from _sources(item, prefix, operands)


def _autocast_body(fx_graph: Any, node: Any, persistent: frozenset[str], prefix: str,
                   operands_outside: dict[str, str]) -> tuple[list[OpNode], list[str]]:
    """The ops of a wrap_with_autocast(device, dtype, enabled, cache_enabled, body, *operands)
    call, and the OpNode.sources name of each of its results. Each body op whose output is in the
    autocast dtype while a floating input is not ran at that dtype: autocast casts each such
    input first (an _to_copy, costed), and the op reads the cast copies."""
    _, dtype, enabled, _, body_ref, *operands = node.args
    body = getattr(fx_graph.owning_module, body_ref.target)
    inner_names = [n.name for n in body.graph.nodes if n.op == "placeholder"]
    # a body input is state where its operand outside is
    inner_persistent = frozenset(name for name, operand in zip(inner_names, operands)
                                 if getattr(operand, "op", None) == "placeholder" and operand.name in persistent)
    made_by = {name: next(iter(_sources(operand, prefix, operands_outside)), "")
               for name, operand in zip(inner_names, operands)}
    inner_prefix = f"{prefix}{node.name}."
    ops = _call_nodes(body.graph, inner_persistent, inner_prefix, made_by)
    [returned] = [n.args[0] for n in body.graph.nodes if n.op == "output"]
    results = [next(iter(_sources(value, inner_prefix, made_by)), "") for value in returned]
    if not enabled or dtype is None:
        return ops, results
    return [casted for op in ops for casted in _at_dtype(op, dtype_name(dtype))], results


def _at_dtype(op: OpNode, dtype: str) -> list[OpNode]:
    """`op` with its floating inputs of another dtype cast to `dtype` (the casts first), where
    its output is in `dtype`; else `op` as it is."""
    if not op.outputs or op.outputs[0].dtype != dtype:
        return [op]
    casts: list[OpNode] = []
    sources = list(op.sources or ())
    position = iter(range(len(sources)))  # each tensor's place in OpNode.inputs and sources

    def cast(value: Any) -> Any:
        if isinstance(value, TensorMeta):
            at = next(position, None)
            if not (_floating(value.dtype) and value.dtype != dtype):
                return value
            # NB: autocast casts a weight on each use inside the region; its cache keeps one copy
            # only for tensors that require grad, outside no_grad
            result = TensorMeta(value.shape, dtype)
            name = f"{op.name}_cast{len(casts)}"
            made_by = (sources[at],) if at is not None else None
            casts.append(OpNode(name, CAST, (value,), {"dtype": dtype}, (result,), op.module, made_by))
            if at is not None:
                sources[at] = name
            return result
        if isinstance(value, tuple):
            return tuple(cast(v) for v in value)
        if isinstance(value, list):  # not cast, but its tensors hold places in sources
            for _ in tensors_in(value):
                next(position, None)
        return value

    args = tuple(cast(a) for a in op.args)
    kwargs = {k: cast(v) for k, v in op.kwargs.items()}
    if not casts:
        return [op]
    return [*casts, replace(op, args=args, kwargs=kwargs, sources=tuple(sources) if op.sources is not None else None)]


def _floating(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def _target(node: Any) -> str:
    """The node's op, with a reshape that torch runs as a copy named so (graph.reshape_target)."""
    target = str(node.target)
    if target != RESHAPE or not node.args or not hasattr(node.args[0], "meta"):
        return target
    source, result = node.args[0].meta.get("val"), node.meta.get("val")
    try:
        return reshape_target(tuple(source.shape), tuple(source.stride()), tuple(result.shape))
    except (AttributeError, TypeError, RuntimeError):  # symbolic sizes or strides: left a view
        return target


def persistent_inputs(program: Any, state: tuple[str, ...] = ()) -> frozenset[str]:
    """Placeholder names of an ExportedProgram's parameters, buffers and tensor constants, and
    the names in `state` (user inputs that are state: a KV cache handed in, say)."""
    from torch.export.graph_signature import InputKind

    kept = {InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR}
    names = {spec.arg.name for spec in program.graph_signature.input_specs
             if spec.kind in kept and hasattr(spec.arg, "name")}
    return frozenset(names | set(state))


def _module(stack: Any) -> str | None:
    """The innermost module of an FX node's nn_module_stack ({key: (path, type)}, outermost first)."""
    if stack is None:
        return None
    return innermost_module([path for path, _ in stack.values()])


def export_program(module: Any, inputs: tuple, model: str) -> Any:
    """torch.export of an nn.Module on its example inputs (no grad, eval): the ExportedProgram
    that predict costs and `sweep model --per-op` runs node by node."""
    import warnings
    from unittest.mock import patch

    import torch

    module.eval()
    try:
        # NB: graphcal reads no node's stack_trace; recording them costs a second in an LLM's export
        no_stack_traces = patch.object(torch.fx.config, "do_not_emit_stack_traces", True)
        with torch.no_grad(), warnings.catch_warnings(), no_stack_traces:
            # nn.LSTM/GRU re-assign their flat weights while traced; torch warns to the user, who
            # can do nothing about it
            warnings.filterwarnings("ignore", message=".*were assigned during export.*")
            return torch.export.export(module, inputs, strict=False)
    except Exception as exc:  # torch raises many types here; the user needs the message
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GraphcalError(f"could not trace {model}: {first_line}") from exc


def graph_of_program(program: Any, model: str, precision: Any = None) -> OpGraph:
    """The OpGraph of an ExportedProgram, as predict reads a .pt2 archive; with a `precision`,
    a program computing in another floating dtype is an error, never a cast."""
    if precision is not None:
        from graphcal.load.formats.common import check_precision, dominant_float_dtype

        placeholders = [meta_of(n.meta.get("val")) for n in program.graph.nodes if n.op == "placeholder"]
        check_precision(dominant_float_dtype([m for m in placeholders if isinstance(m, TensorMeta)]), precision, model)
    return graph_from_fx(program.graph, model, persistent_inputs(program))


def export_module(module: Any, inputs: tuple, model: str) -> OpGraph:
    """Export an nn.Module on its example inputs (no grad, eval) and read its graph."""
    program = export_program(module, inputs, model)
    return graph_from_fx(program.graph, model, persistent_inputs(program))


def record_calls(fn: Any, inputs: tuple, model: str) -> OpGraph:
    """Run `fn(*inputs)` on real tensors (eval, no grad) and record every aten call the
    dispatcher sees, at the decomposed level (aten.addmm, aten.convolution, ...). The last
    resort for TorchScript code that neither fake nor proxy tensors can trace."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.nodes: list[OpNode] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            try:
                out = func(*args, **kwargs)
            except RuntimeError:
                if any(isinstance(a, torch.Tensor) for a in args):
                    raise
                # The TorchScript interpreter hands some shape arithmetic (.item() of a size,
                # aten.equal of two sizes) to the mode with its 0-d tensors unwrapped to
                # Python numbers: no tensor work, so it runs on rewrapped numbers, unrecorded.
                return func(*(torch.tensor(a) for a in args), **kwargs)
            self.nodes.append(
                OpNode(
                    name=f"{func.__name__.split('.')[0]}_{len(self.nodes)}",
                    target=str(func),
                    args=tuple(meta_of(a) for a in args),
                    kwargs={k: meta_of(v) for k, v in kwargs.items()},
                    outputs=_outputs(out),
                )
            )
            return out

    with torch.no_grad(), Recorder() as recorder:
        fn(*inputs)
    return OpGraph(model=model, nodes=tuple(recorder.nodes))
