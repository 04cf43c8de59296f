"""A fitted profile as a document: it `extends` the base, states only the fitted parameters, and
carries its provenance (graphcal.hardware.write writes it atomically, with FIT_HEADER).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from graphcal import __version__
from graphcal.fit import params as P
from graphcal.fit.calibrate import Calibration
from graphcal.hardware.write import clean, extends_ref

STRATIFIED_BY = "regime under the base profile (compute split into matrix and vector)"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
            **({"holdout_whole_models": cal.holdout_models_metrics.as_dict()} if cal.holdout_models_metrics else {}),
            "all_rows_after_refit": cal.final_metrics.as_dict(),
            "noise_floor": cal.noise_floor,
        },
        "solver": {**cal.final.provenance(cal.options.settings), "train_fit_nfev": cal.train_fit.nfev},
        **({"host_speed": _host_speed(cal.speed)} if cal.speed is not None and cal.speed.reference_s else {}),
        **({"kernels": kernel_provenance(cal)} if cal.kernels is not None else {}),
        "parameters": {
            p.name: {"base": p.base, "fitted": p.fitted, "stderr": p.stderr, "status": p.status,
                     **({"note": p.note} if p.note else {})}
            for p in cal.params
        },
    })


def kernel_provenance(cal: Calibration) -> dict:
    """Per fitted class: the population whose rows fitted it, its rows and each value's error."""
    from graphcal.fit.kernels import class_report

    return {row.kernel: {"fitted_on": row.fitted_by, "rows": row.rows, "stderr": row.stderr,
                         **({"notes": row.notes} if row.notes else {})}
            for row in class_report(cal)}


def profile_document(cal: Calibration, out: Path, date: str | None = None) -> dict:
    fragment = P.profile_fragment(cal.final.values, cal.fitted_names, cal.precision)
    if cal.kernels is not None:
        fragment["kernels"] = {cal.precision.value: cal.kernels.tables}
    return clean({
        "name": out.stem,
        "extends": extends_ref(cal.base_ref, out),
        "description": f"{cal.base.name} calibrated by graphcal fit on {len(cal.rows)} {cal.precision.value} rows",
        **fragment,
        "calibrated": cal.calibrated(),
        "provenance": provenance(cal, date),
    })


FIT_HEADER = "# Written by `graphcal fit`; see provenance for the data and the error it was measured with.\n"


def _counts(labels: list[str]) -> tuple[list[str], list[int]]:
    names = sorted(set(labels))
    return names, [labels.count(n) for n in names]


def _host_speed(speed) -> dict:
    """The speed scaling of the fit's rows, with the sweeps named by file (graphcal.fit.hostspeed)."""
    out = speed.as_dict()
    for sweep in out["sweeps"]:
        sweep["file"] = Path(sweep["file"]).name
    return out
