"""One writer per sweep file: `graphcal sweep` holds an exclusive advisory lock (fcntl.flock) on
its output for the whole run, and a second sweep onto the same file is refused at once, with
one line, instead of interleaving blocks (two sweeps on one --out used to both report
"complete" over 84 duplicate rows of 168).

The lock is advisory: it binds graphcal sweeps, not other programs. It goes with the open file,
so a killed sweep releases it; flock does not cross NFS reliably (refused there with one line).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphcal.errors import GraphcalError


@contextmanager
def locked_output(path: Path) -> Iterator[None]:
    """Open (creating it if needed) and lock `path` for the block; refuse without waiting when
    another process holds the lock. A file this call created and left empty is removed."""
    existed = path.exists()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise GraphcalError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise GraphcalError(
            f"{path} is being written by another `graphcal sweep` (it holds the file's lock); wait for it to "
            "finish, then --resume, or give another --out"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise GraphcalError(f"cannot lock {path}: {exc.strerror or exc} (a network file system?)") from None
    try:
        yield
    finally:
        if not existed and os.fstat(fd).st_size == 0:
            path.unlink(missing_ok=True)  # a run refused before its header: leave nothing behind
        os.close(fd)
