"""Sweep grids: YAML files that list the workloads a sweep times.

A grid names its kind (`mlp` or `ops`, which must match the command) and its workloads, given
as spec texts, as cartesian products filled into a template, or both:

    kind: mlp
    description: what the grid is for
    workloads:                      # optional: spec texts as `graphcal predict` takes them
      - mlp:1:64x64
    products:                       # optional: every combination of the listed values
      - template: "mlp:{batch}:{width}x{width}"
        batch: [1, 8, 32]           # each placeholder of the template: a non-empty list
        width: [64, 512]
    protocol:                       # optional: overrides of graphcal.sweep.protocol.Protocol
      rounds: 5
    threads: calibration            # optional: thread counts to time every workload at: a list
                                    # such as [1, 2], or `calibration` (calibration_threads())

Kinds: `mlp` (MLP specs only), `ops` and `model` (any spec; `net:NAME:B` are the calibration
models, which `sweep model --grid ... --per-op` times op by op).

Products expand in the order the keys are written, the first key varying slowest; the result
keeps the grid's order and drops duplicates. Every workload is parsed as a spec, so a bad
dimension is an error naming the grid before anything is timed. Shipped grids live in the
package (`graphcal/data/grids/`) and are named without `.yaml`.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from graphcal.data import shipped_dir
from graphcal.errors import GraphcalError
from graphcal.load.specs import parse_spec
from graphcal.sweep.protocol import Protocol

GRID_KEYS = ("kind", "description", "workloads", "products", "protocol", "threads")
KINDS = {"mlp": ("mlp",), "ops": None, "model": None}  # kind -> spec kinds it may hold (None: any)
CALIBRATION = "calibration"
_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Grid:
    name: str
    kind: str
    description: str
    workloads: tuple[str, ...]   # canonical spec texts, in grid order
    protocol: Protocol
    path: Path
    threads: tuple[int, ...] = ()  # () : the sweep's --threads (or torch's default)


def shipped_grids() -> list[str]:
    return sorted(p.stem for p in shipped_dir("grids").glob("*.yaml"))


def resolve_grid(name_or_path: str) -> Path:
    """A grid by shipped name (`mlp-default`) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise GraphcalError(f"grid file {path} not found")
        return path
    shipped = shipped_dir("grids") / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise GraphcalError(
            f"unknown grid {name_or_path!r}: shipped grids are {', '.join(shipped_grids()) or '(none)'}; "
            "or give a path to a YAML grid file"
        )
    return shipped


def load_grid(name_or_path: str, kind: str) -> Grid:
    """Load, validate and expand a grid for `graphcal sweep KIND`."""
    path = resolve_grid(name_or_path)
    where = path.name
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise GraphcalError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise GraphcalError(f"{where}: a grid is a mapping with keys {', '.join(GRID_KEYS)}")
    unknown = [k for k in data if k not in GRID_KEYS]
    if unknown:
        raise GraphcalError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; a grid has {', '.join(GRID_KEYS)}"
        )
    if data.get("kind") not in KINDS:
        raise GraphcalError(f"{where}: kind must be one of {', '.join(KINDS)}, got {data.get('kind')!r}")
    if data["kind"] != kind:
        raise GraphcalError(f"{where}: a grid of kind {data['kind']!r} cannot be used by `graphcal sweep {kind}`")
    texts = _listed(data.get("workloads"), f"{where}: workloads") + _expanded(data.get("products"), where)
    if not texts:
        raise GraphcalError(f"{where}: the grid lists no workloads (give `workloads` or `products`)")
    allowed = KINDS[kind]
    workloads: dict[str, None] = {}
    for text in texts:
        try:
            spec = parse_spec(text)
        except GraphcalError as exc:
            raise GraphcalError(f"{where}: {exc}") from None
        if allowed is not None and spec.kind.name not in allowed:
            raise GraphcalError(f"{where}: {text} is not an MLP spec (a {kind} grid holds {', '.join(allowed)} specs)")
        workloads.setdefault(spec.text, None)
    return Grid(
        name=path.stem,
        kind=kind,
        description=str(data.get("description", "")),
        workloads=tuple(workloads),
        protocol=_protocol(data.get("protocol"), where),
        path=path,
        threads=_threads(data.get("threads"), where),
    )


def calibration_threads(cores: int) -> tuple[int, ...]:
    """The thread counts calibration times: every count up to 4 cores, then powers of two
    and the core count itself (1, 2, 4, 8, 12 on 12 cores)."""
    if cores <= 4:
        return tuple(range(1, cores + 1))
    counts = {1 << i for i in range(cores.bit_length()) if 1 << i <= cores} | {cores}
    return tuple(sorted(counts))


def _threads(value, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if value == CALIBRATION:
        from graphcal.hardware.host import physical_cores

        return calibration_threads(physical_cores())
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 4096 for v in value)
    ):
        raise GraphcalError(f"{where}: threads must be `{CALIBRATION}` or a list of positive thread counts")
    return tuple(sorted(set(value)))


def _listed(value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        raise GraphcalError(f"{where}: must be a non-empty list of workload specs")
    if not all(isinstance(v, str) for v in value):
        raise GraphcalError(f"{where}: every entry must be a spec text such as mlp:1:64x64")
    return list(value)


def _expanded(products, where: str) -> list[str]:
    if products is None:
        return []
    if not isinstance(products, list) or not products:
        raise GraphcalError(f"{where}: products must be a non-empty list of {{template, placeholder lists}}")
    texts: list[str] = []
    for i, product in enumerate(products):
        at = f"{where}: products[{i}]"
        if not isinstance(product, dict) or not isinstance(product.get("template"), str):
            raise GraphcalError(f"{at}: needs a `template` string such as \"mlp:{{batch}}:{{width}}x{{width}}\"")
        template = product["template"]
        try:
            placeholders = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise GraphcalError(f"{at}: malformed template {template!r} ({exc})") from None
        variables = {k: v for k, v in product.items() if k != "template"}
        for name in sorted(placeholders - set(variables)):
            raise GraphcalError(f"{at}: template placeholder {{{name}}} has no list of values")
        for name in variables:
            if name not in placeholders:
                raise GraphcalError(f"{at}: unknown key {name!r}: not a placeholder of {template!r}")
            _check_values(variables[name], f"{at}.{name}")
        names = list(variables)
        for combo in itertools.product(*(variables[n] for n in names)):
            texts.append(template.format(**dict(zip(names, combo))))
    return texts


def _check_values(values, where: str) -> None:
    if not isinstance(values, list) or not values:
        raise GraphcalError(f"{where}: must be a non-empty list")
    for v in values:
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and _VALUE.match(v))):
            raise GraphcalError(f"{where}: {v!r} is neither a positive integer nor a name such as gelu")
        if isinstance(v, int) and v <= 0:
            raise GraphcalError(f"{where}: {v} is not a positive integer")


COUNTS = ("rounds", "max_rounds", "min_samples", "warmup_calls", "passes")
COUNTS_AT_LEAST_1 = ("rounds", "max_rounds", "min_samples", "passes")


def _protocol(value, where: str) -> Protocol:
    if value is None:
        return Protocol()
    if not isinstance(value, dict):
        raise GraphcalError(f"{where}: protocol must be a mapping of settings")
    known = {f.name: f.type for f in fields(Protocol)}
    settings = {}
    for key, v in value.items():
        if key not in known:
            raise GraphcalError(f"{where}: protocol: unknown setting {key!r}; known: {', '.join(known)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (v == 0 and key in COUNTS_AT_LEAST_1):
            raise GraphcalError(f"{where}: protocol.{key}: must be a positive number, got {v!r}")
        settings[key] = int(v) if key in COUNTS else float(v)
    return Protocol(**settings)
