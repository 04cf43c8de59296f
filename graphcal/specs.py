"""Built-in workload specs: text like `mlp:8:512x1024x10` that names a small model and its input.

A spec is what `sweep` times and what `predict` costs, so both build the module here, once.
Parsing imports no torch; `build` does. Specs never allocate: predict builds them on the meta
device, so `matmul:200000x200000x200000` costs at once.

Grammar (dimensions are positive integers):
    mlp:B:D0xD1x...xDn   Linear layers with bias D0->D1->...->Dn, ReLU between, batch B
    linear:BxINxOUT      one nn.Linear(IN, OUT) with bias on a (B, IN) input
    matmul:MxKxN         A(M, K) @ B(K, N), two activations
    add:N                a + b, two vectors of N elements
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from graphcal.errors import GraphcalError

_DIMS = re.compile(r"^[0-9]+(x[0-9]+)*$")


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
        x = torch.empty(batch, widths[0], dtype=_torch_dtype(dtype))
    return module, (x,)


@spec_kind("linear", "linear:BxINxOUT", fixed_dims("linear", 3, "linear:BxINxOUT"), x_joined)
def _build_linear(params, dtype, device):
    import torch

    batch, d_in, d_out = params
    with torch.device(device):
        module = torch.nn.Linear(d_in, d_out).to(_torch_dtype(dtype)).eval()
        x = torch.empty(batch, d_in, dtype=_torch_dtype(dtype))
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
        torch.empty(m, k, dtype=t, device=device),
        torch.empty(k, n, dtype=t, device=device),
    )


@spec_kind("add", "add:N", fixed_dims("add", 1, "add:N"), x_joined)
def _build_add(params, dtype, device):
    import torch

    (n,) = params
    _, add_cls = _module_classes()
    t = _torch_dtype(dtype)
    return add_cls().eval(), (
        torch.empty(n, dtype=t, device=device),
        torch.empty(n, dtype=t, device=device),
    )
