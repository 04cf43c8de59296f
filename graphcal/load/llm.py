"""A decoder-only LLM from a transformers config, traced on the meta device: no weight is
allocated (predicting an 8B config peaked at 430 MB of resident memory).

MODEL (with `predict --llm`) is a shipped config name (`graphcal/data/llm/*.json`: public model
shapes, each naming its source), a config.json path, or `hf-config:CLASS` (a transformers config
class, built with --factory-arg keyword arguments). Two phases are traced, as transformers'
generate runs them with its default DynamicCache:

    prefill  model(ids[B, P], cache=empty cache, use_cache=True, logits_to_keep=1)
    decode   model(ids[B, 1], cache=cache of length L, use_cache=True)

(`cache` is `past_key_values` before transformers 5.)

In decode the cache's key and value tensors are inputs of the program, marked persistent: their
reads (the concatenation that appends the new token, attention) are state bytes.

Layers of one config share one structure, so a model of more than two layers is traced with two
and the second layer's ops are repeated for the rest; the first two layers' ops are compared
first, and a model whose layers differ is traced whole.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from graphcal.errors import GraphcalError
from graphcal.load.graph import OpGraph, OpNode
from graphcal.load.llmcheck import build_error, check_config, check_fields, check_model_type
from graphcal.precision import Precision

HF_CONFIG = re.compile(r"^hf-config:([A-Za-z_]\w*)$")
INSTALL = "pip install 'graphcal[llm]' (or: pip install transformers)"
TRACED_LAYERS = 2


def shipped_configs() -> dict[str, Path]:
    from graphcal.data import shipped_dir

    return {path.stem: path for path in sorted(shipped_dir("llm").glob("*.json"))}


def transformers_module() -> Any:
    try:
        import transformers
    except ImportError:
        raise GraphcalError(f"--llm needs the transformers package: {INSTALL}") from None
    return transformers


@dataclass(frozen=True)
class LLMConfig:
    """A config as graphcal uses it: its name, the transformers config object and the source."""

    name: str
    config: Any
    source: str

    @property
    def layers(self) -> int:
        return int(self.config.num_hidden_layers)


def load_config(model: str, factory_kwargs: Mapping[str, Any] | None = None) -> LLMConfig:
    """MODEL as an LLM config: a shipped name, a config.json path or hf-config:CLASS."""
    from graphcal.load.resolve import is_existing_path

    transformers = transformers_module()
    kwargs = dict(factory_kwargs or {})
    match = HF_CONFIG.match(model)
    if match:
        config_class = getattr(transformers, match.group(1), None)
        if not isinstance(config_class, type) or not issubclass(config_class, transformers.PretrainedConfig):
            raise GraphcalError(f"{model}: transformers has no config class {match.group(1)!r} (e.g. LlamaConfig)")
        check_fields(kwargs, model)
        try:
            config = config_class(**kwargs)
        except Exception as exc:  # transformers' validators raise several types
            raise GraphcalError(f"{model}: {build_error(exc)}") from None
        check_config(config, model)
        return LLMConfig(model, config, f"transformers.{match.group(1)}")
    if kwargs:
        raise GraphcalError(f"--factory-arg sets the fields of an hf-config:CLASS MODEL; {model} is a file or name")
    shipped = shipped_configs()
    if is_existing_path(model):
        path = Path(model)
        name = config_name(path)
    elif model in shipped:
        path, name = shipped[model], model
    else:
        raise GraphcalError(
            f"--llm MODEL {model!r} is not a config.json file, hf-config:CLASS or a shipped config "
            f"({', '.join(shipped)})"
        )
    document = read_config_json(path)
    source = str((document.pop("graphcal", None) or {}).get("source") or path)
    model_type = document.pop("model_type", None)
    if not isinstance(model_type, str):
        raise GraphcalError(f"{path}: no model_type; a transformers config.json names its model_type (e.g. llama)")
    check_model_type(model_type, transformers, str(path))
    check_fields(document, str(path))
    try:
        config = transformers.AutoConfig.for_model(model_type, **document)
    except Exception as exc:  # transformers' validators raise several types
        raise GraphcalError(f"{path}: transformers cannot build a {model_type!r} config ({build_error(exc)})") from None
    check_config(config, str(path))
    return LLMConfig(name, config, source)


def config_name(path: Path) -> str:
    """The model's name for a config file: its folder's for a `config.json` (as transformers
    lays a model out: `my-model/config.json` is my-model), else the file's."""
    if path.name == "config.json":
        folder = path.resolve().parent.name
        if folder:
            return folder
    return path.name


def read_config_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GraphcalError(f"{path}: not a readable config.json ({first_line(exc)})") from None
    if not isinstance(document, dict):
        raise GraphcalError(f"{path}: a config.json is a JSON object")
    return document


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Phase:
    """One forward pass to trace: `tokens` new tokens per sequence after `cached` cached ones."""

    batch: int
    tokens: int
    cached: int

    @property
    def label(self) -> str:
        return f"prefill B{self.batch} P{self.tokens}" if not self.cached else f"decode B{self.batch} L{self.cached}"


def trace_phases(llm: LLMConfig, phases: list[Phase], precision: Precision) -> list[OpGraph]:
    """The OpGraph of each phase's forward pass, every layer counted; the model is built once."""
    label = llm.name
    if llm.layers > TRACED_LAYERS and uniform_layers(llm.config):
        model = _build(_with_layers(llm.config, TRACED_LAYERS), precision, label)
        graphs = [_trace(model, phase, precision, f"{label} {phase.label}") for phase in phases]
        if all(blocks is not None and _same_ops(*blocks[1]) for _, blocks, _ in graphs):
            return [_repeat_layer(graph, blocks[0], blocks[1], llm.layers - TRACED_LAYERS, layer_state)
                    for graph, blocks, layer_state in graphs]
    model = _build(llm.config, precision, label)
    return [_trace(model, phase, precision, f"{label} {phase.label}")[0] for phase in phases]


def uniform_layers(config: Any) -> bool:
    """Whether every layer has one structure: no per-layer types, or all of one type."""
    types = getattr(config, "layer_types", None)
    return not types or len(set(types)) == 1


def _with_layers(config: Any, layers: int) -> Any:
    short = config.__class__.from_dict(config.to_dict())
    short.num_hidden_layers = layers
    if getattr(short, "layer_types", None):
        short.layer_types = list(short.layer_types[:layers])
    return short


def _build(config: Any, precision: Precision, label: str) -> Any:
    """The causal LM of `config` on the meta device, in eval mode: shapes, no weights."""
    import torch

    transformers = transformers_module()
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    class_name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(getattr(config, "model_type", None))
    if class_name is None:
        raise GraphcalError(
            f"{label}: {config.model_type!r} is not a decoder-only model transformers can build for causal "
            "language modelling (--llm covers models such as llama, mistral, qwen2 and phi3)"
        )
    try:
        with torch.device("meta"):
            model = getattr(transformers, class_name)(config)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise GraphcalError(
            f"{label}: transformers cannot build {class_name} from this config ({first_line(exc)})"
        ) from None
    return model.to(getattr(torch, precision.torch_dtype_name)).eval()


def _trace(model: Any, phase: Phase, precision: Precision, label: str):
    """(graph, (the layers' module path, (layer 0's nodes, layer 1's nodes)) or None, state
    bytes of one layer)."""
    import torch

    from graphcal.load.trace import export_program, graph_from_fx, persistent_inputs

    config = model.config
    layers, path = _decoder_layers(model, int(config.num_hidden_layers))
    ids = torch.zeros(phase.batch, phase.tokens, dtype=torch.long, device="meta")
    cache = _cache_tensors(config, phase, getattr(torch, precision.torch_dtype_name)) if phase.cached else ()
    program = export_program(_phase_module(model, phase), (ids, *cache), label)
    names = [node.name for node in program.graph.nodes if node.op == "placeholder"]
    cache_names = tuple(names[len(names) - len(cache):]) if cache else ()
    graph = graph_from_fx(program.graph, label, persistent_inputs(program, cache_names))
    layer_bytes = sum(p.numel() * p.element_size() for p in layers[-1].parameters()) if layers else 0
    layer_bytes += sum(t.numel() * t.element_size() for t in cache) // max(1, int(config.num_hidden_layers))
    blocks = None
    if path is not None and len(layers) == TRACED_LAYERS:
        blocks = path, tuple([n for n in graph.nodes if _in_layer(n, f"{path}.{i}")] for i in range(TRACED_LAYERS))
    return graph, blocks, layer_bytes


def _phase_module(model: Any, phase: Phase) -> Any:
    """The model wrapped so that export sees plain tensors in (ids, then each layer's keys and
    values) and logits out."""
    import torch

    transformers = transformers_module()
    # NB: transformers 5 renamed forward's past_key_values to cache (the old name warns)
    cache_keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids, *cache):
            past = transformers.DynamicCache(config=self.model.config)
            for layer, keys, values in zip(past.layers, cache[0::2], cache[1::2]):
                # the cache as decode finds it: these tensors, no copy made to fill it
                layer.lazy_initialization(keys, values)
                layer.keys, layer.values = keys, values
            given = {cache_keyword: past, "use_cache": True}
            if phase.cached:
                return self.model(input_ids=ids, **given).logits
            return self.model(input_ids=ids, **given, logits_to_keep=1).logits

    return Forward()


def _cache_tensors(config: Any, phase: Phase, dtype: Any) -> tuple:
    import torch

    heads = int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
    shape = (phase.batch, heads, phase.cached, head_dim)
    return tuple(torch.zeros(shape, dtype=dtype, device="meta") for _ in range(2 * int(config.num_hidden_layers)))


def _decoder_layers(model: Any, count: int) -> tuple[list, str | None]:
    """The model's list of decoder layers and its module path as export names it ("model.layers"
    inside the wrapper: "model.model.layers"), or ([], None) where none has `count` entries."""
    import torch

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count and count:
            if len({type(m) for m in module}) == 1:
                return list(module), f"model.{name}"
    return [], None


def _in_layer(node: OpNode, prefix: str) -> bool:
    return node.module is not None and (node.module == prefix or node.module.startswith(prefix + "."))


def _same_ops(first: list[OpNode], second: list[OpNode]) -> bool:
    """Whether two layers make the same calls on the same shapes (names and modules aside)."""
    def signature(node: OpNode) -> tuple:
        return node.target, node.args, node.kwargs, node.outputs

    return bool(first) and [signature(n) for n in first] == [signature(n) for n in second]


def _repeat_layer(graph: OpGraph, path: str, layers: tuple[list[OpNode], list[OpNode]], copies: int,
                  layer_state_bytes: int) -> OpGraph:
    """`graph` with the ops of its last traced layer (`path`.1, `layers[1]`) repeated `copies`
    more times right after it; each copy adds one layer's weights (and cache) to the state. A
    copy reads what the layer reads, its own ops' outputs in place of the layer's and the copy
    before it in place of the layer before (`layers[0]`, op for op), and the ops after the
    layers read the last copy."""
    first, layer = layers
    last = graph.nodes.index(layer[-1])
    traced = f"{path}.{TRACED_LAYERS - 1}"
    names = {number: {node.name: f"{node.name}_layer{number}" for node in layer}
             for number in range(TRACED_LAYERS, TRACED_LAYERS + copies)}
    names[TRACED_LAYERS - 1] = {node.name: node.name for node in layer}
    before = {a.name: b.name for a, b in zip(first, layer)}  # layer 0's op -> layer 1's in its place
    repeated = [
        replace(node, name=names[number][node.name], module=f"{path}.{number}" + node.module[len(traced):],
                sources=_renamed(node.sources, names[number], {a: names[number - 1][b] for a, b in before.items()}))
        for number in range(TRACED_LAYERS, TRACED_LAYERS + copies) for node in layer
    ]
    after = [replace(node, sources=_renamed(node.sources, names[TRACED_LAYERS + copies - 1], {}))
             for node in graph.nodes[last + 1:]]
    nodes = graph.nodes[: last + 1] + tuple(repeated) + tuple(after)
    return OpGraph(graph.model, nodes, graph.persistent_bytes + copies * layer_state_bytes)


def _renamed(sources: tuple[str, ...] | None, *renames: dict[str, str]) -> tuple[str, ...] | None:
    """OpNode.sources with each op's name (of "name" or "name.i") renamed by the first of
    `renames` that holds it."""
    if sources is None:
        return None

    def rename(source: str) -> str:
        name, dot, index = source.rpartition(".") if "." in source else (source, "", "")
        for table in renames:
            if source in table:
                return table[source]
            if dot and name in table:
                return f"{table[name]}.{index}"
        return source

    return tuple(rename(s) for s in sources)
