"""Write a profile atomically: a temporary file in the same directory, validated by loading it,
then os.replace, so a failed fit or a crash never leaves a half-written profile. Used by
`graphcal fit` and `graphcal profiles init --host`.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import yaml

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import is_profile_path, load_profile, resolve_path, user_profile_dir


def check_out(out: Path, base_ref: str | None) -> None:
    """Refuse an --out that cannot be written, or that is the base itself, before any work."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise GraphcalError(f"--out {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GraphcalError(f"--out {out}: directory {parent} is not writable")
    if out.suffix not in (".yaml", ".yml"):
        raise GraphcalError(f"--out {out}: a profile file must end in .yaml")
    if base_ref is None:
        return
    if not is_profile_path(base_ref) and out.stem == base_ref and out.resolve().parent == user_profile_dir().resolve():
        raise GraphcalError(f"--out {out} would shadow the base profile {base_ref!r} it extends; choose another name")
    try:
        base_path = resolve_path(base_ref)
    except GraphcalError:
        return  # load_base reports it
    if out.exists() and out.resolve() == base_path.resolve():
        raise GraphcalError(f"--out {out} is the base profile itself; write the fitted profile to another file")


def extends_ref(base_ref: str, out: Path) -> str:
    """The base as the written profile names it: a shipped or user name stays a name; a path
    becomes relative to the written profile's directory (how `extends` resolves paths)."""
    base_path = resolve_path(base_ref)
    if not is_profile_path(base_ref):
        return base_ref
    return os.path.relpath(base_path.resolve(), out.resolve().parent)


def clean(value):
    """Plain YAML/JSON values: numpy scalars to float, NaN to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
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
    """Write `document` to `out` atomically, after checking that it loads as a profile."""
    out = Path(out)
    text = header + yaml.safe_dump(clean(document), sort_keys=False, width=100)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".yaml.tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        load_profile(tmp)  # the same checks any later reader applies
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
