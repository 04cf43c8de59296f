"""Progress shown by several commands (`fit`, `compare SWEEP.csv`)."""

from __future__ import annotations

import sys


class costing_progress:
    """A transient progress bar on stderr for tracing and costing the distinct workloads."""

    def __init__(self, console) -> None:
        self.console = console
        self.bar = None
        self.task = None

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("costing workloads"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=self.console, transient=True, disable=not sys.stderr.isatty())
        self.bar.__enter__()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.bar.add_task("costing", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)
