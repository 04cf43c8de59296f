"""The `graphcal` command: a thin layer that parses options, calls the library and renders.

`main()` turns GraphcalError, and click's usage errors, into one line on stderr and exit code 2;
GRAPHCAL_DEBUG=1 shows the traceback of a GraphcalError instead. Nothing here imports torch at
module level, so `--help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from graphcal.errors import GraphcalError

app = typer.Typer(
    name="graphcal",
    help="Predict how fast a PyTorch model runs on a CPU, and calibrate the prediction on real timings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module registers its command(s) on `app` when imported.
COMMAND_MODULES = ("predict", "compare", "profiles", "sweep", "fit")
for _name in COMMAND_MODULES:
    importlib.import_module(f"graphcal.cli.{_name}")


def usage_line(exc) -> str:
    """Click's usage error as one line: the command, its message and where help is (click's own
    show() prints a usage block of 4 lines or more)."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{ctx.command_path}: {message} (see `{ctx.command_path} --help`)"


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except GraphcalError as exc:
        if os.environ.get("GRAPHCAL_DEBUG"):
            raise
        print(f"graphcal: error: {exc}", file=sys.stderr)
        sys.exit(2)
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
            print(f"graphcal: error: {usage_line(exc)}", file=sys.stderr)
            sys.exit(2)
        if "Abort" in kinds:
            print("graphcal: interrupted", file=sys.stderr)
            sys.exit(130)
        raise
    if isinstance(code, int):
        sys.exit(code)
