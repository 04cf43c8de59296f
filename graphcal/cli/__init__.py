"""The `graphcal` command: a thin layer that parses options, calls the library and renders.

Exit codes: 0 ok; 1 a check the user asked for failed (CheckFailed: `--max-latency`, `--strict`);
2 bad input or usage (GraphcalError, click's usage errors). `main()` turns either error into one
line on stderr; GRAPHCAL_DEBUG=1 shows the traceback instead. Nothing here imports torch at
module level, so `--help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from graphcal.errors import CheckFailed, GraphcalError

app = typer.Typer(
    name="graphcal",
    help="Predict how fast a PyTorch model runs on a CPU, and calibrate the prediction on real timings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def version_text() -> str:
    """graphcal's, torch's and Python's versions; torch's read from its metadata, not imported."""
    from graphcal import __version__

    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "not installed"
    return f"graphcal {__version__}\ntorch {torch_version}\npython {platform.python_version()}"


def _print_version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Print graphcal's, torch's and Python's versions.", is_eager=True,
                     callback=_print_version),
    ] = False,
) -> None:
    """Predict how fast a PyTorch model runs on a CPU, and calibrate the prediction on real timings."""


# Each module registers its command(s) on `app` when imported.
COMMAND_MODULES = ("predict", "compare", "profiles", "sweep", "fit")
for _name in COMMAND_MODULES:
    importlib.import_module(f"graphcal.cli.{_name}")


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except GraphcalError as exc:
        if os.environ.get("GRAPHCAL_DEBUG"):
            raise
        kind = "check failed" if isinstance(exc, CheckFailed) else "error"
        print(f"graphcal: {kind}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("graphcal: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        # NB: by class name, since typer >= 0.20 raises its vendored copy of click's classes
        # (typer._click), not those of an installed click
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        if "Exit" in kinds:
            sys.exit(exc.exit_code)
        if "ClickException" in kinds:
            exc.show()
            sys.exit(2)
        if "Abort" in kinds:
            print("graphcal: interrupted", file=sys.stderr)
            sys.exit(130)
        raise
    if isinstance(code, int):
        sys.exit(code)
