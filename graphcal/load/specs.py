"""Built-in workload specs: text like `mlp:8:512x1024x10` that names a small model and its input.

A spec is what `sweep` times and what `predict` costs, so both build the module here, once.
Parsing imports no torch; `build` does. Specs never allocate: predict builds them on the meta
device, so `matmul:200000x200000x200000` costs at once.

Grammar (dimensions are positive integers; `[...]` parts are optional):
    mlp:B:D0xD1x...xDn   Linear layers with bias D0->D1->...->Dn, ReLU between, batch B
    linear:BxINxOUT      one nn.Linear(IN, OUT) with bias on a (B, IN) input
    matmul:MxKxN         A(M, K) @ B(K, N), two activations
    add:N                a + b, two vectors of N elements

Single ops, for `graphcal sweep ops` (each one torch.nn module or functional call):
    conv2d:BxCxHxWxOxK[:sS][:pP][:gG]
                         nn.Conv2d(C, O, K, stride=S, padding=P, groups=G) with bias on a
                         (B, C, H, W) input. Defaults: S=1, P=K//2 ("same" for odd K), G=1.
                         Depthwise: G = C = O (conv2d:1x64x56x56x64x3:g64); pointwise: K = 1.
    conv1d:BxCxLxOxK[:sS][:pP][:gG]
                         nn.Conv1d likewise, on a (B, C, L) input.
    bmm:BxMxKxN          torch.bmm of (B, M, K) and (B, K, N).
    sdpa:BxHxLxD         F.scaled_dot_product_attention(q, k, v), each (B, H, L, D), no mask.
    eltwise:OP:N         one elementwise op on vectors of N elements. Binary (two inputs): add,
                         sub, mul, div. With a Python number: add_scalar (x + 1.0), mul_scalar
                         (x * 0.5). Unary (one input): rsqrt, relu, relu6, leaky_relu, hardswish,
                         hardsigmoid, gelu, gelu_tanh, silu, sigmoid, tanh, exp.
    layer_norm:RxD       nn.LayerNorm(D) on (R, D).
    batch_norm:BxCxHxW   nn.BatchNorm2d(C) in eval mode on (B, C, H, W).
    softmax:RxD          softmax over the last dimension of (R, D).
    maxpool2d:BxCxHxWxK[:sS]
                         nn.MaxPool2d(K, stride=S) on (B, C, H, W); default S = K, no padding.
    avgpool2d:BxCxHxWxK[:sS]
                         nn.AvgPool2d likewise.
    global_avgpool2d:BxCxHxW
                         nn.AdaptiveAvgPool2d(1) on (B, C, H, W).
    embedding:BxLxVxD    nn.Embedding(V, D) looked up with (B, L) int64 indices drawn in [0, V).

Calibration models (graphcal.load.nets), for `graphcal sweep model --per-op`:
    net:NAME:B           a network written from torch.nn (net:res-cnn:4, net:lstm:1, ...).

Options (`:s2`, `:p0`, `:g64`) follow the dimensions in any order; the canonical text (what
`Spec.text` prints and sweep rows carry) lists only those that differ from the default, in the
order s, p, g. Inputs are random (randn, randint), never uninitialised memory, so real timings
see no NaN or denormal values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphcal.errors import GraphcalError

_DIMS = re.compile(r"^[0-9]+(x[0-9]+)*$")
# Bounds that keep parsing and tracing quick: a spec of at most 256 characters (an MLP of 50
# layers of 4-digit widths) and dimensions of at most 2^40 (torch's sizes are int64; what
# dimensions under the bound still overflow is refused by graph_of_spec).
MAX_SPEC_CHARS = 256
MAX_DIM = 2**40


@dataclass(frozen=True)
class SpecKind:
    name: str
    grammar: str
    parse: Callable[[str], tuple]            # body after "name:" -> parameters
    format: Callable[[tuple], str]           # parameters -> body (the canonical text)
    build: Callable[..., tuple[Any, tuple]]  # (params, dtype, device) -> (module, inputs)


SPEC_KINDS: dict[str, SpecKind] = {}


@dataclass(frozen=True)
class Spec:
    kind: SpecKind
    params: tuple

    @property
    def text(self) -> str:
        return f"{self.kind.name}:{self.kind.format(self.params)}"

    def build(self, dtype: str = "float32", device: str = "meta"):
        """(module in eval mode, example inputs) on `device`, tensors of torch dtype `dtype`."""
        return self.kind.build(self.params, dtype, device)


def spec_kind(name: str, grammar: str, parse: Callable[[str], tuple], format: Callable[[tuple], str]):
    """Register a spec kind; decorates its build function."""

    def wrap(build):
        if name in SPEC_KINDS:
            raise RuntimeError(f"spec kind {name} registered twice")
        SPEC_KINDS[name] = SpecKind(name, grammar, parse, format, build)
        return build

    return wrap


def x_joined(params: tuple) -> str:
    return "x".join(map(str, params))


def fixed_dims(name: str, count: int, grammar: str) -> Callable[[str], tuple]:
    """A parser for `name:AxBx...` with exactly `count` dimensions."""
    return lambda body: dims(body, count, f"{name}:{body}", grammar)


def looks_like_spec(text: str) -> bool:
    return ":" in text and text.split(":", 1)[0] in SPEC_KINDS


def parse_spec(text: str) -> Spec:
    if len(text) > MAX_SPEC_CHARS:
        raise GraphcalError(f"workload spec {text[:40]!r}... is {len(text)} characters long; at most {MAX_SPEC_CHARS}")
    name, _, body = text.partition(":")
    kind = SPEC_KINDS.get(name)
    if kind is None:
        raise GraphcalError(f"unknown workload kind {name!r}: known kinds are {', '.join(SPEC_KINDS)}")
    return Spec(kind, kind.parse(body))


def dims(body: str, count: int | None, spec_text: str, grammar: str) -> tuple[int, ...]:
    """Parse `AxBxC` into positive ints, checking how many there are."""
    if not _DIMS.match(body):
        raise GraphcalError(f"malformed workload spec {spec_text!r}: expected {grammar}")
    values = tuple(int(v) for v in body.split("x"))
    if count is not None and len(values) != count:
        raise GraphcalError(f"malformed workload spec {spec_text!r}: expected {grammar}")
    if any(v <= 0 for v in values):
        raise GraphcalError(f"workload spec {spec_text!r}: every dimension must be positive")
    if any(v > MAX_DIM for v in values):
        raise GraphcalError(f"workload spec {spec_text[:80]!r}: a dimension is larger than 2^40")
    return values


def _torch_dtype(dtype: str):
    import torch

    return getattr(torch, dtype)


# --- the kinds ----------------------------------------------------------------------------------

def _parse_mlp(body: str) -> tuple:
    grammar = "mlp:B:D0xD1x...xDn"
    batch, _, widths = body.partition(":")
    (b,) = dims(batch, 1, f"mlp:{body}", grammar)
    layers = dims(widths, None, f"mlp:{body}", grammar)
    if len(layers) < 2:
        raise GraphcalError(f"malformed workload spec 'mlp:{body}': an MLP needs at least two widths")
    return (b, layers)


@spec_kind("mlp", "mlp:B:D0xD1x...xDn", _parse_mlp, lambda p: f"{p[0]}:{x_joined(p[1])}")
def _build_mlp(params, dtype, device):
    import torch

    batch, widths = params
    with torch.device(device):
        layers: list[torch.nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(widths, widths[1:])):
            if i:
                layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Linear(d_in, d_out))
        module = torch.nn.Sequential(*layers).to(_torch_dtype(dtype)).eval()
        x = torch.randn(batch, widths[0], dtype=_torch_dtype(dtype))
    return module, (x,)


@spec_kind("linear", "linear:BxINxOUT", fixed_dims("linear", 3, "linear:BxINxOUT"), x_joined)
def _build_linear(params, dtype, device):
    import torch

    batch, d_in, d_out = params
    with torch.device(device):
        module = torch.nn.Linear(d_in, d_out).to(_torch_dtype(dtype)).eval()
        x = torch.randn(batch, d_in, dtype=_torch_dtype(dtype))
    return module, (x,)


def _module_classes():
    import torch

    class MatMul(torch.nn.Module):
        def forward(self, a, b):
            return a @ b

    class Add(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    return MatMul, Add


@spec_kind("matmul", "matmul:MxKxN", fixed_dims("matmul", 3, "matmul:MxKxN"), x_joined)
def _build_matmul(params, dtype, device):
    import torch

    m, k, n = params
    matmul_cls, _ = _module_classes()
    t = _torch_dtype(dtype)
    return matmul_cls().eval(), (
        torch.randn(m, k, dtype=t, device=device),
        torch.randn(k, n, dtype=t, device=device),
    )


@spec_kind("add", "add:N", fixed_dims("add", 1, "add:N"), x_joined)
def _build_add(params, dtype, device):
    import torch

    (n,) = params
    _, add_cls = _module_classes()
    t = _torch_dtype(dtype)
    return add_cls().eval(), (
        torch.randn(n, dtype=t, device=device),
        torch.randn(n, dtype=t, device=device),
    )


# --- single ops (graphcal sweep ops) -----------------------------------------------------------

def _function_module(fn):
    """An nn.Module whose forward is `fn(*inputs)` (for ops that have no module of their own)."""
    import torch

    class Call(torch.nn.Module):
        def forward(self, *inputs):
            return fn(*inputs)

    return Call()


def _dims_and_options(name: str, body: str, count: int, grammar: str, defaults: dict[str, int | None]):
    """Parse `AxBx...[:xN]...`: `count` positive dimensions, then options named by one letter.

    `defaults` maps each allowed option letter to its default (None: computed by the kind).
    Returns (dims, {letter: value or None}). Padding (`p`) may be 0; other options must be > 0.
    """
    text = f"{name}:{body}"
    head, *parts = body.split(":")
    values = dims(head, count, text, grammar)
    options: dict[str, int | None] = dict(defaults)
    seen: set[str] = set()
    for part in parts:
        letter, digits = part[:1], part[1:]
        if letter not in defaults or not digits.isdigit() or letter in seen:
            raise GraphcalError(f"malformed workload spec {text!r}: expected {grammar}")
        seen.add(letter)
        options[letter] = int(digits)
        if options[letter] <= 0 and letter != "p":
            raise GraphcalError(f"workload spec {text!r}: option {letter} must be positive")
    return values, options


def _option_suffix(values: dict[str, int], defaults: dict[str, int]) -> str:
    return "".join(f":{k}{v}" for k, v in values.items() if v != defaults[k])


def _conv_parser(name: str, spatial: int):
    grammar = f"{name}:{'BxCxHxWxOxK' if spatial == 2 else 'BxCxLxOxK'}[:sS][:pP][:gG]"

    def parse(body: str) -> tuple:
        shape, opt = _dims_and_options(name, body, 4 + spatial, grammar, {"s": 1, "p": None, "g": 1})
        c, o, k = shape[1], shape[-2], shape[-1]
        pad = k // 2 if opt["p"] is None else opt["p"]
        stride, groups = opt["s"], opt["g"]
        if c % groups or o % groups:
            raise GraphcalError(f"workload spec '{name}:{body}': groups {groups} must divide C={c} and O={o}")
        if any((size + 2 * pad - k) // stride + 1 < 1 for size in shape[2:2 + spatial]):
            raise GraphcalError(f"workload spec '{name}:{body}': kernel {k} is larger than the padded input")
        return shape + (stride, pad, groups)

    def fmt(params: tuple) -> str:
        shape, (stride, pad, groups) = params[:-3], params[-3:]
        defaults = {"s": 1, "p": shape[-1] // 2, "g": 1}
        return x_joined(shape) + _option_suffix({"s": stride, "p": pad, "g": groups}, defaults)

    return grammar, parse, fmt


def _register_conv(name: str, spatial: int) -> None:
    grammar, parse, fmt = _conv_parser(name, spatial)

    @spec_kind(name, grammar, parse, fmt)
    def build(params, dtype, device):
        import torch

        *shape, stride, pad, groups = params
        batch, c, *sizes, o, k = shape
        conv = torch.nn.Conv2d if spatial == 2 else torch.nn.Conv1d
        t = _torch_dtype(dtype)
        with torch.device(device):
            module = conv(c, o, k, stride=stride, padding=pad, groups=groups).to(t).eval()
            x = torch.randn(batch, c, *sizes, dtype=t)
        return module, (x,)


_register_conv("conv2d", 2)
_register_conv("conv1d", 1)


@spec_kind("bmm", "bmm:BxMxKxN", fixed_dims("bmm", 4, "bmm:BxMxKxN"), x_joined)
def _build_bmm(params, dtype, device):
    import torch

    b, m, k, n = params
    t = _torch_dtype(dtype)
    a = torch.randn(b, m, k, dtype=t, device=device)
    return _function_module(torch.bmm).eval(), (a, torch.randn(b, k, n, dtype=t, device=device))


@spec_kind("sdpa", "sdpa:BxHxLxD", fixed_dims("sdpa", 4, "sdpa:BxHxLxD"), x_joined)
def _build_sdpa(params, dtype, device):
    import torch

    t = _torch_dtype(dtype)
    qkv = tuple(torch.randn(*params, dtype=t, device=device) for _ in range(3))
    return _function_module(torch.nn.functional.scaled_dot_product_attention).eval(), qkv


def _eltwise_ops() -> dict[str, tuple[int, Callable]]:
    """OP -> (number of inputs, function)."""
    import torch
    import torch.nn.functional as F

    return {
        "add": (2, torch.add), "sub": (2, torch.sub), "mul": (2, torch.mul), "div": (2, torch.div),
        "add_scalar": (1, lambda x: x + 1.0), "mul_scalar": (1, lambda x: x * 0.5), "rsqrt": (1, torch.rsqrt),
        "relu": (1, F.relu), "relu6": (1, F.relu6), "leaky_relu": (1, F.leaky_relu),
        "hardswish": (1, F.hardswish), "hardsigmoid": (1, F.hardsigmoid), "gelu": (1, F.gelu),
        "gelu_tanh": (1, lambda x: F.gelu(x, approximate="tanh")), "silu": (1, F.silu),
        "sigmoid": (1, torch.sigmoid), "tanh": (1, torch.tanh), "exp": (1, torch.exp),
    }


ELTWISE_OPS = (
    "add", "sub", "mul", "div", "add_scalar", "mul_scalar", "rsqrt", "relu", "relu6", "leaky_relu", "hardswish",
    "hardsigmoid", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "exp",
)


def _parse_eltwise(body: str) -> tuple:
    grammar = "eltwise:OP:N"
    op, _, size = body.partition(":")
    if op not in ELTWISE_OPS:
        raise GraphcalError(f"workload spec 'eltwise:{body}': unknown op {op!r}; known: {', '.join(ELTWISE_OPS)}")
    return (op,) + dims(size, 1, f"eltwise:{body}", grammar)


@spec_kind("eltwise", "eltwise:OP:N", _parse_eltwise, lambda p: f"{p[0]}:{p[1]}")
def _build_eltwise(params, dtype, device):
    import torch

    op, n = params
    arity, fn = _eltwise_ops()[op]
    t = _torch_dtype(dtype)
    return _function_module(fn).eval(), tuple(torch.randn(n, dtype=t, device=device) for _ in range(arity))


def _simple_kind(name: str, grammar_dims: str, make_module, make_input=None):
    """A kind `name:AxBx...` whose module is `make_module(*dims)` on one randn input of those dims."""
    grammar = f"{name}:{grammar_dims}"

    @spec_kind(name, grammar, fixed_dims(name, grammar_dims.count("x") + 1, grammar), x_joined)
    def build(params, dtype, device):
        import torch

        t = _torch_dtype(dtype)
        with torch.device(device):
            module = make_module(*params).to(t).eval()
            x = make_input(params, t) if make_input else torch.randn(*params, dtype=t)
        return module, (x,)


def _nn():
    import torch

    return torch.nn


_simple_kind("layer_norm", "RxD", lambda r, d: _nn().LayerNorm(d))
_simple_kind("batch_norm", "BxCxHxW", lambda b, c, h, w: _nn().BatchNorm2d(c))
_simple_kind("softmax", "RxD", lambda r, d: _nn().Softmax(dim=-1))
_simple_kind("global_avgpool2d", "BxCxHxW", lambda b, c, h, w: _nn().AdaptiveAvgPool2d(1))


def _embedding_input(params, t):
    import torch

    b, length, vocab, _ = params
    return torch.randint(0, vocab, (b, length), dtype=torch.int64)


_simple_kind("embedding", "BxLxVxD", lambda b, length, v, d: _nn().Embedding(v, d), _embedding_input)


def _pool_parser(name: str, spatial: int):
    grammar = f"{name}:BxCx{'HxW' if spatial == 2 else 'L'}xK[:sS]"

    def parse(body: str) -> tuple:
        shape, opt = _dims_and_options(name, body, 3 + spatial, grammar, {"s": None})
        k = shape[-1]
        if k > min(shape[2:2 + spatial]):
            raise GraphcalError(f"workload spec '{name}:{body}': kernel {k} is larger than the input")
        return shape + (opt["s"] or k,)

    def fmt(params: tuple) -> str:
        return x_joined(params[:-1]) + _option_suffix({"s": params[-1]}, {"s": params[-2]})

    return grammar, parse, fmt


def _register_pool(name: str, module_name: str, spatial: int) -> None:
    grammar, parse, fmt = _pool_parser(name, spatial)

    @spec_kind(name, grammar, parse, fmt)
    def build(params, dtype, device):
        import torch

        b, c, *sizes, k, stride = params
        t = _torch_dtype(dtype)
        module = getattr(torch.nn, module_name)(k, stride=stride).eval()
        return module, (torch.randn(b, c, *sizes, dtype=t, device=device),)


_register_pool("maxpool2d", "MaxPool2d", 2)
_register_pool("avgpool2d", "AvgPool2d", 2)
_register_pool("maxpool1d", "MaxPool1d", 1)
_register_pool("avgpool1d", "AvgPool1d", 1)


from graphcal.load import nets  # noqa: E402, F401  (registers net:NAME:B; it needs the helpers above)
