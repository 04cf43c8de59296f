"""`graphcal compare MODEL --hw PROFILE --measure`: the model timed here beside its prediction."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from graphcal.load.resolve import InputSpec
from graphcal.mapper import Target


def compare_measured(
    model: str, target: Target, specs: tuple[InputSpec, ...], as_json: bool, top: int,
    factory_kwargs: dict | None = None, trust_pickle: bool = False,
) -> None:
    from graphcal.evaluate.measure import measure_model
    from graphcal.predict.report import human_time

    err = Console(stderr=True)
    with err.status(f"timing {model} here ({target.threads} threads), whole and op by op..."):
        result = measure_model(model, target, specs, factory_kwargs=factory_kwargs, trust_pickle=trust_pickle)
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    out = Console()
    error = result.predicted_s / result.measured_s - 1
    out.print(
        f"{model} on {result.hardware} ({target.precision.value}, {result.threads} threads): measured "
        f"{human_time(result.measured_s)}, predicted {human_time(result.predicted_s)} ({error:+.1%}); the ops "
        f"timed one by one in place add up to {human_time(result.ops_measured_s)}",
        soft_wrap=True,
    )
    families = Table(title="by family (largest measured first)", title_justify="left")
    for column in ("family", "measured", "predicted", "error", "share of measured"):
        families.add_column(column, justify="left" if column == "family" else "right")
    for family, t in result.families().items():
        families.add_row(
            family, human_time(t["measured_s"]), human_time(t["predicted_s"]), _error(t),
            f"{t['measured_s'] / result.ops_measured_s:.1%}",
        )
    out.print(families)
    ops = Table(title=f"the {min(top, len(result.ops))} ops with the largest absolute error", title_justify="left")
    for column in ("op", "target", "family", "measured", "predicted", "error"):
        ops.add_column(column, justify="left" if column in ("op", "target", "family") else "right")
    for op in result.ops[:top]:
        ops.add_row(op.name, op.target, op.family, human_time(op.measured_s), human_time(op.predicted_s),
                    _error({"measured_s": op.measured_s, "predicted_s": op.predicted_s}))
    out.print(ops)


def _error(t: dict[str, float]) -> str:
    return f"{t['predicted_s'] / t['measured_s'] - 1:+.1%}" if t["measured_s"] > 0 else "-"
