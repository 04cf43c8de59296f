"""The data graphcal ships inside the package: hardware profiles (`hardware/*.yaml`), sweep
grids (`grids/*.yaml`) and LLM configs (`llm/*.json`, public model shapes), read with
importlib.resources so that a wheel install finds them too."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from graphcal.errors import GraphcalError

KINDS = ("hardware", "grids", "llm")


def shipped_dir(kind: str) -> Path:
    """The directory of shipped `kind` files (one of KINDS) inside the installed package."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of shipped data {kind!r}")
    folder = files(__name__).joinpath(kind)
    # NB: profiles are read as files (`extends:` resolves next to them), so this needs the package
    # unpacked on disk, as pip installs it; a zipped import (zipapp, egg) is refused in one line.
    if not isinstance(folder, Path):
        raise GraphcalError(f"graphcal's shipped {kind} are inside an archive ({folder}); install graphcal unzipped")
    return folder
