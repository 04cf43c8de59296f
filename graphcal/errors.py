"""The error types a user sees: the CLI turns each into one line on stderr and its exit code."""


class GraphcalError(Exception):
    """A problem with the user's input, stated with what to do about it (exit code 2)."""

    exit_code = 2


class CheckFailed(GraphcalError):
    """A check the user asked for did not pass: a latency budget or --strict (exit code 1)."""

    exit_code = 1
