"""`graphcal profiles list|show`: what profiles exist and what they resolve to."""

from __future__ import annotations

import json
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from graphcal.cli import app
from graphcal.cli.options import JsonOption
from graphcal.mapper import Target, matrix_compute_rate, memory_rate, vector_compute_rate
from graphcal.profile import load_profile, shipped_profiles, user_profile_dir, user_profiles

profiles_app = typer.Typer(help="List hardware profiles and show what one resolves to.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("list")
def list_profiles(as_json: JsonOption = False) -> None:
    """The shipped profiles and the user's own (in $GRAPHCAL_PROFILE_DIR or ~/.config/graphcal/hardware)."""
    rows = []
    for origin, paths in (("shipped", shipped_profiles()), ("user", user_profiles())):
        for path in paths:
            profile = load_profile(path)
            rows.append({
                "name": path.stem,
                "origin": origin,
                "path": str(path),
                "extends": profile.data.get("extends"),
                "description": profile.data.get("description", ""),
            })
    if as_json:
        print(json.dumps({"profiles": rows, "user_dir": str(user_profile_dir())}, indent=2))
        return
    table = Table(title=f"hardware profiles (user directory: {user_profile_dir()})")
    for column in ("name", "origin", "extends", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["origin"], row["extends"] or "", row["description"])
    Console().print(table)


def effective_rates(profile) -> dict[str, dict[str, float]]:
    """Per precision: the matrix, vector and memory rates at the profile's own core count."""
    rates = {}
    for precision in profile.precisions:
        target = Target(profile, precision, profile.physical_cores)
        rates[precision.value] = {
            "matrix_flops_per_s": matrix_compute_rate(target),
            "vector_flops_per_s": vector_compute_rate(target),
            "memory_bytes_per_s": memory_rate(target),
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
    for column in ("precision", "matrix GFLOP/s", "vector GFLOP/s", "memory GB/s"):
        table.add_column(column, justify="right")
    for precision, r in rates.items():
        table.add_row(
            precision,
            f"{r['matrix_flops_per_s'] / 1e9:.1f}",
            f"{r['vector_flops_per_s'] / 1e9:.1f}",
            f"{r['memory_bytes_per_s'] / 1e9:.1f}",
        )
    console.print(table)
