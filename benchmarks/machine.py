"""Describe the machine at hand as benchmarks/results/<cpu>-<date>/machine.json records it.

    python benchmarks/machine.py > machine.json      # lscpu's model, family/model numbers, cores, flags, caches, torch
    python benchmarks/machine.py --slug              # the folder name's CPU part, e.g. xeon-6-207-2vcpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess


def lscpu() -> dict[str, str]:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def describe() -> dict:
    import torch

    info = lscpu()
    flags = info.get("Flags", "").split()
    keep = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8", "avx_vnni")
    return {
        "model_name": info.get("Model name", platform.processor()),
        "vendor": info.get("Vendor ID", ""),
        "cpu_family": info.get("CPU family", ""),
        "model": info.get("Model", ""),
        "logical_cpus": os.cpu_count(),
        "threads_per_core": info.get("Thread(s) per core", ""),
        "hypervisor": info.get("Hypervisor vendor", ""),
        "caches": {k: info[k] for k in ("L1d cache", "L2 cache", "L3 cache") if k in info},
        "simd_flags": [f for f in keep if f in flags],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def slug(machine: dict) -> str:
    vendor = "amd-epyc" if "AMD" in machine["vendor"] else ("intel-xeon" if "Intel" in machine["vendor"] else "cpu")
    name = re.sub(r"[^a-z0-9]+", "-", f"{vendor}-f{machine['cpu_family']}-m{machine['model']}").strip("-")
    return f"{name}-{machine['logical_cpus']}vcpu"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", action="store_true", help="print only the folder name's CPU part")
    args = parser.parse_args()
    machine = describe()
    print(slug(machine) if args.slug else json.dumps(machine, indent=2))
