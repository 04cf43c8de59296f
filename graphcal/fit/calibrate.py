"""The fit pipeline: sweep rows -> costed rows -> identifiable parameters -> seeded, stratified
holdout split -> fit on the training rows (the error it reports) -> refit on every row (the
profile it writes).

Identifiability: a parameter is fitted only if some row's regime under the base profile is one
it acts on (see params.PARAMS `acts_on` and model.Terms.fine_regimes), and if it is not
confounded with parameters fitted before it: efficiency_factor scales matrix and vector compute
alike, so with tile_utilization and instruction_efficiency free it keeps its base value. A
family's terms (`conv_rate_factor`, `conv_overhead_s`, ...) are fitted only from at least
FAMILY_MIN_ROWS rows whose longest op (under the base profile) is of that family, and as many of
its reference family (profile.FAMILY_REFERENCE: linear for matrix ops, elementwise for vector
ops), without which a family's correction and its class's coefficients are one product. A parameter
that is not fitted keeps its base value and the report says why.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graphcal.errors import GraphcalError
from graphcal.evaluate.costing import CostedRows, cost_rows, op_classes, read_sweeps, single_dtype, vector_product_rows
from graphcal.evaluate.metrics import Metrics, metrics
from graphcal.fit import params as P
from graphcal.fit.hostspeed import SpeedScaling, speed_scaling
from graphcal.fit.kernels import KernelFit, fit_kernels
from graphcal.fit.model import Facts, evaluate
from graphcal.fit.solver import Solution, SolverSettings, solve
from graphcal.hardware.profile import FAMILY_REFERENCE, KNOWN_FAMILIES, HardwareProfile, load_profile
from graphcal.precision import Precision
from graphcal.sweep.csvfile import MODEL_SCOPE, SweepRow

FITTED, FIXED, NO_ROWS, CONFOUNDED = "fitted", "fixed", "no rows", "confounded"
FAMILY_MIN_ROWS = 3  # a family's rate factor and overhead, and one row to spare


@dataclass(frozen=True)
class FitOptions:
    holdout: float = 0.2
    seed: int = 0
    fixed: tuple[str, ...] = ()
    dtype: str | None = None
    force: bool = False
    settings: SolverSettings = field(default_factory=SolverSettings)
    # True: fit kernels.<precision>.<class> tables (graphcal.fit.kernels), the coefficients held;
    # False: fit the coefficients, runtime, memory and family terms (params.PARAMS)
    kernels: bool = True
    # True: each sweep's rows at the calibration's typical host speed (graphcal.fit.hostspeed)
    host_speed: bool = True


@dataclass(frozen=True)
class ParamStatus:
    name: str
    base: float
    fitted: float
    stderr: float | None
    status: str           # fitted | fixed | no rows | confounded
    note: str


@dataclass(frozen=True)
class Calibration:
    paths: tuple[Path, ...]
    rows_per_file: tuple[int, ...]
    base_ref: str
    base: HardwareProfile
    precision: Precision
    options: FitOptions
    rows: list[SweepRow]
    costed: CostedRows
    measured_s: np.ndarray
    base_regimes: np.ndarray        # fine regime of each row under the base profile
    train: np.ndarray               # row indices
    holdout: np.ndarray
    params: tuple[ParamStatus, ...]
    train_fit: Solution             # fitted on the training rows
    holdout_predicted_s: np.ndarray  # train_fit on the holdout rows
    final: Solution                 # refit on every row: what the profile gets
    regimes: np.ndarray             # coarse regime of each row under the final fit
    op_classes: np.ndarray
    noise_floor: float | None
    kernels: KernelFit | None = None
    speed: SpeedScaling | None = None   # the factor each row's latency was scaled by (None: built elsewhere)

    @property
    def train_metrics(self) -> Metrics:
        return metrics(self.train_fit.predicted_s, self.measured_s[self.train])

    @property
    def holdout_metrics(self) -> Metrics:
        return metrics(self.holdout_predicted_s, self.measured_s[self.holdout])

    @property
    def final_metrics(self) -> Metrics:
        return metrics(self.final.predicted_s, self.measured_s)

    @property
    def holdout_models_metrics(self) -> Metrics | None:
        """The holdout's whole models (rows of scope `model`): what a prediction for a model is
        judged by; None when no whole model was held out. The row MAPE above counts each
        in-model op as one row, a 5 us norm as much as a 5 ms convolution."""
        whole = np.array([self.rows[i].fields.get("scope") == MODEL_SCOPE for i in self.holdout], dtype=bool)
        if not whole.any():
            return None
        return metrics(self.holdout_predicted_s[whole], self.measured_s[self.holdout][whole])

    @property
    def fitted_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.status == FITTED)

    def calibrated(self) -> dict[str, list]:
        """The op families with at least FAMILY_MIN_ROWS rows whose longest op is of the family,
        and the thread counts of the rows, with the base profile's own: the profile's
        `calibrated` section, which predict reads to flag what no fit saw."""
        classes = self.op_classes.tolist()
        families = {f for f in set(classes) if classes.count(f) >= FAMILY_MIN_ROWS and f in KNOWN_FAMILIES}
        return {
            "families": sorted(families | self.base.calibrated_families),
            "threads": sorted({int(t) for t in self.costed.threads} | set(self.base.calibrated_threads)),
        }

    def notes(self) -> list[str]:
        """One note per parameter left at its base value, the family terms grouped in one."""
        unfitted = [p for p in self.params if p.status in (NO_ROWS, CONFOUNDED)]
        notes = [f"{p.name}: {p.note}" for p in unfitted if P.BY_NAME[p.name].kind != "family"]
        families = sorted({P.BY_NAME[p.name].family for p in unfitted if P.BY_NAME[p.name].kind == "family"})
        if families:
            notes.append(
                f"no correction fitted for the op families {', '.join(families)}: too few rows whose longest op "
                f"is of the family or of its reference family (at least {FAMILY_MIN_ROWS} each; "
                "graphcal sweep ops times them); provenance.parameters says which"
            )
        shared = [n for n in self.fitted_names if P.BY_NAME[n].section != "coefficients"]
        if self.precision is not Precision.FP32 and shared:
            notes.append(
                f"{', '.join(shared)}: a profile has one of each for every precision; fitted here on "
                f"{self.precision.value} rows, they serve its fp32 predictions too (--fix them to keep the base's)"
            )
        unplaced = sum(1 for r in self.rows if r.is_op and '"code_reuse_bytes"' not in r.fields.get("ops", ""))
        if unplaced:
            notes.append(f"{unplaced} in-model row(s) carry no code reuse distance (their ops column records "
                         "none): their ops are priced as if timed alone, and no rewarm term learns from them")
        unsupported = sum(1 for t in self.costed.tables if t.unsupported)
        if unsupported:
            notes.append(f"{unsupported} row(s) have ops graphcal cannot cost; their predictions are understated")
        return notes


def calibrate(
    paths: Sequence[Path],
    base_ref: str,
    options: FitOptions = FitOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    if not paths:
        raise GraphcalError("no sweep file given")
    if not 0 <= options.holdout < 1:
        raise GraphcalError(f"--holdout must be in [0, 1), got {options.holdout}")
    paths = tuple(Path(p) for p in paths)
    per_file = [read_sweeps([p]) for p in paths]
    rows = [r for file_rows in per_file for r in file_rows]
    check_hosts(rows, options.force)
    rows, dtype = single_dtype(rows, options.dtype)
    kept = {id(r) for r in rows}
    rows_per_file = tuple(sum(1 for r in file_rows if id(r) in kept) for file_rows in per_file)
    precision = Precision.parse(dtype)
    base = load_base(base_ref, precision)
    free_requested = [s.name for s in P.PARAMS if s.name not in options.fixed and s.kind != "family"]
    if len(rows) < len(free_requested):
        raise GraphcalError(
            f"{len(rows)} row(s) cannot fit {len(free_requested)} free coefficients "
            f"({', '.join(free_requested)}); sweep more configurations or --fix some"
        )

    costed = dataclasses.replace(cost_rows(rows, precision, progress), weights=time_weights(rows))
    empty = [r for r, n in zip(rows, costed.n_ops) if n == 0]
    if empty:
        raise GraphcalError(
            f"{empty[0].source}: workload {empty[0].workload!r} has no costed op; graphcal cannot fit it"
        )
    speed = speed_scaling(rows, options.host_speed)
    measured = np.array([r.latency_s for r in rows]) * speed.factors
    facts = Facts.of(base, precision)
    start = P.base_values(base, precision)

    base_terms = evaluate(costed, facts, start)
    base_regimes = base_terms.fine_regimes()
    few_threads = costed.threads < base.physical_cores
    classes = op_classes(costed, base_terms)
    products = vector_product_rows(costed, base_terms)
    free, statuses = identify(base_regimes, options.fixed, classes, few_threads, products)
    train, holdout = grouped_split(base_regimes, costed.groups, [r.is_op for r in rows], options.holdout,
                                   options.seed)
    if len(train) < len(free):
        raise GraphcalError(
            f"{len(train)} training row(s) cannot fit {len(free)} free coefficients; "
            "lower --holdout, sweep more configurations, or --fix some"
        )
    if options.kernels:
        kernel_fit = fit_kernels(costed, rows, measured, base, train, holdout)
        held = "held at the base value: the kernel classes' tables (kernels.<precision>.<class>) carry this fit"
        free, statuses = (), {name: (FIXED, held) for name in statuses}
        train_fit = predicted_only(start, kernel_fit.train_predicted_s, measured[train])
        holdout_predicted = kernel_fit.holdout_predicted_s
        final = predicted_only(start, kernel_fit.final_predicted_s, measured)
        classes = kernel_fit.row_class
    else:
        kernel_fit = None
        train_fit, holdout_predicted, final = fit_coefficients(
            costed, facts, measured, start, free, train, holdout, base_regimes, classes, few_threads, products, options,
        )
        classes = op_classes(costed, evaluate(costed, facts, final.values))
    regimes = evaluate(costed, facts, final.values).regimes() if kernel_fit is None else base_regimes_coarse(
        base_regimes)

    params = tuple(
        ParamStatus(
            s.name, start[s.name], final.values[s.name],
            _finite(final.stderr.get(s.name)) if s.name in free else None,
            statuses[s.name][0], statuses[s.name][1],
        )
        for s in P.PARAMS
    )
    from graphcal.sweep.csvfile import noise_floor

    return Calibration(
        paths, rows_per_file, base_ref, base, precision, options, rows, costed, measured, base_regimes, train, holdout,
        params, train_fit, holdout_predicted, final, regimes, classes, noise_floor(list(paths)), kernel_fit, speed,
    )


def fit_coefficients(costed, facts, measured, start, free, train, holdout, base_regimes, classes, few_threads,
                     products, options) -> tuple[Solution, np.ndarray, Solution]:
    """(the fit on the training rows, its holdout predictions, the refit on every row)."""
    # The holdout's fit frees only what its own rows determine: a family whose every row is held
    # out keeps its base value there (its Jacobian column would be zero, and the solver's
    # scaling would then move it at random), so the holdout scores it as a prediction would be
    # scored on a family the calibration never saw.
    train_free, _ = identify(base_regimes[train], options.fixed, classes[train], few_threads[train], products[train])
    train_fit = solve(costed.take(train), facts, measured[train], start, train_free, options.settings)
    holdout_predicted = evaluate(costed.take(holdout), facts, train_fit.values).latency_s
    # With no row held out the training rows are every row: the refit would repeat the same solve.
    final = train_fit if len(holdout) == 0 else solve(costed, facts, measured, start, free, options.settings)
    return train_fit, holdout_predicted, final


def predicted_only(values: dict[str, float], predicted: np.ndarray, measured: np.ndarray) -> Solution:
    """A Solution that moved no coefficient: the kernel tables' predictions."""
    residuals = np.log(predicted) - np.log(measured)
    return Solution(dict(values), (), {}, residuals, predicted, 0, 0, 1, "kernel tables fitted", ())


def base_regimes_coarse(fine: np.ndarray) -> np.ndarray:
    """compute, memory or overhead from a fine regime (matrix and vector are compute)."""
    return np.where(np.isin(fine, ("matrix", "vector")), "compute", fine).astype(object)


def load_base(base_ref: str, precision: Precision) -> HardwareProfile:
    try:
        base = load_profile(base_ref)
        P.base_values(base, precision)
    except GraphcalError as exc:
        raise GraphcalError(f"--base: {exc}") from None
    return base


def check_hosts(rows: list[SweepRow], force: bool) -> None:
    hosts = sorted({r.host_id for r in rows})
    if len(hosts) > 1 and not force:
        raise GraphcalError(
            f"the rows come from {len(hosts)} hosts ({', '.join(hosts)}); a profile describes one "
            "machine: fit one host's rows, or pass --force to fit them together"
        )


def identify(
    fine_regimes: np.ndarray, fixed: tuple[str, ...], classes: np.ndarray | None = None,
    few_threads: np.ndarray | None = None, vector_products: np.ndarray | None = None,
) -> tuple[tuple[str, ...], dict[str, tuple[str, str]]]:
    """Which parameters the rows can determine, in PARAMS order; (free names, {name: (status, note)}).
    `classes` is each row's op class under the base profile (model.op_classes); `few_threads`
    says which rows ran on fewer threads than the profile's cores; `vector_products` which rows'
    longest op is a matrix-vector product (costing.vector_product_rows)."""
    classes = np.full(len(fine_regimes), None, dtype=object) if classes is None else classes
    few_threads = np.zeros(len(fine_regimes), dtype=bool) if few_threads is None else few_threads
    if vector_products is None:
        vector_products = np.zeros(len(fine_regimes), dtype=bool)
    # kinds of parameter that act on memory-bound rows of one sort: (those rows, in words, how to get some)
    memory_rows = {
        "threads": (few_threads, "timed on fewer threads than the profile's cores",
                    "sweep with `threads: calibration` or --threads 1"),
        "vector_product": (vector_products, "whose longest op is a matrix-vector product",
                           "sweep mlp at batch 1, or the model grid's decoder-step, times them"),
    }
    present = set(fine_regimes.tolist())
    free: list[str] = []
    vectors: list[list[int]] = []
    statuses: dict[str, tuple[str, str]] = {}
    for spec in P.PARAMS:
        regimes = " or ".join(P.TERM_LABELS[t] for t in P.TERMS if t in spec.acts_on)
        if spec.name in fixed:
            statuses[spec.name] = (FIXED, "fixed by --fix at the base value")
            continue
        if spec.kind == "family":
            n = int(np.sum(classes == spec.family))
            if spec.name.endswith("_rate_factor"):
                # a rate needs rows that its rate decides: overhead-bound rows of the family
                # would let the factor run to a bound, and wreck the family's large ops
                n = int(np.sum((classes == spec.family) & (fine_regimes != "overhead")))
            reference = FAMILY_REFERENCE[spec.family]
            n_reference = int(np.sum(classes == reference))
            if n < FAMILY_MIN_ROWS:
                missing = (
                    f"{n} row(s) whose longest op is a {spec.family} op"
                    + (" not overhead-bound" if spec.name.endswith("_rate_factor") else "")
                    + f" (it takes {FAMILY_MIN_ROWS}; graphcal sweep ops and sweep model --per-op time them)"
                )
            elif n_reference < FAMILY_MIN_ROWS:
                missing = (
                    f"{n_reference} row(s) of its reference family {reference} (it takes {FAMILY_MIN_ROWS}), "
                    f"so it cannot be told apart from the {reference} coefficients"
                )
            else:
                missing = ""
            _free_unless(spec.name, missing, free, statuses)
            continue
        if spec.kind in memory_rows:
            rows, which, how = memory_rows[spec.kind]
            n = int(np.sum(rows & (fine_regimes == "memory")))
            missing = "" if n >= FAMILY_MIN_ROWS else (
                f"{n} memory-bound row(s) {which} (it takes {FAMILY_MIN_ROWS}; {how})"
            )
            _free_unless(spec.name, missing, free, statuses)
            continue
        footprint = spec.acts_on & present
        if not footprint:
            statuses[spec.name] = (
                NO_ROWS,
                f"no rows in its regime ({regimes}-bound under the base profile); kept at the base value",
            )
            continue
        vector = [int(t in footprint) for t in P.TERMS]
        if spec.kind in ("shape", "distinct"):  # no other parameter can stand in for it
            free.append(spec.name)
            statuses[spec.name] = (FITTED, "")
            continue
        if np.linalg.matrix_rank(np.array(vectors + [vector])) <= len(vectors):
            others = [n for n in free if P.BY_NAME[n].acts_on & footprint]
            statuses[spec.name] = (
                CONFOUNDED,
                f"its rows ({' and '.join(P.TERM_LABELS[t] for t in P.TERMS if t in footprint)}-bound) "
                f"already fit {', '.join(others)}, and the "
                f"product is all they determine; kept at the base value (--fix {','.join(others)} to fit it instead)",
            )
            continue
        free.append(spec.name)
        vectors.append(vector)
        statuses[spec.name] = (FITTED, "")
    return tuple(free), statuses


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) row indices: `fraction` of each label's rows, rounded, held out at random
    with `seed`; a label keeps at least one training row."""
    rng = np.random.default_rng(seed)
    holdout: list[int] = []
    for label in sorted(set(labels.tolist())):
        index = np.flatnonzero(labels == label)
        take = min(int(math.floor(fraction * len(index) + 0.5)), len(index) - 1)
        holdout.extend(rng.permutation(index)[:take].tolist())
    held = np.array(sorted(holdout), dtype=int)
    train = np.setdiff1d(np.arange(len(labels)), held)
    return train, held


def _free_unless(name: str, missing: str, free: list[str], statuses: dict[str, tuple[str, str]]) -> None:
    """Free `name`, or, when `missing` says which rows it lacks, keep it at its base value."""
    if missing:
        statuses[name] = (NO_ROWS, f"{missing}; kept at the base value")
    else:
        free.append(name)
        statuses[name] = (FITTED, "")


def time_weights(rows: Sequence[SweepRow]) -> np.ndarray:
    """How much each row's relative error counts in the fit: 1 for a row timed on its own (a
    sweep configuration, a whole model); for an in-model op row, its share of the time of all
    op rows of its model (at its thread count) times their number, so a model's op rows
    weigh as many rows as before but each by the time it takes. A whole model's latency is a
    sum of times: a 10 us op wrong by half moves it less than a 1 ms op wrong by a tenth, and
    a fit for models must weigh them so (measured here: the tiny convolutions of mobile nets
    held the convolution rate at half what ResNet-50's convolutions reach)."""
    weights = np.ones(len(rows))
    totals: dict[tuple, list] = {}
    for i, row in enumerate(rows):
        if row.is_op:
            totals.setdefault((row.workload, row.threads, row.host_id), []).append(i)
    for members in totals.values():
        times = np.array([rows[i].latency_s for i in members])
        weights[members] = times / times.sum() * len(members)
    return weights


def grouped_split(
    labels: np.ndarray, groups: Sequence[str], in_model: Sequence[bool], fraction: float, seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) row indices with every group (a workload: a model with its in-model op
    rows, or one sweep configuration at each thread count) wholly on one side, so no model's
    ops sit on both. Groups are stratified as `stratified_split` stratifies rows: by the label
    of their first row, or `in-model` for a model timed op by op."""
    first: dict[str, int] = {}
    label_of: dict[str, str] = {}
    for i, group in enumerate(groups):
        first.setdefault(group, i)
        if in_model[i]:
            label_of[group] = "in-model"
        label_of.setdefault(group, str(labels[first[group]]))
    names = list(first)
    group_train, group_held = stratified_split(np.array([label_of[g] for g in names], dtype=object), fraction, seed)
    held_groups = {names[i] for i in group_held}
    held = np.array([i for i, g in enumerate(groups) if g in held_groups], dtype=int)
    train = np.setdiff1d(np.arange(len(groups)), held)
    return train, held


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
