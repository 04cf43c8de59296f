"""The `graphcal` command: a thin layer that parses options, calls the library and renders.

`main()` turns GraphcalError into one line on stderr and exit code 2; GRAPHCAL_DEBUG=1 shows
the traceback instead. Nothing here imports torch at module level, so `--help` stays fast.
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
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            print("graphcal: interrupted", file=sys.stderr)
            sys.exit(130)
        raise
    if isinstance(code, int):
        sys.exit(code)
