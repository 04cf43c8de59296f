"""An nn.Module handed in from Python (graphcal.predict) turned into an OpGraph, fast.

torch.export traces through FX proxies, fake tensors and its own checks: 0.5-2 s for a
torchvision model, most of it per op. A neural architecture search predicts thousands of
candidates, so a module is instead run once, on whatever device its tensors live (the meta
device costs nothing), under a recorder at torch's pre-dispatch level: the level torch.export
traces at, before autograd decomposes composite ops, so the calls are the ones an export records
(aten.conv2d, aten.linear, aten._native_batch_norm_legit_no_training), with the same shapes.
What an export adds is rebuilt:

- node names, by FX's own namespace from each op's name (`conv2d`, `conv2d_1`, ...);
- the module each op ran in, from forward hooks, as export's nn_module_stack names it;
- which inputs are state: the module's parameters and buffers, by identity.

tests/test_capture.py holds the OpGraph equal, op for op (name, target, cost, module), to the
one torch.export gives on models of every family. A module the recorder cannot follow (a
call it cannot see through, such as a data-dependent branch on a meta tensor) is exported
instead; a module given with `exact=True` always is.
"""

from __future__ import annotations

from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import RESHAPE, OpGraph, OpNode, TensorMeta, reshape_target
from graphcal.precision import Precision


def graph_of_module(module: Any, inputs: tuple, model: str, precision: Precision, exact: bool = False) -> OpGraph:
    """The OpGraph predict costs for `module(*inputs)`: the graph torch.export gives, op for op.
    A module in another floating precision than `precision` is an error, never a cast."""
    from graphcal.load.formats.common import check_precision, dominant_float_dtype
    from graphcal.load.trace import export_module, meta_of

    state = [meta_of(t) for t in (*module.parameters(), *module.buffers())]
    check_precision(dominant_float_dtype([m for m in state if isinstance(m, TensorMeta)]), precision, model)
    if exact:
        return export_module(module, inputs, model)
    try:
        return record_module(module, inputs, model)
    except GraphcalError:
        raise
    except Exception:  # the recorder could not follow the module: torch.export, with its message
        return export_module(module, inputs, model)


def record_module(module: Any, inputs: tuple, model: str) -> OpGraph:
    """Run `module(*inputs)` (eval, no grad) under the pre-dispatch recorder."""
    import torch
    from torch._dispatch.python import enable_python_dispatcher
    from torch.fx.graph import _Namespace

    module.eval()
    paths = {id(m): name for name, m in module.named_modules(remove_duplicate=False)}
    state = {id(t): t for t in (*module.parameters(), *module.buffers())}
    stack: list[str] = []
    nodes: list[OpNode] = []
    used_state: dict[int, int] = {}
    made: dict[int, tuple[str, Any]] = {}  # id of each tensor an op returned -> (its OpNode.sources name, it)
    names = _Namespace()

    def value(arg: Any) -> Any:
        if isinstance(arg, torch.Tensor):
            meta = _meta(arg)
            if id(arg) in state:
                used_state[id(arg)] = meta.nbytes
                return TensorMeta(meta.shape, meta.dtype, persistent=True)
            return meta
        if isinstance(arg, (list, tuple)):
            return tuple(value(a) for a in arg)
        return arg

    def sources(arg: Any):
        """OpNode.sources of an argument: the op that made each tensor, "" for one handed in."""
        if isinstance(arg, torch.Tensor):
            yield made.get(id(arg), ("",))[0]
        elif isinstance(arg, (list, tuple)):
            for item in arg:
                yield from sources(item)

    def record(func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = names.create_name(func.overloadpacket.__name__, None)
        tensors = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, torch.Tensor)]
        target = str(func)
        if target == RESHAPE:  # a view or a copy, by the source's strides, as trace._target tells them
            target = reshape_target(tuple(args[0].shape), tuple(args[0].stride()), tuple(out.shape))
        nodes.append(OpNode(name, target, tuple(value(a) for a in args),
                            {k: value(v) for k, v in kwargs.items()}, tuple(_meta(t) for t in tensors),
                            stack[-1] if stack else "", tuple(sources((args, tuple(kwargs.values()))))))
        # NB: each tensor is kept with its name, so no later tensor can take its id
        made.update({id(t): (name if len(tensors) == 1 else f"{name}.{i}", t) for i, t in enumerate(tensors)})

    def enter(m: Any, _args: Any) -> None:
        stack.append(paths.get(id(m), stack[-1] if stack else ""))

    def leave(m: Any, _args: Any, _out: Any) -> None:
        stack.pop()

    pre = torch.nn.modules.module.register_module_forward_pre_hook(enter)
    post = torch.nn.modules.module.register_module_forward_hook(leave, always_call=True)
    try:
        # NB: ops reach a pre-dispatch mode through the Python dispatcher only; the torch function
        # mode makes modules skip their fused fast paths (nn.TransformerEncoderLayer's, nn.
        # MultiheadAttention's) as they do under torch.export, whose tracing has one too
        with torch.no_grad(), enable_python_dispatcher(), _passthrough_mode(), _Recorder(record):
            module(*inputs)
    finally:
        pre.remove()
        post.remove()
    return OpGraph(model=model, nodes=tuple(nodes), persistent_bytes=sum(used_state.values()))


def _meta(tensor: Any) -> TensorMeta:
    return TensorMeta(tuple(int(d) for d in tensor.shape), str(tensor.dtype).removeprefix("torch."))


def _recorder_class() -> type:
    """A pre-dispatch TorchDispatchMode that hands each call to a callback and runs it below.

    NB: torch admits only its own mode classes at the pre-dispatch key (the slot make_fx's proxy
    mode takes when torch.export traces), so the recorder subclasses that class and replaces
    its tracing with a plain call."""
    import torch
    from torch._dispatch.python import no_python_dispatcher
    from torch.fx.experimental.proxy_tensor import ProxyTorchDispatchMode
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(ProxyTorchDispatchMode):
        def __init__(self, callback: Any) -> None:
            TorchDispatchMode.__init__(self, torch._C.DispatchKey.PreDispatch)
            self._mode_key = torch._C._TorchDispatchModeKey.PROXY
            self.enter_stack = []
            self.callback = callback

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            # NB: below the pre-dispatch key, torch's C++ kernels (the Python dispatcher would run
            # its Python reference kernels: twice the time on the meta device)
            if _recurrent_on_meta(func, args, kwargs):
                out = _recurrent_result(args)
            else:
                with no_python_dispatcher():
                    out = func(*args, **kwargs)
            self.callback(func, args, kwargs, out)
            return out

    return Recorder


# (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
RECURRENT_OPS = frozenset({"aten.lstm.input", "aten.gru.input", "aten.rnn_tanh.input", "aten.rnn_relu.input"})


def _recurrent_on_meta(func: Any, args: tuple, kwargs: dict) -> bool:
    """A recurrent op on a 3-d meta input, called as nn.LSTM, nn.GRU and nn.RNN call it."""
    return (str(func) in RECURRENT_OPS and not kwargs and len(args) == 9 and args[0].device.type == "meta"
            and args[0].dim() == 3)


def _recurrent_result(args: tuple) -> tuple:
    """A recurrent layer's results on the meta device, made from the shapes: run there, it unrolls
    into every step's gate ops (0.1-0.2 s a call). The output is laid out (steps, batch,
    features), transposed where batch_first, and the final states are contiguous, as torch's
    kernels leave them."""
    import torch

    x, hx, bidirectional, batch_first = args[0], args[1], args[7], args[8]
    states = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    features = states[0].shape[-1] * (2 if bidirectional else 1)
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    out = torch.empty(steps, batch, features, dtype=x.dtype, device=x.device)
    return (out.transpose(0, 1) if batch_first else out,
            *(torch.empty(s.shape, dtype=s.dtype, device=s.device) for s in states))


def _passthrough_mode() -> Any:
    """A torch function mode that changes nothing but `has_torch_function`'s answer."""
    from torch.overrides import TorchFunctionMode

    class Passthrough(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            return func(*args, **(kwargs or {}))

    return Passthrough()


_RECORDER: list[type] = []


def _Recorder(callback: Any) -> Any:  # noqa: N802  (used as a class)
    if not _RECORDER:
        _RECORDER.append(_recorder_class())
    return _RECORDER[0](callback)
