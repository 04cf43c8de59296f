"""Hardware profiles: YAML data, validated at load, with `extends:` resolved.

A profile states facts about a machine (peaks, bandwidth, caches) and calibrated coefficients
per precision. Every field is checked against SCHEMA; an unknown key, a missing fact, a wrong
type or a value out of range is an error naming the file and the field path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from graphcal.data import shipped_dir
from graphcal.errors import GraphcalError
from graphcal.precision import Precision
from graphcal.yamlfile import load_yaml

USER_DIR_ENV = "GRAPHCAL_PROFILE_DIR"
MAX_EXTENDS = 32  # profiles in one `extends` chain; far more than any real variant needs

# The calibrated coefficients of one precision; each is applied in exactly one mapper function.
COEFFICIENTS = (
    "efficiency_factor",
    "memory_bottleneck_factor",
    "tile_utilization",
    "instruction_efficiency",
)


# Op families (OpCost.family) that may carry their own corrections under `families:`, each
# applied in one mapper function: `<family>_rate_factor` (mapper.family_rate_factor) and
# `<family>_overhead_s` (mapper.op_overhead), mapped to their class's reference family. linear
# and elementwise have none: they are the references that the coefficients and the class
# overheads are fitted on, so a correction is relative to them.
FAMILY_REFERENCE = {
    "matmul": "linear", "conv": "linear", "depthwise": "linear", "attention": "linear", "recurrent": "linear",
    "lstm": "linear",
    "activation": "elementwise", "norm": "elementwise", "softmax": "elementwise", "pool": "elementwise",
    "adaptive_pool": "elementwise", "embedding": "elementwise", "reduction": "elementwise", "memory": "elementwise",
}
FAMILIES = tuple(FAMILY_REFERENCE)
KNOWN_FAMILIES = frozenset(FAMILY_REFERENCE) | frozenset(FAMILY_REFERENCE.values())  # the references too
FAMILY_RATE_FACTOR_MAX = 10.0

# Kernel classes (graphcal.cost.classes.kernel_class says which an op is): each may carry its own
# table under `kernels.<precision>.<class>`; the matrix classes also take GEMM shape terms.
KERNEL_CLASSES: tuple[str, ...] = (
    "gemm", "matvec", "bmm", "conv", "conv1d", "conv_native", "depthwise", "attention", "recurrent", "lstm",
    "pool1d", "pool2d", "pool3d", "adaptive_pool", "norm", "softmax", "activation", "tanh", "exp", "gelu_tanh",
    "elementwise", "elementwise_unary", "elementwise_scalar", "reduction", "embedding", "copy",
)
MATRIX_CLASSES = frozenset(
    {"gemm", "matvec", "bmm", "conv", "conv1d", "conv_native", "depthwise", "attention", "lstm"}
)


def user_profile_dir() -> Path:
    """Where `--hw NAME` finds the user's own profiles: $GRAPHCAL_PROFILE_DIR, else
    ~/.config/graphcal/hardware."""
    env = os.environ.get(USER_DIR_ENV)
    return Path(env) if env else Path.home() / ".config" / "graphcal" / "hardware"


# --- schema -----------------------------------------------------------------------------------
# A leaf is (type, check, required); a dict is a nested section; PRECISION_MAP marks a mapping
# keyed by precision name.

def _positive(v: float) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else f"must be >= 0, got {v}"


def _unit_interval(v: float) -> str | None:
    return None if 0 < v <= 1 else f"must be in (0, 1], got {v}"


def _retained_shares(v: dict) -> str | None:
    if not v:
        return "must map multiples of l3_bytes to shares, e.g. {1.5: 0.9, 2: 0.7, 4: 0.1}"
    for multiple, share in v.items():
        if isinstance(multiple, bool) or not isinstance(multiple, NUMBER) or multiple <= 1:
            return f"multiple {multiple!r} must be a number > 1 (working sets beyond l3_bytes)"
        if isinstance(share, bool) or not isinstance(share, NUMBER) or not 0 <= share <= 1:
            return f"at {multiple}: the share must be in [0, 1], got {share!r}"
    return None


def _rate_factor(v: float) -> str | None:
    return None if 0 < v <= FAMILY_RATE_FACTOR_MAX else f"must be in (0, {FAMILY_RATE_FACTOR_MAX:g}], got {v}"


NUMBER = (float, int)
REQ, OPT = True, False


def _names(v: list) -> str | None:
    unknown = [x for x in v if not isinstance(x, str) or x not in KNOWN_FAMILIES]
    return f"unknown op families {unknown}; known: {', '.join(sorted(KNOWN_FAMILIES))}" if unknown else None


def _counts(v: list) -> str | None:
    bad = [x for x in v if isinstance(x, bool) or not isinstance(x, int) or x < 1]
    return f"must be a list of positive thread counts, got {bad}" if bad else None


# A kernel class's table (`kernels.<precision>.<class>`, applied by graphcal.mapper): rates and
# fixed cost at each calibrated thread count, shape terms, and what its calibration covered.
KERNEL_THREAD_TERMS = {"compute": "positive", "memory": "positive", "overhead_s": "non-negative",
                       "in_model": "positive",
                       "in_model_rate": "positive", "cold_rate": "positive", "rewarm_s": "non-negative"}
# terms that only some classes carry, and which (graphcal.mapper reads each for those classes only)
CLASS_ONLY_TERMS = {"in_model_rate": ("gemm",), "cold_rate": ("gemm", "matvec"),
                    "cold_half_depth": ("matvec",)}
KERNEL_REQUIRED = ("compute", "memory", "overhead_s")
KERNEL_SHAPE_TERMS = ("half_rate_rows", "half_rate_depth", "half_rate_columns")  # a number, or one per thread count
KERNEL_PACK_TERMS = ("pack_rows", "pack_rate")  # gemm: packing the K x N matrix once per call
KERNEL_GEMM_TERMS = (*KERNEL_PACK_TERMS, "misaligned_columns")  # and the partial vectors ending its output rows
# with in_model: the slowdown inside a model; with rewarm_s: the code reuse distance costing half of it
KERNEL_CONTEXT_TERMS = ("in_model_half_ops", "in_model_from_ops", "rewarm_half")
KERNEL_RANGES = ("flops", "bytes")
# table fields a later form replaced, and what replaced them: a profile stating one must be refitted
REPLACED_TERMS = {"misaligned": "misaligned_columns (the work of each partial vector ending an output row)"}


def _thread_map(v: Any, sign: str) -> str | None:
    if not isinstance(v, dict) or not v:
        return "must map thread counts to values, e.g. {1: 0.8, 2: 0.7}"
    for threads, value in v.items():
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            return f"thread count {threads!r} must be a positive integer"
        if isinstance(value, bool) or not isinstance(value, NUMBER) or value < 0 or (sign == "positive" and value == 0):
            return f"at {threads} threads: must be a {sign} number, got {value!r}"
    return None


def _kernel_table(kernel_class: str, v: dict) -> str | None:
    shape_terms = KERNEL_SHAPE_TERMS if kernel_class in MATRIX_CLASSES else ()
    shape_terms += KERNEL_GEMM_TERMS if kernel_class == "gemm" else ()
    shape_terms += KERNEL_CONTEXT_TERMS
    shape_terms += ("cold_half_depth",) if kernel_class in CLASS_ONLY_TERMS["cold_half_depth"] else ()
    thread_terms = [k for k in KERNEL_THREAD_TERMS if kernel_class in CLASS_ONLY_TERMS.get(k, (kernel_class,))]
    allowed = (*thread_terms, *shape_terms, "covers")
    unknown = [k for k in v if k not in allowed]
    replaced = [k for k in unknown if k in REPLACED_TERMS]
    if replaced:
        return f"{replaced[0]!r} is replaced by {REPLACED_TERMS[replaced[0]]}: refit the profile with graphcal fit"
    if unknown:
        return f"unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})"
    missing = [k for k in KERNEL_REQUIRED if k not in v]
    if missing:
        return f"missing {', '.join(missing)} (a kernel class states each at its calibrated thread counts)"
    for name, sign in KERNEL_THREAD_TERMS.items():
        problem = _thread_map(v[name], sign) if name in v else None
        if problem:
            return f"{name}: {problem}"
    for name in shape_terms:
        value = v.get(name, 0)
        if name in KERNEL_SHAPE_TERMS and isinstance(value, dict):
            problem = _thread_map(value, "non-negative")
            if problem:
                return f"{name}: {problem}"
        elif isinstance(value, bool) or not isinstance(value, NUMBER) or value < 0:
            per_thread = " or a map of thread counts to them" if name in KERNEL_SHAPE_TERMS else ""
            return f"{name}: must be a number >= 0{per_thread}, got {value!r}"
    if ("in_model" in v or "in_model_rate" in v) and not v.get("in_model_half_ops"):
        return "in_model and in_model_rate need in_model_half_ops > 0 (the graph size they ramp in by)"
    if "cold_half_depth" in v and "cold_rate" not in v:
        return "cold_half_depth needs cold_rate (the rate it scales by the depth of each row)"
    if "rewarm_s" in v and not v.get("rewarm_half"):
        return "rewarm_s needs rewarm_half > 0 (the code reuse distance, in last-level caches, costing half of it)"
    covers = v.get("covers", {})
    if not isinstance(covers, dict) or any(k not in ("threads", *KERNEL_RANGES) for k in covers):
        return f"covers: must map threads, {', '.join(KERNEL_RANGES)} to what the calibration saw"
    for name in KERNEL_RANGES:
        span = covers.get(name, [0, 0])
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, NUMBER) for x in span)):
            return f"covers.{name}: must be [smallest, largest]"
    if "threads" in covers and _counts(covers["threads"]):
        return f"covers.threads: {_counts(covers['threads'])}"
    return None


@dataclass(frozen=True)
class Leaf:
    types: tuple
    check: Any = None
    required: bool = REQ


@dataclass(frozen=True)
class PrecisionMap:
    value: Any  # a Leaf or a section dict
    required: bool = REQ


COEFFICIENT_SECTION = {name: Leaf(NUMBER, _unit_interval) for name in COEFFICIENTS}

SCHEMA: dict[str, Any] = {
    "name": Leaf((str,)),
    "description": Leaf((str,), None, OPT),
    "extends": Leaf((str,), None, OPT),
    "cpu": {
        "model": Leaf((str,)),
        "physical_cores": Leaf((int,), _positive),
        "logical_cores": Leaf((int,), _positive),
        "base_clock_hz": Leaf(NUMBER, _positive, OPT),
        "max_clock_hz": Leaf(NUMBER, _positive, OPT),
        "simd": Leaf((str,), None, OPT),
        "fp32_flops_per_cycle_per_core": Leaf((int,), _positive, OPT),
    },
    "caches": {
        "l1d_bytes_per_core": Leaf((int,), _positive, OPT),
        "l2_bytes_per_core": Leaf((int,), _positive, OPT),
        "l3_bytes": Leaf((int,), _positive),  # the last-level cache: picks the memory tier
        # share of a working set of n x l3_bytes, read again and again, that the last-level cache
        # still serves, by n > 1 (absent: none, such a working set streams from DRAM in full)
        "l3_retained_share": Leaf((dict,), _retained_shares, OPT),
    },
    "memory": {
        "bandwidth_bytes_per_s": Leaf(NUMBER, _positive),        # DRAM
        "cache_bandwidth_bytes_per_s": Leaf(NUMBER, _positive),  # working sets within l3_bytes
        # working sets within the L2 caches of the cores used (absent: no L2 tier)
        "l2_bandwidth_bytes_per_s": Leaf(NUMBER, _positive, OPT),
        # the share of those bandwidths one thread reaches (absent: 1, every thread count alike)
        "single_thread_share": Leaf(NUMBER, _unit_interval, OPT),
        # seconds to fault in each 4 KiB page of a fresh mapping, by thread count (absent: the
        # allocator's fresh mappings are not costed, and predict says so)
        "fresh_page_s": Leaf((dict,), partial(_thread_map, sign="non-negative"), OPT),
    },
    "peak_flops_per_s": PrecisionMap(Leaf(NUMBER, _positive)),
    "runtime": {
        "per_op_overhead_s": Leaf(NUMBER, _non_negative),
        "matrix_op_overhead_s": Leaf(NUMBER, _non_negative),
        "matrix_half_rate_rows": Leaf(NUMBER, _non_negative),
        "matrix_half_rate_depth": Leaf(NUMBER, _non_negative),
        "matrix_half_rate_columns": Leaf(NUMBER, _non_negative),
        # a matrix-vector product's weight rows of this length stream at half the memory rate
        # (absent: 0, no such term)
        "vector_product_half_rate_depth": Leaf(NUMBER, _non_negative, OPT),
    },
    "coefficients": PrecisionMap(COEFFICIENT_SECTION),
    # Optional corrections for op families whose kernels depart from their class (fit sets them
    # from `graphcal sweep ops`); an absent one is no correction: factor 1, extra overhead 0.
    "families": {
        **{f"{f}_rate_factor": Leaf(NUMBER, _rate_factor, OPT) for f in FAMILIES},
        **{f"{f}_overhead_s": Leaf(NUMBER, _non_negative, OPT) for f in FAMILIES},
    },
    # What the fits behind this profile had rows for (graphcal fit writes it): predict reports
    # the share of a prediction that falls on other op families, and other thread counts.
    "calibrated": {
        "families": Leaf((list,), _names, OPT),
        "threads": Leaf((list,), _counts, OPT),
    },
    # Per precision, per kernel class (graphcal.cost.classes): the class's own calibrated
    # terms; an op of a class with a table is timed by it alone (graphcal.mapper.kernel_table).
    "kernels": PrecisionMap({c: Leaf((dict,), partial(_kernel_table, c), OPT) for c in KERNEL_CLASSES}, OPT),
    "provenance": Leaf((dict,), None, OPT),
    "measured": Leaf((dict,), None, OPT),
}


@dataclass(frozen=True)
class HardwareProfile:
    """A resolved, validated profile. `data` is the merged YAML mapping after `extends`."""

    name: str
    source: str
    data: dict[str, Any]

    @property
    def physical_cores(self) -> int:
        return self.data["cpu"]["physical_cores"]

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return float(self.data["memory"]["bandwidth_bytes_per_s"])

    @property
    def cache_bandwidth_bytes_per_s(self) -> float:
        return float(self.data["memory"]["cache_bandwidth_bytes_per_s"])

    @property
    def l2_tier(self) -> tuple[int, float] | None:
        """(L2 bytes per core, bandwidth of working sets within the L2s), or None where the
        profile states either not."""
        size = self.data["caches"].get("l2_bytes_per_core")
        bandwidth = self.data["memory"].get("l2_bandwidth_bytes_per_s")
        return None if size is None or bandwidth is None else (int(size), float(bandwidth))

    @property
    def calibrated_families(self) -> frozenset[str]:
        """The op families fits had rows for (none where the profile records no fit)."""
        return frozenset(self.data.get("calibrated", {}).get("families", ()))

    @property
    def calibrated_threads(self) -> tuple[int, ...]:
        """The thread counts fits had rows for (none where the profile records no fit)."""
        return tuple(self.data.get("calibrated", {}).get("threads", ()))

    @property
    def single_thread_share(self) -> float:
        """memory.single_thread_share, 1 where the profile states none."""
        return float(self.data["memory"].get("single_thread_share", 1.0))

    @property
    def fresh_page_s(self) -> dict[int, float]:
        """memory.fresh_page_s by thread count; empty where the profile states none."""
        return {int(t): float(s) for t, s in self.data["memory"].get("fresh_page_s", {}).items()}

    @property
    def last_level_cache_bytes(self) -> int:
        return self.data["caches"]["l3_bytes"]

    @property
    def l3_retained_share(self) -> dict[float, float]:
        """caches.l3_retained_share by multiple of l3_bytes, ascending; empty where the profile
        states none."""
        shares = self.data["caches"].get("l3_retained_share", {})
        return {float(m): float(shares[m]) for m in sorted(shares)}

    def runtime(self, name: str) -> float:
        """`runtime.<name>`; 0 for an optional term the profile does not state (a name the
        schema does not know is a KeyError: a misspelt term is no term)."""
        if SCHEMA["runtime"][name].required:
            return float(self.data["runtime"][name])
        return float(self.data["runtime"].get(name, 0.0))

    def kernel_table(self, precision: Precision, kernel_class: str) -> dict[str, Any] | None:
        """`kernels.<precision>.<class>`, or None where the profile calibrates no such table."""
        return self.data.get("kernels", {}).get(precision.value, {}).get(kernel_class)

    @property
    def has_kernel_tables(self) -> bool:
        return bool(self.data.get("kernels"))

    def family_term(self, name: str) -> float | None:
        """`families.<name>`, or None where the profile states no correction."""
        value = self.data.get("families", {}).get(name)
        return None if value is None else float(value)

    @property
    def precisions(self) -> list[Precision]:
        return [Precision(p) for p in self.data["coefficients"]]

    def peak_flops_per_s(self, precision: Precision) -> float:
        self._require(precision)
        return float(self.data["peak_flops_per_s"][precision.value])

    def coefficient(self, precision: Precision, name: str) -> float:
        self._require(precision)
        return float(self.data["coefficients"][precision.value][name])

    def _require(self, precision: Precision) -> None:
        if precision.value not in self.data["coefficients"]:
            have = ", ".join(self.data["coefficients"])
            raise GraphcalError(
                f"profile {self.name!r} ({self.source}) has no {precision.value} coefficients; "
                f"it describes: {have}. {how_to_calibrate(precision)}"
            )


def how_to_calibrate(precision: Precision) -> str:
    """How a profile gets `coefficients.<precision>` and `peak_flops_per_s.<precision>` (the end of
    the error for a precision a profile lacks): graphcal fit calibrates a table, it makes none."""
    p = precision.value
    if precision is Precision.FP32:
        return "Make one with `graphcal profiles init --host`; calibrate it with `graphcal sweep` and `graphcal fit`."
    if precision is Precision.BF16:
        return (
            "`graphcal profiles init --host` writes peak_flops_per_s.bf16 and a starting coefficients.bf16 on a CPU "
            "with native bf16 (x86 avx512_bf16 or amx_bf16, aarch64 bf16); then calibrate them with "
            "`graphcal sweep mlp|ops|model --dtype bf16` and `graphcal fit`."
        )
    return (
        f"graphcal writes no {p} table itself: add peak_flops_per_s.{p} and coefficients.{p} to a profile, then "
        f"calibrate them with `graphcal sweep ... --dtype {p}` and `graphcal fit`."
    )


# --- loading ----------------------------------------------------------------------------------

def shipped_profiles() -> list[Path]:
    return sorted(shipped_dir("hardware").glob("*.yaml"))


def user_profiles() -> list[Path]:
    directory = user_profile_dir()
    return sorted(directory.glob("*.yaml")) if directory.is_dir() else []


def is_profile_path(ref: str) -> bool:
    """A profile reference is a path if it contains a separator or ends in .yaml/.yml; else a name."""
    return os.sep in ref or "/" in ref or ref.endswith((".yaml", ".yml"))


def resolve_path(ref: str, relative_to: Path | None = None) -> Path:
    """A profile reference is a path (it exists, or contains a separator or .yaml) or a name
    looked up in the user directory, then among the shipped profiles; a name in both is an
    error (shadow_message), except in a shipped profile's `extends`, which means the shipped one."""
    if is_profile_path(ref):
        path = Path(ref).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if not path.is_file():
            raise GraphcalError(f"hardware profile file {ref!r} not found")
        return path
    shipped, user = shipped_dir("hardware") / f"{ref}.yaml", user_profile_dir() / f"{ref}.yaml"
    if relative_to is not None and relative_to.resolve() == shipped_dir("hardware").resolve() and shipped.is_file():
        return shipped  # a shipped profile extends shipped ones: no user file can change its chain
    if shipped.is_file() and user.is_file():
        raise GraphcalError(shadow_message(ref, user))
    for candidate in (user, shipped):
        if candidate.is_file():
            return candidate
    names = [p.stem for p in user_profiles() + shipped_profiles()]
    raise GraphcalError(
        f"unknown hardware profile {ref!r}: known profiles are {', '.join(names) or 'none'} "
        f"(or give a path to a .yaml file; user profiles live in {user_profile_dir()})"
    )


def shadow_message(name: str, user_path: Path) -> str:
    """A user profile may not take a shipped profile's name: `--hw NAME` would mean two things,
    and a silent choice between them can change a prediction eightfold (49.7 ms against 5.93 ms)."""
    return (
        f"profile name {name!r} is both shipped and in your profile directory ({user_path}); rename your "
        "file (a user profile may not shadow a shipped one), or give its path to use it"
    )


def shadowed_user_profiles() -> set[str]:
    """Names of user profiles that a shipped profile has too (refused by name; see shadow_message)."""
    return {p.stem for p in user_profiles()} & {p.stem for p in shipped_profiles()}


def chain_files(ref: str | Path) -> list[Path]:
    """The files a profile is built from: itself, then each `extends` parent in turn (resolved
    paths; stops quietly at a broken link, a cycle or MAX_EXTENDS: loading reports those)."""
    path = (ref if isinstance(ref, Path) else resolve_path(ref)).resolve()
    files: list[Path] = []
    while path not in files and len(files) <= MAX_EXTENDS:
        files.append(path)
        try:
            parent = _read_yaml(path).get("extends")
            if not isinstance(parent, str):
                break
            path = resolve_path(parent, relative_to=path.parent).resolve()
        except GraphcalError:
            break
    return files


def load_profile(ref: str | Path) -> HardwareProfile:
    """Load, resolve `extends` and validate the profile named or pointed to by `ref`."""
    path = ref if isinstance(ref, Path) else resolve_path(ref)
    merged = _load_chain(path, seen=())
    label = path.name
    _validate(merged, SCHEMA, label, prefix="")
    return HardwareProfile(name=merged["name"], source=str(path), data=merged)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraphcalError(f"cannot read hardware profile {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise GraphcalError(f"{path.name}: not a hardware profile (binary, not YAML text)") from None
    data = load_yaml(text, path.name)
    if not isinstance(data, dict):
        raise GraphcalError(f"{path.name}: a hardware profile must be a YAML mapping")
    return data


def _load_chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in seen + (path,))
        raise GraphcalError(f"{path.name}: `extends` forms a cycle: {chain}")
    if len(seen) >= MAX_EXTENDS:
        raise GraphcalError(
            f"{seen[0].name}: the `extends` chain is deeper than {MAX_EXTENDS} profiles (at {path.name}); "
            "a variant should extend its base directly"
        )
    data = _read_yaml(path)
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise GraphcalError(f"{path.name}: extends: must be a profile name or path")
    try:
        parent_path = resolve_path(parent_ref, relative_to=path.parent)
    except GraphcalError as exc:
        raise GraphcalError(f"{path.name}: extends: {exc}") from None
    parent = _load_chain(parent_path, seen + (path,))
    merged = _deep_merge(parent, data)
    merged.pop("extends", None)
    merged["extends"] = parent_ref
    return merged


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "provenance":
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: Any, schema: Any, label: str, prefix: str) -> None:
    if isinstance(schema, Leaf):
        _check_leaf(data, schema, label, prefix)
        return
    if isinstance(schema, PrecisionMap):
        if not isinstance(data, dict) or not data:
            raise GraphcalError(f"{label}: {prefix}: must map precisions (e.g. fp32) to values")
        for key, value in data.items():
            try:
                Precision.parse(key)
            except GraphcalError as exc:
                raise GraphcalError(f"{label}: {prefix}.{key}: {exc}") from None
            _validate(value, schema.value, label, f"{prefix}.{key}")
        return
    if not isinstance(data, dict):
        raise GraphcalError(f"{label}: {prefix or 'profile'}: must be a mapping")
    for key in data:
        if key not in schema:
            allowed = ", ".join(schema)
            raise GraphcalError(f"{label}: {_join(prefix, key)}: unknown field (allowed: {allowed})")
    for key, sub in schema.items():
        path = _join(prefix, key)
        if key not in data:
            if _required(sub):
                raise GraphcalError(f"{label}: {path}: missing (a measured fact has no default)")
            continue
        _validate(data[key], sub, label, path)
    if prefix == "":
        _check_precisions_have_peaks(data, label)


def _check_precisions_have_peaks(data: dict[str, Any], label: str) -> None:
    for precision in data.get("kernels", {}):
        if precision not in data["coefficients"]:
            raise GraphcalError(
                f"{label}: kernels.{precision}: the profile has no coefficients.{precision} "
                "(nor its peak) to go with it"
            )
    for precision in data["coefficients"]:
        if precision not in data["peak_flops_per_s"]:
            raise GraphcalError(
                f"{label}: peak_flops_per_s.{precision}: missing (coefficients.{precision} needs a peak)"
            )


def _required(sub: Any) -> bool:
    if isinstance(sub, (Leaf, PrecisionMap)):
        return sub.required
    return any(_required(s) for s in sub.values())


def _check_leaf(value: Any, leaf: Leaf, label: str, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, leaf.types):
        wanted = " or ".join(t.__name__ for t in leaf.types)
        raise GraphcalError(f"{label}: {path}: must be {wanted}, got {value!r}")
    if leaf.check is not None:
        problem = leaf.check(value)
        if problem:
            raise GraphcalError(f"{label}: {path}: {problem}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
