"""Fit the shipped i7-12700K profiles on the measured i7 rows and record their validation error.

    python scripts/calibrate_i7.py

`i7-12700k` is fitted on every calibration row from i7-12700k-spec (the datasheet facts);
`i7-12700k-tiny` and `i7-12700k-large` are fitted from i7-12700k (which they extend) on the
small-work and the large-work calibration rows. Each is then checked with `graphcal compare` on
the matching validation rows, which no fit saw; those figures go into the profile's provenance.
Rows are split by work (see scripts/import_i7_data.py): small < 2e7 FLOP <= large.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sweeps" / "data" / "i7-12700k"
CONFIGS = REPO / "graphcal" / "data" / "hardware"
# profile -> (base, calibration rows, validation rows, what it is for, parameters held)
VARIANTS = {
    "i7-12700k": ("i7-12700k-spec", "calibration.csv", "validation.csv", "all measured shapes", ""),
    "i7-12700k-tiny": ("i7-12700k", "calibration-small.csv", "validation-small.csv",
                       "small work (< 2e7 FLOP per op)", ""),
    # 15 rows of large work determine little beyond the compute and memory rates: hold the rest
    "i7-12700k-large": ("i7-12700k", "calibration-large.csv", "validation-large.csv",
                        "large work (>= 2e7 FLOP per op)",
                        "per_op_overhead_s,matrix_op_overhead_s,cache_bandwidth_bytes_per_s,"
                        "matrix_half_rate_rows,matrix_half_rate_columns"),
}


def graphcal(*args: str) -> dict:
    command = [sys.executable, "-m", "graphcal", *args, "--json"]
    print("$ graphcal " + " ".join(args) + " --json", flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def main() -> None:
    for name, (base, calibration, validation, purpose, fixed) in VARIANTS.items():
        out = CONFIGS / f"{name}.yaml"
        fix = ("--fix", fixed) if fixed else ()
        fit = graphcal("fit", str((DATA / calibration).relative_to(REPO)), "--base", base,
                       "--out", str(out.relative_to(REPO)), "--seed", "0", "--force", *fix)
        check = graphcal("compare", str((DATA / validation).relative_to(REPO)), "--hw", str(out.relative_to(REPO)))
        document = yaml.safe_load(out.read_text())
        document["name"] = name
        document["description"] = f"i7-12700K calibrated on measured kernel latencies: {purpose}"
        document["provenance"]["validation"] = {
            "file": validation,
            "sha256": hashlib.sha256((DATA / validation).read_bytes()).hexdigest(),
            "n": check["n"],
            "mape": check["mape"],
            "within_10": check["within_10"],
            "command": f"graphcal compare sweeps/data/i7-12700k/{validation} --hw {name}",
        }
        header = "".join(line + "\n" for line in out.read_text().splitlines() if line.startswith("#"))
        out.write_text(header + yaml.safe_dump(document, sort_keys=False))
        print(f"{name}: holdout MAPE {fit['holdout']['mape']:.1%} (n={fit['holdout']['n']}), "
              f"validation MAPE {check['mape']:.1%} (n={check['n']}, within 10%: {check['within_10']:.0%})")


if __name__ == "__main__":
    main()
