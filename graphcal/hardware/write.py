"""Write a profile atomically: a temporary file in the same directory, validated by loading it,
then os.replace, so a failed fit or a crash never leaves a half-written profile (and a
temporary left by a kill -9 is removed by the next write). Used by
`graphcal fit` and `graphcal profiles init --host`.
"""

from __future__ import annotations

import glob
import math
import os
from pathlib import Path

import yaml

from graphcal.data import shipped_dir
from graphcal.errors import GraphcalError
from graphcal.hardware.profile import (
    chain_files,
    is_profile_path,
    load_profile,
    resolve_path,
    shadow_message,
    user_profile_dir,
)


def check_out(out: Path, base_ref: str | None, force: bool = False) -> None:
    """Refuse an --out that cannot be written, that exists (without --force), that takes a
    shipped profile's name in the user directory, or whose writing would break the base's
    `extends` chain, before any work."""
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise GraphcalError(f"--out {out} is a directory; give a .yaml file path")
    if not parent.is_dir():
        raise GraphcalError(f"--out {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GraphcalError(f"--out {out}: directory {parent} is not writable")
    if out.suffix not in (".yaml", ".yml"):
        raise GraphcalError(f"--out {out}: a profile file must end in .yaml")
    if parent.resolve() == user_profile_dir().resolve() and (shipped_dir("hardware") / f"{out.stem}.yaml").is_file():
        raise GraphcalError(shadow_message(out.stem, out))
    if base_ref is not None:
        _check_base(out, base_ref)
    if out.exists() and not force:
        raise GraphcalError(f"--out {out} exists; pass --force to replace it")


def _check_base(out: Path, base_ref: str) -> None:
    if not is_profile_path(base_ref) and out.stem == base_ref and out.resolve().parent == user_profile_dir().resolve():
        raise GraphcalError(f"--out {out} would shadow the base profile {base_ref!r} it extends; choose another name")
    try:
        chain = chain_files(base_ref)
    except GraphcalError:
        return  # load_base reports it
    if out.resolve() == chain[0]:
        raise GraphcalError(f"--out {out} is the base profile itself; write the fitted profile to another file")
    if out.resolve() in chain:
        links = " -> ".join(p.name for p in chain[: chain.index(out.resolve()) + 1])
        raise GraphcalError(
            f"--out {out}: the base extends it ({links}); writing the fitted profile there would break that "
            "chain. Write it to another file"
        )


def extends_ref(base_ref: str, out: Path) -> str:
    """The base as the written profile names it: a shipped or user name stays a name; a path
    becomes relative to the written profile's directory (how `extends` resolves paths)."""
    base_path = resolve_path(base_ref)
    if not is_profile_path(base_ref):
        return base_ref
    return os.path.relpath(base_path.resolve(), out.resolve().parent)


def clean(value):
    """Plain YAML/JSON values: numpy scalars to float, NaN to None; keys str, except numbers
    (the thread counts of a kernel table, the multiples of caches.l3_retained_share)."""
    if isinstance(value, dict):
        return {k if isinstance(k, (int, float)) and not isinstance(k, bool) else str(k): clean(v)
                for k, v in value.items()}
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's version string) as plain str
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value



def write_profile(document: dict, out: Path, header: str) -> None:
    """Write `document` to `out` atomically, after checking that it loads as a profile. The
    temporary file is named after this process (`.OUT.PID.tmp`), so one left by a killed
    writer is removed by the next write (remove_stale_temporaries)."""
    out = Path(out)
    text = header + yaml.safe_dump(clean(document), sort_keys=False, width=100)
    remove_stale_temporaries(out)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        load_profile(tmp)  # the same checks any later reader applies
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove the temporaries of writes to `out` whose process is gone (killed mid-write);
    those of a live process are its write in flight. The removed paths."""
    removed = []
    prefix = f".{out.name}."
    for path in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        pid = path.name[len(prefix) : -len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
