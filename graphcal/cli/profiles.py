"""`graphcal profiles list|show`: what profiles exist and what they resolve to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from graphcal.cli import app
from graphcal.cli.options import JsonOption
from graphcal.cost import OpCost, OpKind
from graphcal.errors import GraphcalError
from graphcal.hardware.profile import (
    load_profile,
    shadow_message,
    shadowed_user_profiles,
    shipped_profiles,
    user_profile_dir,
    user_profiles,
)
from graphcal.mapper import Target, matrix_compute_rate, memory_rate, vector_compute_rate

profiles_app = typer.Typer(
    help="List hardware profiles, show what one resolves to, or make one for this machine.", no_args_is_help=True
)
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("list")
def list_profiles(as_json: JsonOption = False) -> None:
    """The shipped profiles and the user's own (in $GRAPHCAL_PROFILE_DIR or ~/.config/graphcal/hardware)."""
    rows = []
    shadowed = shadowed_user_profiles()
    for origin, paths in (("shipped", shipped_profiles()), ("user", user_profiles())):
        for path in paths:
            profile = load_profile(path)
            conflict = origin == "user" and path.stem in shadowed
            rows.append({
                "name": path.stem,
                "origin": origin,
                "path": str(path),
                "extends": profile.data.get("extends"),
                "description": profile.data.get("description", ""),
                # a user profile named like a shipped one is refused by name (shadow_message)
                "conflict": shadow_message(path.stem, path) if conflict else None,
            })
    for row in rows:
        if row["conflict"]:
            Console(stderr=True).print(f"warning: {row['conflict']}", soft_wrap=True, markup=False)
    if as_json:
        print(json.dumps({"profiles": rows, "user_dir": str(user_profile_dir())}, indent=2))
        return
    table = Table(title=f"hardware profiles (user directory: {user_profile_dir()})")
    for column in ("name", "origin", "extends", "description"):
        table.add_column(column)
    for row in rows:
        origin = "user: NAME TAKEN, refused by name" if row["conflict"] else row["origin"]
        table.add_row(row["name"], origin, row["extends"] or "", row["description"])
    Console().print(table)


LARGE_GEMM = OpCost(kind=OpKind.MATRIX, rows=1 << 30, depth=1 << 30, columns=1 << 30)  # shape_utilization ~ 1


def effective_rates(profile) -> dict[str, dict[str, float]]:
    """Per precision, at the profile's own core count: the matrix rate of a large GEMM, the
    vector rate, and the memory rate of a working set within and beyond the last-level cache."""
    rates = {}
    for precision in profile.precisions:
        target = Target(profile, precision, profile.physical_cores)
        rates[precision.value] = {
            "matrix_flops_per_s": matrix_compute_rate(target, LARGE_GEMM),
            "vector_flops_per_s": vector_compute_rate(target),
            "cache_bytes_per_s": memory_rate(profile.last_level_cache_bytes, target),
            # NB: a working set far beyond the cache streams at the DRAM rate alone
            "memory_bytes_per_s": memory_rate(float("inf"), target),
        }
    return rates


@profiles_app.command("show")
def show_profile(
    profile_ref: Annotated[str, typer.Argument(metavar="NAME|PATH", help="A profile name or a path to a .yaml file.")],
    as_json: JsonOption = False,
) -> None:
    """The resolved profile (after `extends`) and its effective throughput per precision and op class."""
    profile = load_profile(profile_ref)
    rates = effective_rates(profile)
    if as_json:
        print(json.dumps({**profile.data, "source": profile.source, "effective": rates}, indent=2))
        return
    console = Console()
    console.print(f"[bold]{profile.name}[/] ({profile.source})")
    console.print(yaml.safe_dump(profile.data, sort_keys=False).rstrip())
    table = Table(title=f"effective throughput at {profile.physical_cores} threads")
    for column in ("precision", "matrix GFLOP/s (large GEMM)", "vector GFLOP/s", "LLC GB/s", "DRAM GB/s"):
        table.add_column(column, justify="right")
    for precision, r in rates.items():
        table.add_row(
            precision,
            f"{r['matrix_flops_per_s'] / 1e9:.1f}",
            f"{r['vector_flops_per_s'] / 1e9:.1f}",
            f"{r['cache_bytes_per_s'] / 1e9:.1f}",
            f"{r['memory_bytes_per_s'] / 1e9:.1f}",
        )
    console.print(table)


@profiles_app.command("init")
def init_profile(
    host: Annotated[
        bool, typer.Option("--host", help="Describe the machine at hand (the only source for now).")
    ] = False,
    out: Annotated[Path, typer.Option("--out", metavar="FILE.yaml", help="Where to write the profile.")] = Path(
        "host.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A base profile for this machine: what can be read (CPU, cores, SIMD, clocks, caches) and
    short probes for the rest (sgemm peak, copy bandwidth, per-op overhead), each marked in the file;
    a bf16 peak and table too where the CPU computes bf16 natively."""
    from graphcal.hardware.init import init_host_profile
    from graphcal.hardware.write import check_out

    if not host:
        raise GraphcalError("profiles init needs a source: --host (describe this machine)")
    check_out(out, base_ref=None, force=force)
    err = Console(stderr=True)
    err.print("detecting this machine and probing peak, bandwidth and overhead (a few seconds)...")
    document = init_host_profile(out)
    for note in document["provenance"].get("notes", []):
        err.print(note, soft_wrap=True, markup=False)
    if as_json:
        print(json.dumps({"path": str(out), "profile": document}, indent=2))
        return
    console = Console()
    sources = document["provenance"]["sources"]
    table = Table(title=f"wrote {out}")
    for column in ("field", "value", "source"):
        table.add_column(column)
    for path, source in sources.items():
        section, _, rest = path.partition(".")
        value = document[section]
        for key in rest.split("."):
            value = value[key]
        table.add_row(path, f"{value:.4g}" if isinstance(value, float) else str(value), source)
    console.print(table)
    console.print(
        f"next: graphcal sweep mlp, then graphcal fit SWEEP.csv --base {out} "
        f"--out {out.with_name(out.stem + '-fit.yaml')}"
        + ("; for bf16, the same with sweep --dtype bf16" if "bf16" in document["coefficients"] else "")
    )
