"""Write a fitted profile: it `extends` the base, states only the fitted parameters, and carries
its provenance. Written atomically (a temporary file in the same directory, validated by
loading it, then os.replace), so a failed fit or a crash never leaves a half-written profile.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import tempfile
from pathlib import Path

import yaml

from graphcal import __version__
from graphcal.errors import GraphcalError
from graphcal.fit import params as P
from graphcal.fit.calibrate import Calibration
from graphcal.profile import load_profile, resolve_path, user_profile_dir

STRATIFIED_BY = "regime under the base profile (compute split into matrix and vector)"


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
    looks_like_path = "/" in base_ref or os.sep in base_ref or base_ref.endswith((".yaml", ".yml"))
    if not looks_like_path and out.stem == base_ref and out.resolve().parent == user_profile_dir().resolve():
        raise GraphcalError(f"--out {out} would shadow the base profile {base_ref!r} it extends; choose another name")
    try:
        base_path = resolve_path(base_ref)
    except GraphcalError:
        return  # load_base reports it
    if out.exists() and out.resolve() == base_path.resolve():
        raise GraphcalError(f"--out {out} is the base profile itself; write the fitted profile to another file")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def extends_ref(base_ref: str, out: Path) -> str:
    """The base as the fitted profile names it: a shipped or user name stays a name; a path
    becomes relative to the fitted profile's directory (how `extends` resolves paths)."""
    base_path = resolve_path(base_ref)
    looks_like_path = "/" in base_ref or os.sep in base_ref or base_ref.endswith((".yaml", ".yml"))
    if not looks_like_path:
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


def provenance(cal: Calibration, date: str | None = None) -> dict:
    regimes, counts = _counts(cal.base_regimes.tolist())
    hosts = {}
    for row in cal.rows:
        hosts.setdefault(row.host_id, {
            "host_id": row.host_id,
            "cpu_model": row.fields.get("host_cpu_model", ""),
            "logical_cores": row.fields.get("host_logical_cores", ""),
            "simd": row.fields.get("host_simd", ""),
            "torch_version": row.fields.get("torch_version", ""),
            "torch_backend": row.fields.get("torch_backend", ""),
        })
    return clean({
        "tool": "graphcal fit",
        "graphcal_version": __version__,
        "date": date or dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "base": {"ref": cal.base_ref, "name": cal.base.name, "sha256": sha256_of(Path(cal.base.source))},
        "sweeps": [
            {"file": p.name, "sha256": sha256_of(p), "rows": n}
            for p, n in zip(cal.paths, cal.rows_per_file)
        ],
        "hosts": list(hosts.values()),
        "dtype": cal.precision.value,
        "rows": {"total": len(cal.rows), "train": len(cal.train), "holdout": len(cal.holdout),
                 "by_base_regime": dict(zip(regimes, counts))},
        "split": {"holdout_fraction": cal.options.holdout, "seed": cal.options.seed, "stratified_by": STRATIFIED_BY},
        "holdout_mape": cal.holdout_metrics.mape,
        "error": {
            "train": cal.train_metrics.as_dict(),
            "holdout": cal.holdout_metrics.as_dict(),
            "all_rows_after_refit": cal.final_metrics.as_dict(),
            "noise_floor": cal.noise_floor,
        },
        "solver": {**cal.final.provenance(cal.options.settings), "train_fit_nfev": cal.train_fit.nfev},
        "parameters": {
            p.name: {"base": p.base, "fitted": p.fitted, "stderr": p.stderr, "status": p.status,
                     **({"note": p.note} if p.note else {})}
            for p in cal.params
        },
    })


def profile_document(cal: Calibration, out: Path, date: str | None = None) -> dict:
    fragment = P.profile_fragment(cal.final.values, cal.fitted_names, cal.precision)
    return clean({
        "name": out.stem,
        "extends": extends_ref(cal.base_ref, out),
        "description": f"{cal.base.name} calibrated by graphcal fit on {len(cal.rows)} {cal.precision.value} rows",
        **fragment,
        "provenance": provenance(cal, date),
    })


FIT_HEADER = "# Written by `graphcal fit`; see provenance for the data and the error it was measured with.\n"


def write_profile(document: dict, out: Path, header: str = FIT_HEADER) -> None:
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


def _counts(labels: list[str]) -> tuple[list[str], list[int]]:
    names = sorted(set(labels))
    return names, [labels.count(n) for n in names]
