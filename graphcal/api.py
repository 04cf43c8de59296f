"""graphcal from Python: one call per question, the same answers as the CLI.

    import graphcal
    p = graphcal.predict("mlp:32:784x512x10", hw="i7-12700k")
    p.latency_s, p.by_family(), p.to_dict()   # to_dict() is `graphcal predict ... --json`

Every argument is checked before anything is built; a bad one raises GraphcalError with the
one-line message the CLI prints. torch is imported only when a call needs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphcal.errors import GraphcalError
from graphcal.hardware.allocator import DEFAULT_HEAP, HEAPS

if TYPE_CHECKING:
    from graphcal.evaluate.measure import Measurement
    from graphcal.hardware.profile import HardwareProfile
    from graphcal.load.graph import OpGraph
    from graphcal.load.resolve import InputSpec
    from graphcal.mapper import Target
    from graphcal.precision import Precision
    from graphcal.predict.llm import LLMPrediction
    from graphcal.predict.prediction import Prediction


def load_profile(name_or_path: str | os.PathLike) -> HardwareProfile:
    """A hardware profile: a shipped name (`i7-12700k`), a name in $GRAPHCAL_PROFILE_DIR, or a
    path to a YAML file; resolved (`extends`) and validated."""
    from graphcal.hardware.profile import load_profile as load

    if isinstance(name_or_path, os.PathLike):
        return load(Path(name_or_path))
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise GraphcalError(f"hw: give a profile name, a path to a .yaml file or a HardwareProfile, "
                            f"not {_describe(name_or_path)}")
    return load(name_or_path)


def predict(
    model: Any, example_inputs: Any = None, *, hw: Any, threads: int | None = None, dtype: Any = "fp32",
    name: str | None = None, heap: str = DEFAULT_HEAP,
) -> Prediction:
    """Predict one forward pass of `model` on the profile `hw`.

    `model`: an nn.Module (on any device, the meta device included: no weights need to exist)
    with `example_inputs` (a tensor or a tuple of tensors, meta tensors welcome); a
    torch.export ExportedProgram; a path to a model file (.pt2, TorchScript with
    `example_inputs`); or a workload spec (`mlp:32:784x512x10`, `net:audio-conv1d:1`).
    `hw`: a profile name, a path or a HardwareProfile. `threads`: default the profile's
    physical cores. `name`: the model's name in the result (default: the file, spec or class).
    `heap`: the state of glibc's heap the calls start from (`predict --heap`): "loaded",
    "fresh", "settled" or "no-trim".
    """
    target = make_target(hw, dtype, threads, heap)
    graph = _graph(model, example_inputs, target.precision, name)
    from graphcal.predict.prediction import predict_graph

    return predict_graph(graph, target)


def predict_llm(
    config: str | os.PathLike, *, prompt: int, new_tokens: int, batch: int = 1, hw: Any, threads: int | None = None,
    dtype: Any = "fp32", heap: str = DEFAULT_HEAP,
) -> LLMPrediction:
    """Predict a decoder-only LLM's generation (`predict --llm`): time to first token, decode
    steps and tokens per second. `config`: a shipped name (`qwen2.5-0.5b`) or a config.json
    path; needs transformers. `heap`: as for `predict`."""
    from graphcal.predict.llm import Generation

    for label, value, least in (("prompt", prompt, 1), ("new_tokens", new_tokens, 2), ("batch", batch, 1)):
        _check_count(label, value, least)
    if isinstance(config, os.PathLike):
        config = os.fspath(config)
    if not isinstance(config, str):
        raise GraphcalError(f"config: give a shipped LLM name or a config.json path, not {_describe(config)}")
    target = make_target(hw, dtype, threads, heap)
    generation = Generation(prompt, new_tokens, batch)
    from graphcal.load.llm import load_config
    from graphcal.predict.llm import predict_llm as predict_generation

    return predict_generation(load_config(config), target, generation)


def measure(model: Any, example_inputs: Any = None, *, hw: Any, threads: int | None = None,
            dtype: Any = "fp32") -> Measurement:
    """Time `model` on this machine, whole and op by op in place, beside each op's prediction on
    `hw` (`graphcal compare MODEL --measure`). `model`: a path (.pt2, TorchScript, a trusted
    pickle is not taken here: load it and pass the module), a workload spec, or an nn.Module on
    the CPU with `example_inputs`."""
    from graphcal.evaluate.measure import measure_built, measure_model

    target = make_target(hw, dtype, threads)
    if isinstance(model, (str, os.PathLike)):
        specs = _input_specs(example_inputs, target.precision)
        return measure_model(os.fspath(model), target, specs)
    module = _module(model)
    if module is None:
        raise GraphcalError(f"model: measure takes an nn.Module, a model file or a workload spec, "
                            f"not {_describe(model)}")
    inputs = _tensors(example_inputs, type(model).__name__)
    return measure_built(module, inputs, type(model).__name__, target)


# --- arguments ------------------------------------------------------------------------------------


def make_target(hw: Any, dtype: Any, threads: Any, heap: Any = DEFAULT_HEAP) -> Target:
    """The profile, precision, thread count and heap state, each checked, before anything is built."""
    from graphcal.hardware.profile import HardwareProfile
    from graphcal.mapper import Target

    if threads is not None:
        _check_count("threads", threads, 1)
    precision = _precision(dtype)
    profile = hw if isinstance(hw, HardwareProfile) else load_profile(hw)
    if not isinstance(heap, str):
        raise GraphcalError(f"heap: give one of {', '.join(HEAPS)}, not {_describe(heap)}")
    return Target(profile, precision, threads or profile.physical_cores, heap=heap)


def _check_count(label: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphcalError(f"{label} must be a whole number, got {_describe(value)}")
    if value < least:
        raise GraphcalError(f"{label} must be at least {least}, got {value}")


def _precision(dtype: Any) -> Precision:
    """fp32, bf16, ... as text, a Precision, or a torch floating dtype (torch.bfloat16)."""
    from graphcal.precision import Precision

    if isinstance(dtype, str):
        return Precision.parse(dtype)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(dtype, torch.dtype):
        precision = Precision.of_dtype(str(dtype).removeprefix("torch."))
        if precision is not None:
            return precision
    known = ", ".join(p.value for p in Precision)
    raise GraphcalError(f"unknown precision {dtype!r}: use one of {known}")


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# --- models ---------------------------------------------------------------------------------------


def _graph(model: Any, example_inputs: Any, precision: Precision, name: str | None) -> OpGraph:
    from dataclasses import replace

    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise GraphcalError(f"name must be a non-empty string, got {_describe(name)}")
    if isinstance(model, (str, os.PathLike)):
        graph = _graph_of_text(os.fspath(model), example_inputs, precision)
    elif _is_exported_program(model):
        if example_inputs is not None:
            raise GraphcalError("example_inputs: an ExportedProgram carries its own input shapes; drop them")
        from graphcal.load.trace import graph_of_program

        graph = graph_of_program(model, name or "ExportedProgram", precision)
    elif (module := _module(model)) is not None:
        from graphcal.load.capture import graph_of_module

        label = name or type(model).__name__
        graph = graph_of_module(module, _tensors(example_inputs, label), label, precision)
    else:
        raise GraphcalError(f"model: give an nn.Module, an ExportedProgram, a model file or a workload spec, "
                            f"not {_describe(model)}")
    return graph if name is None else replace(graph, model=name)


def _graph_of_text(model: str, example_inputs: Any, precision: Precision) -> OpGraph:
    from graphcal.load.resolve import ModelKind, load_graph, model_kind

    if model_kind(model) is ModelKind.SPEC and example_inputs is not None:
        raise GraphcalError(f"example_inputs: the workload spec {model!r} builds its own inputs; drop them")
    return load_graph(model, precision, _input_specs(example_inputs, precision))


def _is_exported_program(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.export.ExportedProgram)


def _module(value: Any) -> Any:
    torch = sys.modules.get("torch")
    return value if torch is not None and isinstance(value, torch.nn.Module) else None


def _tensors(example_inputs: Any, model: str) -> tuple:
    """example_inputs as a tuple of tensors: one tensor, or a tuple or list of them."""
    torch = sys.modules.get("torch")
    if example_inputs is None:
        raise GraphcalError(f"{model}: an nn.Module needs example_inputs (a tensor or a tuple of tensors; "
                            "meta tensors such as torch.empty(1, 3, 224, 224, device='meta') cost nothing)")
    inputs = (example_inputs,) if torch is not None and isinstance(example_inputs, torch.Tensor) else example_inputs
    if (torch is None or not isinstance(inputs, (tuple, list)) or not inputs
            or not all(isinstance(t, torch.Tensor) for t in inputs)):
        raise GraphcalError(f"example_inputs: give a tensor or a tuple of tensors, not {_describe(example_inputs)}")
    return tuple(inputs)


def _input_specs(example_inputs: Any, precision: Precision) -> tuple[InputSpec, ...]:
    """A model file's input shapes (TorchScript, a factory) from example tensors."""
    from graphcal.load.resolve import InputSpec

    if example_inputs is None:
        return ()
    tensors = _tensors(example_inputs, "example_inputs")
    return tuple(InputSpec(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch.")) for t in tensors)
