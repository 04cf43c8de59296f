"""The one error type a user sees: the CLI turns it into one line on stderr and exit code 2."""


class GraphcalError(Exception):
    """A problem with the user's input, stated with what to do about it."""
