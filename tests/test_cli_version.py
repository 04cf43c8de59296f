"""`graphcal --version`, and the promise that neither it nor `--help` imports torch."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import version

import pytest

import graphcal


def test_version_names_graphcal_torch_and_python(run_cli):
    result = run_cli("--version")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"graphcal {graphcal.__version__}",
        f"torch {version('torch')}",
        f"python {platform.python_version()}",
    ]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["predict", "--help"], ["sweep", "model", "--help"]])
def test_version_and_help_do_not_import_torch(args):
    code = ("import sys; from graphcal.cli import main; sys.argv = ['graphcal', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "False", done.stdout
