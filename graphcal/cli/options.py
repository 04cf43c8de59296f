"""Options shared by several commands, and the profile/target resolution they all do."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from graphcal.hardware.allocator import DEFAULT_HEAP, HEAPS
from graphcal.hardware.profile import load_profile
from graphcal.load import InputSpec, parse_factory_args
from graphcal.mapper import Target
from graphcal.precision import Precision

HwOption = Annotated[
    str,
    typer.Option(
        "--hw",
        help="Hardware profile: a shipped name (see `graphcal profiles list`), a path to a .yaml "
        "file, or a name in $GRAPHCAL_PROFILE_DIR (default ~/.config/graphcal/hardware). For the "
        "i7-12700K use i7-12700k, the recommended profile (fitted on kernels and on convolutions, "
        "activations and pooling inside six CNNs). Its variants are refits on small-work (< 2e7 FLOP "
        "per op) and large-work ops: i7-12700k-large helps on networks of dense convolutions (ResNets), "
        "i7-12700k-tiny on single small ops; see docs/profiles.md.",
    ),
]
DtypeOption = Annotated[
    str, typer.Option("--dtype", help="Precision: fp32, bf16, fp16 or fp64. The profile must have coefficients for it.")
]
ThreadsOption = Annotated[
    Optional[int],
    typer.Option("--threads", help="Threads the model runs with (default: the profile's physical cores).", min=1),
]
InputShapeOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--input-shape",
        help="Shape of one model input, e.g. 1x3x224x224 or 1x128:int64; repeat for several "
        "inputs. Needed for TorchScript files and factories.",
    ),
]
FactoryArgOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--factory-arg",
        metavar="NAME=VALUE",
        help="A keyword argument for a factory MODEL; repeat for several. VALUE is read as a Python "
        "literal (224, True, (1, 3), 'x'); a bare word that is not one is a string: "
        "timm:create_model --factory-arg model_name=resnet50.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout, for scripts and CI.")]
TrustOption = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Allow loading a torch.save'd model, which runs arbitrary code from the file. "
        "Only for files you trust.",
    ),
]


HeapOption = Annotated[
    str,
    typer.Option(
        "--heap",
        help="The state of glibc's heap the model's calls start from, which decides the page faults of "
        "memory it gives back to the kernel and takes again between calls, by its thresholds: "
        + ", ".join(f"{name} ({meaning})" for name, meaning in HEAPS.items()) + ". See docs/model.md.",
    ),
]


def make_target(hw: str, dtype: str, threads: Optional[int], heap: str = DEFAULT_HEAP) -> Target:
    profile = load_profile(hw)
    return Target(profile, Precision.parse(dtype), threads or profile.physical_cores, heap=heap)


def input_specs(shapes: Optional[list[str]]) -> tuple[InputSpec, ...]:
    return tuple(InputSpec.parse(s) for s in shapes or ())


def factory_kwargs(texts: Optional[list[str]]) -> dict:
    return parse_factory_args(texts or ())


def finite(value: Optional[float]) -> Optional[float]:
    """An option callback: NaN and infinities are usage errors (they pass click's min/max)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value
