"""Validation models from families the calibration never saw, written from torch.nn.

`ZOO` maps a name to (factory, input builder); every factory takes no argument (its defaults are
the sizes timed), so each is usable as a MODEL: `graphcal predict benchmarks.zoo:resnet
--input-shape 1x3x112x112` (`input_shapes` gives the --input-shape texts of an entry). Sizes are
chosen so one forward pass takes about 1-100 ms on a 2-core machine: big enough to be more than
call overhead, small enough to time many rounds.

`HF_ZOO` holds the same kind of entries built with transformers (BERT, GPT-2, ViT from small
configs, random weights, never downloaded, return_dict=False); its factories import transformers
when called, so this module imports without it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, causal: bool = False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm transformer block (GPT-2, ViT) or post-norm (BERT)."""

    def __init__(self, dim: int, heads: int, causal: bool = False, pre_norm: bool = True):
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = Attention(dim, heads, causal)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        if self.pre_norm:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.mlp(x))


class TextTransformer(nn.Module):
    """BERT-style (post-norm, bidirectional) or GPT-2-style (pre-norm, causal) encoder."""

    def __init__(self, vocab=8000, dim=256, heads=4, layers=4, max_len=512, causal=False):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, causal, pre_norm=causal) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class ViT(nn.Module):
    def __init__(self, image=96, patch=16, dim=256, heads=4, layers=4, classes=100):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        tokens = (image // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(layers)))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


def resnet(width: int = 32, classes: int = 100) -> nn.Module:
    """ResNet-18-shaped, narrower."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
    ]
    cin = width
    for i, mult in enumerate((1, 2, 4, 8)):
        cout = width * mult
        layers += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def vgg(width: int = 16, classes: int = 100) -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for mult, convs in ((1, 2), (2, 2), (4, 3), (8, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(cin, width * mult, 3, padding=1), nn.ReLU()]
            cin = width * mult
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project; optional squeeze-excite (EfficientNet)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, act=nn.ReLU6, se: bool = False):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act())
        self.dw = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), act()
        )
        self.se = (
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden, hidden // 4, 1), nn.SiLU(),
                          nn.Conv2d(hidden // 4, hidden, 1), nn.Sigmoid())
            if se else None
        )
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.dw(self.expand(x))
        if self.se is not None:
            y = y * self.se(y)
        y = self.project(y)
        return x + y if self.use_res else y


def mobilenet(width: int = 16, classes: int = 100, act=nn.ReLU6, se: bool = False) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), act()]
    cin = width
    for mult, stride in ((1, 1), (2, 2), (2, 1), (4, 2), (4, 1), (6, 2), (8, 1)):
        layers.append(InvertedResidual(cin, width * mult, stride, expand=4, act=act, se=se))
        cin = width * mult
    layers += [nn.Conv2d(cin, 4 * cin, 1), act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * cin, classes)]
    return nn.Sequential(*layers)


def efficientnet() -> nn.Module:
    return mobilenet(width=16, act=nn.SiLU, se=True)


def conv1d_audio(channels: int = 64, classes: int = 35) -> nn.Module:
    """An M5-style raw-audio classifier."""
    return nn.Sequential(
        nn.Conv1d(1, channels, 80, stride=4), nn.BatchNorm1d(channels), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(channels, channels, 3), nn.BatchNorm1d(channels), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(channels, 2 * channels, 3), nn.BatchNorm1d(2 * channels), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(2 * channels, 2 * channels, 3), nn.BatchNorm1d(2 * channels), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(2 * channels, classes),
    )


def transformer_encoder(dim: int = 256, heads: int = 4, layers: int = 4) -> nn.Module:
    layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def bert() -> nn.Module:
    return TextTransformer(causal=False)


def gpt2() -> nn.Module:
    return TextTransformer(causal=True)


def vit() -> nn.Module:
    return ViT()


def _ids(batch: int, length: int):
    return lambda: (torch.randint(0, 8000, (batch, length)),)


def _x(*shape: int):
    return lambda: (torch.randn(*shape),)


# name -> (factory, inputs); the set the accuracy benchmark times
ZOO = {
    "bert-style b1 s128": (bert, _ids(1, 128)),
    "gpt2-style b1 s128": (gpt2, _ids(1, 128)),
    "vit-style b1 96px": (vit, _x(1, 3, 96, 96)),
    "resnet18-narrow b1 112px": (resnet, _x(1, 3, 112, 112)),
    "vgg-narrow b1 64px": (vgg, _x(1, 3, 64, 64)),
    "mobilenetv2-style b1 112px": (mobilenet, _x(1, 3, 112, 112)),
    "efficientnet-style b1 112px": (efficientnet, _x(1, 3, 112, 112)),
    "transformer-encoder b4 s64": (transformer_encoder, _x(4, 64, 256)),
    "conv1d-audio b4 8000": (conv1d_audio, _x(4, 1, 8000)),
}


# --- transformers models (optional dependency) ---------------------------------------------
# NB: sizes match the torch.nn versions above (d=256, 4 heads, 4 layers, ff=1024, vocab 8000) so
# the two implementations of one family can be compared.

def hf_bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=512, return_dict=False)
    return BertModel(config, add_pooling_layer=False)


def hf_gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=8000, n_embd=256, n_layer=4, n_head=4, n_positions=512,
                        use_cache=False, return_dict=False)
    return GPT2Model(config)


def hf_vit() -> nn.Module:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(image_size=96, patch_size=16, hidden_size=256, num_hidden_layers=4,
                       num_attention_heads=4, intermediate_size=1024, return_dict=False)
    return ViTModel(config, add_pooling_layer=False)


HF_ZOO = {
    "hf-bert b1 s128": (hf_bert, _ids(1, 128)),
    "hf-gpt2 b1 s128": (hf_gpt2, _ids(1, 128)),
    "hf-vit b1 96px": (hf_vit, _x(1, 3, 96, 96)),
}


# --- full-size models: what the accuracy targets count ----------------------------------------
# Real widths and depths (sequence 128, 224x224 images): weights and activations far beyond the
# caches, which narrowed stand-ins hide. BERT-base and GPT-2 come from transformers' default
# configs, ResNet-50, MobileNetV2, ConvNeXt-T and ViT-B/16 from torchvision's definitions (random
# weights; nothing is downloaded). torchvision's only wheel here is a CUDA build whose C extension
# does not load with the CPU torch: its pure-Python models import once the two operator schemas
# it registers fakes for exist (done here, never inside graphcal).

_SCHEMAS: list = []  # keeps the registration alive


def define_torchvision_schemas() -> None:
    """Define torchvision::nms and ::qnms (once) so that torchvision's Python code imports; also
    needed before transformers, which imports torchvision when it is installed."""
    if _SCHEMAS:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018  (defined by a loadable torchvision extension)
        return
    except (AttributeError, RuntimeError):
        pass
    library = torch.library.Library("torchvision", "FRAGMENT")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold, Tensor reference) -> Tensor")
    _SCHEMAS.append(library)


def _torchvision_models():
    define_torchvision_schemas()
    import torchvision.models

    return torchvision.models


def bert_base() -> nn.Module:
    define_torchvision_schemas()
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    return BertModel(BertConfig(return_dict=False), add_pooling_layer=False)


def gpt2_small() -> nn.Module:
    define_torchvision_schemas()
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    return GPT2Model(GPT2Config(use_cache=False, return_dict=False))


def vit_b_16() -> nn.Module:
    return _torchvision_models().vit_b_16()


def resnet50() -> nn.Module:
    return _torchvision_models().resnet50()


def mobilenet_v2() -> nn.Module:
    return _torchvision_models().mobilenet_v2()


def convnext_tiny() -> nn.Module:
    return _torchvision_models().convnext_tiny()


class LSTMNet(nn.Module):
    """2-layer LSTM, 512 hidden, over 64 steps of 256 features, a linear head on the last step."""

    def __init__(self, cell=nn.LSTM, hidden: int = 512) -> None:
        super().__init__()
        self.rnn, self.head = cell(256, hidden, num_layers=2, batch_first=True), nn.Linear(hidden, 10)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def lstm_net() -> nn.Module:
    return LSTMNet()


def gru_net() -> nn.Module:
    return LSTMNet(nn.GRU, hidden=768)


def m5_audio() -> nn.Module:
    """M5 (Dai et al. 2017) at its published width, 128 channels, on 1 s of 16 kHz audio."""
    return conv1d_audio(channels=128)


FULL_ZOO = {
    "bert-base b1 s128": (bert_base, _ids(1, 128)),
    "gpt2 b1 s128": (gpt2_small, _ids(1, 128)),
    "vit-b/16 b1 224px": (vit_b_16, _x(1, 3, 224, 224)),
    "resnet50 b1 224px": (resnet50, _x(1, 3, 224, 224)),
    "mobilenet_v2 b1 224px": (mobilenet_v2, _x(1, 3, 224, 224)),
    "convnext_tiny b1 224px": (convnext_tiny, _x(1, 3, 224, 224)),
    "lstm 2x512 b8 t64": (lstm_net, _x(8, 64, 256)),
    "gru 2x768 b4 t64": (gru_net, _x(4, 64, 256)),
    "m5-audio b4 16000": (m5_audio, _x(4, 1, 16000)),
}


def full_zoo_available() -> tuple[dict, list[str]]:
    """The FULL_ZOO entries whose libraries import here, and a note per missing library."""
    import importlib.util

    entries, notes = {}, []
    for name, entry in FULL_ZOO.items():
        needs = "transformers" if entry[0] in (bert_base, gpt2_small) else (
            "torchvision" if entry[0] in (vit_b_16, resnet50, mobilenet_v2, convnext_tiny) else None)
        if needs and importlib.util.find_spec(needs) is None:
            how = "pip install --no-deps torchvision pillow" if needs == "torchvision" else f"pip install {needs}"
            notes.append(f"{name}: needs {needs} ({how})")
            continue
        entries[name] = entry
    return entries, notes


def factory_ref(factory) -> str:
    """The MODEL text graphcal takes for a factory of this module: `benchmarks.zoo:resnet`."""
    return f"{factory.__module__}:{factory.__name__}"


def input_shapes(make_inputs) -> list[str]:
    """The --input-shape texts of an entry's inputs: `1x3x112x112`, `1x128:int64`."""
    texts = []
    for tensor in make_inputs():
        shape = "x".join(str(d) for d in tensor.shape)
        texts.append(shape if tensor.dtype.is_floating_point else f"{shape}:{str(tensor.dtype).removeprefix('torch.')}")
    return texts
