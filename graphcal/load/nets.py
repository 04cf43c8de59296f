"""Calibration models: networks written from torch.nn alone, named by the spec `net:NAME:B`.

`graphcal sweep model --per-op` times them op by op for the model grid (sweeps/models-default):
every op family graphcal costs appears inside a model here, at a width where its weights and
activations leave the caches as they do in real models. They are not the validation models
(benchmarks/validate_accuracy.py keeps its own architectures and sizes apart from these).

Each entry builds (module, inputs) for a batch B on any device; inputs are random (randn,
randint) so timings never see NaN or denormals. torch is imported only when a net is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.specs import dims, spec_kind

NET_GRAMMAR = "net:NAME:B"


def _nn():
    import torch
    from torch import nn

    return torch, nn


def _conv_bn(nn, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act=None):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def _inverted_residual(nn, cin: int, cout: int, stride: int, expand: int, act, se: bool):
    hidden = cin * expand

    class SqueezeExcite(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.reduce = nn.Conv2d(channels, max(8, channels // 4), 1)
            self.expand = nn.Conv2d(max(8, channels // 4), channels, 1)
            self.act, self.gate = nn.ReLU(), nn.Hardsigmoid()

        def forward(self, x):
            return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.expand = _conv_bn(nn, cin, hidden, 1, act=act)
            self.depthwise = _conv_bn(nn, hidden, hidden, 3, stride, groups=hidden, act=act)
            self.se = SqueezeExcite(hidden) if se else nn.Identity()
            self.project = _conv_bn(nn, hidden, cout, 1)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.project(self.se(self.depthwise(self.expand(x))))
            return x + y if self.residual else y

    return Block()


def mobile_cnn(batch: int, device: str, act_name: str, se: bool, size: int = 160):
    """MobileNet-style: a strided stem, inverted residual blocks (1x1 expand, 3x3 depthwise,
    optional squeeze-excite, 1x1 project), global pooling and a classifier."""
    torch, nn = _nn()
    act = {"relu6": nn.ReLU6, "hardswish": nn.Hardswish}[act_name]
    plan = [(24, 2, 4), (24, 1, 4), (40, 2, 4), (40, 1, 4), (80, 2, 6), (80, 1, 6), (112, 1, 6), (160, 2, 6)]
    blocks, cin = [], 16
    for cout, stride, expand in plan:
        blocks.append(_inverted_residual(nn, cin, cout, stride, expand, act, se))
        cin = cout
    module = nn.Sequential(
        _conv_bn(nn, 3, 16, 3, 2, act=act), *blocks, _conv_bn(nn, cin, 640, 1, act=act),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(640, 1000),
    )
    return module.to(device), (torch.randn(batch, 3, size, size, device=device),)


def res_cnn(batch: int, device: str, size: int = 160, width: int = 48):
    """ResNet-style: 7x7 stem, max-pool, basic blocks (3x3 conv, batch norm, ReLU) in four
    stages, global average pooling, a classifier."""
    torch, nn = _nn()

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(_conv_bn(nn, cin, cout, 3, stride, act=nn.ReLU), _conv_bn(nn, cout, cout, 3))
            self.skip = _conv_bn(nn, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.skip(x))

    stages, cin = [], width
    for i, stride in enumerate((1, 2, 2, 2)):
        cout = width * 2**i
        stages += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
        cin = cout
    module = nn.Sequential(
        _conv_bn(nn, 3, width, 7, 2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1), *stages,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000),
    )
    return module.to(device), (torch.randn(batch, 3, size, size, device=device),)


def text_encoder(batch: int, device: str, length: int = 128, dim: int = 512, layers: int = 4, vocab: int = 16000):
    """Transformer encoder written op by op (no fused fast path): token and position
    embeddings, pre-norm blocks of multi-head attention (SDPA) and a GELU MLP, a final norm.
    4 blocks of width 512 hold 50 MB of weights: more than the last-level cache of most CPUs."""
    torch, nn = _nn()
    heads = dim // 64

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, heads, 64).permute(2, 0, 3, 1, 4)
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            x = x + self.out(a.transpose(1, 2).reshape(b, n, dim))
            return x + self.mlp(self.norm2(x))

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(length, dim)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.norm = nn.LayerNorm(dim)

        def forward(self, ids):
            positions = torch.arange(ids.shape[1], device=ids.device)
            return self.norm(self.blocks(self.tokens(ids) + self.positions(positions)))

    return Encoder().to(device), (torch.randint(0, vocab, (batch, length), device=device),)


def decoder_lm(batch: int, device: str, tokens: int, cached: int, dim: int, layers: int, hidden: int, vocab: int,
               kv_heads: int):
    """A decoder-only language model written op by op, run over `tokens` new tokens per
    sequence: a token embedding, pre-norm blocks (RMS norm; grouped-query attention, dim/64 query
    and `kv_heads` key/value heads of 64; a SiLU-gated MLP of `hidden`), a final norm and a head
    over the vocabulary. With `cached` > 0, a decode step: the attention also reads a key/value
    cache of `cached` tokens held as buffers and extended by concatenation. With `cached` = 0, a
    prefill: causal attention over the prompt, and the head for its last token only."""
    torch, nn = _nn()
    heads, head = dim // 64, 64
    repeat = heads // kv_heads

    class RMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def grouped(t, b):
        """(b, kv_heads, n, head) keys or values, each key/value head repeated for its query heads."""
        return t[:, :, None].expand(b, kv_heads, repeat, t.shape[2], head).reshape(b, heads, -1, head)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = RMSNorm(), RMSNorm()
            self.q = nn.Linear(dim, heads * head, bias=False)
            self.kv = nn.Linear(dim, 2 * kv_heads * head, bias=False)
            self.o = nn.Linear(heads * head, dim, bias=False)
            self.gate, self.up = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
            self.down = nn.Linear(hidden, dim, bias=False)
            if cached:
                self.register_buffer("keys", torch.randn(batch, kv_heads, cached, head))
                self.register_buffer("values", torch.randn(batch, kv_heads, cached, head))

        def forward(self, x):
            b, n, _ = x.shape
            h = self.norm1(x)
            q = self.q(h).reshape(b, n, heads, head).transpose(1, 2)
            k, v = self.kv(h).reshape(b, n, 2, kv_heads, head).permute(2, 0, 3, 1, 4)
            if cached:
                k, v = torch.cat([self.keys, k], dim=2), torch.cat([self.values, v], dim=2)
            a = torch.nn.functional.scaled_dot_product_attention(q, grouped(k, b), grouped(v, b),
                                                                 is_causal=not cached)
            x = x + self.o(a.transpose(1, 2).reshape(b, n, heads * head))
            h = self.norm2(x)
            return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(vocab, dim)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.norm, self.head = RMSNorm(), nn.Linear(dim, vocab, bias=False)

        def forward(self, ids):
            x = self.blocks(self.tokens(ids))
            return self.head(self.norm(x if cached else x[:, -1]))

    return Decoder().to(device), (torch.randint(0, vocab, (batch, tokens), device=device),)


def decoder_step(batch: int, device: str, cached: int = 96, dim: int = 640, layers: int = 6, hidden: int = 1728,
                 vocab: int = 32000):
    """One decode step of a decoder LM (decoder_lm), 2 key/value heads (1 below width 512), over
    a key/value cache of `cached` tokens. Each projection is a matrix-vector product per
    sequence, over rows of `dim` or `hidden`; at width 640 the 47 M weights it reads (188 MB
    fp32, the embedding table aside), at width 320 the 19 M (75 MB), at width 1024 (8 blocks,
    the prefill's model) the 96 M (385 MB): beyond the last-level cache of most CPUs, the third
    beyond that of servers too, their weights stream from DRAM on every step, as an LLM's
    decode does."""
    return decoder_lm(batch, device, 1, cached, dim, layers, hidden, vocab, kv_heads=1 if dim < 512 else 2)


def prefill(batch: int, device: str, prompt: int = 32, dim: int = 1024, layers: int = 8, hidden: int = 2816,
            vocab: int = 8000):
    """The prefill of a decoder LM (decoder_lm) over a prompt of `prompt` tokens, 4 key/value
    heads. Each projection is a GEMM of `prompt` rows on weights the other layers evicted: 90 M
    weights in the blocks and 16 M in the embedding and head (425 MB fp32), beyond the
    last-level cache of most CPUs, as in an LLM's time to first token."""
    return decoder_lm(batch, device, prompt, 0, dim, layers, hidden, vocab, kv_heads=4)


def recurrent(batch: int, device: str, cell: str, steps: int = 48, features: int = 128, hidden: int = 384):
    """A two-layer LSTM or GRU over a sequence, then a linear head on the last step."""
    torch, nn = _nn()
    rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](features, hidden, num_layers=2, batch_first=True)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = rnn, nn.Linear(hidden, 32)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    return Net().to(device), (torch.randn(batch, steps, features, device=device),)


def audio_conv1d(batch: int, device: str, samples: int = 16000):
    """Conv1d stack on raw audio: strided wide first layer, conv / batch norm / ReLU / max-pool
    stages, global average pooling, a linear head."""
    torch, nn = _nn()
    layers, cin = [nn.Conv1d(1, 48, 80, stride=4), nn.BatchNorm1d(48), nn.ReLU(), nn.MaxPool1d(4)], 48
    for cout in (48, 96, 192):
        layers += [nn.Conv1d(cin, cout, 3, padding=1), nn.BatchNorm1d(cout), nn.ReLU(), nn.MaxPool1d(4)]
        cin = cout
    module = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(cin, 35))
    return module.to(device), (torch.randn(batch, 1, samples, device=device),)


def bag_of_embeddings(batch: int, device: str, length: int = 256, vocab: int = 50000, dim: int = 256):
    """Text classifier: an embedding lookup, mean over tokens, a two-layer MLP head."""
    torch, nn = _nn()

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.head = nn.Sequential(nn.Linear(dim, 512), nn.ReLU(), nn.Linear(512, 20))

        def forward(self, ids):
            return self.head(self.embed(ids).mean(dim=1))

    return Net().to(device), (torch.randint(0, vocab, (batch, length), device=device),)


NETS: dict[str, tuple[str, Callable[..., tuple[Any, tuple]]]] = {
    "mobile-relu6": ("MobileNetV2-style CNN, 160 px: depthwise, batch norm, ReLU6",
                     lambda b, d: mobile_cnn(b, d, "relu6", se=False)),
    "mobile-hswish-se": ("MobileNetV3-style CNN, 160 px: depthwise, squeeze-excite, hardswish",
                         lambda b, d: mobile_cnn(b, d, "hardswish", se=True)),
    "res-cnn": ("ResNet-style CNN, 160 px: 3x3 convs, batch norm, ReLU, max-pool", res_cnn),
    "text-encoder": ("transformer encoder, 4 pre-norm blocks of width 512, 128 tokens", text_encoder),
    "decoder-step": ("one decode step of a 6-block decoder LM of width 640 (67 M weights), cache of 96",
                     decoder_step),
    "decoder-step-narrow": ("one decode step of an 8-block decoder LM of width 320 (29 M weights), cache of 96",
                            lambda b, d: decoder_step(b, d, dim=320, layers=8, hidden=864)),
    "decoder-step-wide": ("one decode step of the prefill's decoder LM (8 blocks of width 1024, 104 M weights), "
                          "cache of 96", lambda b, d: decoder_step(b, d, dim=1024, layers=8, hidden=2816, vocab=8000)),
    "prefill": ("the prefill of an 8-block decoder LM of width 1024 (106 M weights) over 32 tokens", prefill),
    "lstm": ("2-layer LSTM, hidden 384, 48 steps", lambda b, d: recurrent(b, d, "lstm")),
    "gru": ("2-layer GRU, hidden 384, 48 steps", lambda b, d: recurrent(b, d, "gru")),
    "lstm-wide": ("2-layer LSTM, hidden 1024, 32 steps: weights (55 MB) beyond the private caches",
                  lambda b, d: recurrent(b, d, "lstm", steps=32, features=256, hidden=1024)),
    "gru-wide": ("2-layer GRU, hidden 1024, 32 steps: weights (41 MB) beyond the private caches",
                 lambda b, d: recurrent(b, d, "gru", steps=32, features=256, hidden=1024)),
    "audio-conv1d": ("Conv1d stack on 1 s of 16 kHz audio", audio_conv1d),
    "embedding-bag": ("embedding lookup (50k x 256), mean, MLP head", bag_of_embeddings),
}


def _parse_net(body: str) -> tuple:
    name, _, batch = body.rpartition(":")
    if name not in NETS:
        raise GraphcalError(f"unknown calibration net {name!r} in net:{body}; known: {', '.join(NETS)}")
    return (name, *dims(batch, 1, f"net:{body}", NET_GRAMMAR))


@spec_kind("net", NET_GRAMMAR, _parse_net, lambda params: f"{params[0]}:{params[1]}")
def _build_net(params, dtype, device):
    import torch

    name, batch = params
    with torch.device(device):  # on the meta device no weight is drawn: costing a net takes milliseconds
        module, inputs = NETS[name][1](batch, device)
    t = getattr(torch, dtype)
    module = module.to(t).eval()
    return module, tuple(x.to(t) if x.is_floating_point() else x for x in inputs)
