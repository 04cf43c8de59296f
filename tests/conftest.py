"""Fixtures shared by the tests: run the real CLI entry point in-process, write small profiles.
Helpers that tests import are in tests/helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import CliResult


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `graphcal ARGS...` through graphcal.cli.main, as the console script does."""
    from graphcal.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["graphcal", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def write_profile(tmp_path):
    """Write a profile YAML into tmp_path and return its path."""

    def write(name: str, data: dict) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
