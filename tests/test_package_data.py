"""Shipped profiles and grids are package data: found inside the installed package, and every one
of them is named by pyproject's package-data globs, so that a wheel carries it (CI installs the
wheel outside the checkout and runs predict and a smoke sweep from it)."""

from __future__ import annotations

import fnmatch

import pytest

import graphcal
from graphcal.data import shipped_dir
from graphcal.hardware.profile import shipped_profiles
from graphcal.sweep.grid import shipped_grids
from tests.helpers import REPO


@pytest.mark.parametrize("kind", ["hardware", "grids"])
def test_shipped_data_lives_inside_the_package(kind):
    folder = shipped_dir(kind)
    package = shipped_dir(kind).parents[1]
    assert package.samefile(graphcal.__path__[0])
    assert sorted(folder.glob("*.yaml")), f"no shipped {kind}"


def test_lookups_read_the_package_data():
    assert {p.stem for p in shipped_profiles()} >= {"i7-12700k", "i7-12700k-large", "i7-12700k-spec"}
    assert {"smoke-mlp", "smoke-ops", "mlp-default", "ops-default"} <= set(shipped_grids())


def test_every_shipped_file_is_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["graphcal.data"]
    root = shipped_dir("hardware").parent
    files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".py"
             and "__pycache__" not in p.parts]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in pyproject package-data, so not in the wheel: {missing}"


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        shipped_dir("weights")
