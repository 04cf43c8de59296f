"""Least squares on relative (log) residuals: r_i = log(predicted_i) - log(measured_i).

Every keyword of scipy.optimize.least_squares is passed explicitly from `SolverSettings`, which
the fitted profile records. After the solver returns, the residuals and the Jacobian are
re-evaluated at its solution (never taken from the solver's internal state), and the standard
errors come from that Jacobian: cov = s^2 (J^T J)^-1 with s^2 = sum(r^2) / (n - p).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from graphcal.errors import GraphcalError
from graphcal.evaluate.costing import CostedRows
from graphcal.fit import params as P
from graphcal.fit.model import Facts, evaluate, log_jacobian


@dataclass(frozen=True)
class SolverSettings:
    method: str = "trf"          # bounded trust region
    loss: str = "soft_l1"        # robust: residuals beyond f_scale count less than squared
    f_scale: float = 0.1         # in log units: about 10%
    # NB: relative tolerances of 1e-6 (1e-4 % of the cost) and at most 150 evaluations keep a fit
    # of a full calibration (about 1,500 rows, most of them in-model ops) within a minute here;
    # 1e-8 and 2,000 took 10 minutes for the same profile to within 1% on every row.
    ftol: float = 1e-6
    xtol: float = 1e-6
    gtol: float = 1e-6
    x_scale: str = "jac"
    max_nfev: int = 150
    tr_solver: str = "exact"
    jac: str = "central differences of the mapper"  # model.log_jacobian

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Solution:
    values: dict[str, float]     # every parameter: fitted where free, else the start value
    free: tuple[str, ...]
    stderr: dict[str, float]     # free parameters only; nan where not estimable
    residuals: np.ndarray        # log residuals, re-evaluated at the solution
    predicted_s: np.ndarray
    nfev: int
    njev: int
    status: int
    message: str
    at_bounds: tuple[str, ...]

    def provenance(self, settings: SolverSettings) -> dict:
        return {
            "settings": settings.as_dict(),
            "nfev": self.nfev,
            "njev": self.njev,
            "status": self.status,
            "message": self.message,
            "residual_rms": float(np.sqrt(np.mean(self.residuals ** 2))),
        }


def solve(
    rows: CostedRows,
    facts: Facts,
    measured_s: np.ndarray,
    start: dict[str, float],
    free: tuple[str, ...],
    settings: SolverSettings = SolverSettings(),
) -> Solution:
    """Fit the `free` parameters from `start`; raise GraphcalError if the solver fails."""
    from scipy.optimize import least_squares

    log_measured = np.log(measured_s)
    scales = np.array([P.BY_NAME[n].scale for n in free])
    root_weights = np.sqrt(rows.weights)  # each row's log residual counts by its weight (CostedRows)

    def residuals(x: np.ndarray) -> np.ndarray:
        terms = evaluate(rows, facts, P.from_vector(x, start, free))
        return (np.log(terms.latency_s) - log_measured) * root_weights

    def jacobian(x: np.ndarray) -> np.ndarray:
        return log_jacobian(rows, facts, P.from_vector(x, start, free), free) * scales * root_weights[:, None]

    if not free:
        values = dict(start)
        predicted = evaluate(rows, facts, values).latency_s
        return Solution(values, free, {}, np.log(predicted) - log_measured, predicted, 0, 0, 1, "nothing to fit", ())

    lower, upper = P.bounds(free)
    result = least_squares(
        residuals,
        P.to_vector(start, free),
        jac=jacobian,
        bounds=(lower, upper),
        method=settings.method,
        ftol=settings.ftol,
        xtol=settings.xtol,
        gtol=settings.gtol,
        x_scale=settings.x_scale,
        loss=settings.loss,
        f_scale=settings.f_scale,
        diff_step=None,
        tr_solver=settings.tr_solver,
        tr_options={},
        jac_sparsity=None,
        max_nfev=settings.max_nfev,
        verbose=0,
        args=(),
        kwargs={},
        # callback and workers (recent scipy only) keep their defaults: none, serial.
    )
    if result.status <= 0 or not np.all(np.isfinite(result.x)):
        raise GraphcalError(
            f"the fit did not converge (least_squares status {result.status}: {result.message}); "
            "nothing was written. Try --fix on poorly covered coefficients, or sweep more rows."
        )
    values = P.from_vector(result.x, start, free)
    # Re-evaluate at the solution: residuals, predictions and the Jacobian for the errors.
    terms = evaluate(rows, facts, values)
    r = np.log(terms.latency_s) - log_measured
    if not np.all(np.isfinite(r)):
        raise GraphcalError("the fit produced non-finite predictions; nothing was written")
    stderr = standard_errors(log_jacobian(rows, facts, values, free) * root_weights[:, None], r * root_weights, free)
    at_bounds = tuple(
        n
        for n, xi, lo, hi in zip(free, result.x, lower, upper)
        if np.isclose(xi, lo, rtol=1e-6, atol=0) or np.isclose(xi, hi, rtol=1e-6, atol=0)
    )
    return Solution(values, free, stderr, r, terms.latency_s, int(result.nfev), int(result.njev or 0),
                    int(result.status), str(result.message), at_bounds)


def standard_errors(jac: np.ndarray, residuals: np.ndarray, free: tuple[str, ...]) -> dict[str, float]:
    """sqrt(diag(s^2 (J^T J)^+)) in the parameters' own units (a pseudo-inverse, so one
    parameter the rows cannot move does not blank the others); nan for such a parameter, and
    for all when no degrees of freedom are left. The algebra runs on the Jacobian in the solver's
    units (each column times its parameter's `scale`), so a parameter in large units (a bandwidth
    in bytes/s, whose column is ~1e-11 per unit) is neither taken for one that moves nothing nor
    cut off by the pseudo-inverse's cutoff beside one in seconds (~1e5 per unit)."""
    n, p = jac.shape
    if n <= p:
        return {name: float("nan") for name in free}
    scales = np.array([P.BY_NAME[name].scale for name in free])
    scaled = jac * scales
    s2 = float(residuals @ residuals) / (n - p)
    cov = s2 * np.linalg.pinv(scaled.T @ scaled)
    largest = np.abs(scaled).max() if scaled.size else 0.0
    errors = {}
    for i, name in enumerate(free):
        moved = np.abs(scaled[:, i]).max() > 1e-9 * largest
        errors[name] = float(np.sqrt(max(cov[i, i], 0.0)) * scales[i]) if moved else float("nan")
    return errors
