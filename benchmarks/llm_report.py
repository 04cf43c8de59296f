"""What benchmarks/validate_llm.py prints and writes: per case the measured and predicted
figures with their errors, MAPE per figure, --out-dir/llm-validation.{json,csv}, and the results
folder's two populations (llm-ttft, llm-tokens-per-s; see benchmarks/populations.py).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from benchmarks.populations import write_population
from graphcal.evaluate.metrics import metrics, percent

SUMMARY_FILE = "llm-validation"
# measured figure -> how it is read from `predict --llm --json`
PREDICTED = {
    "ttft_s": lambda p: p["ttft_s"],
    "tokens_per_s": lambda p: p["tokens_per_s"],
    "decode_step_s": lambda p: (p["decode_first_s"] + p["decode_last_s"]) / 2,
    "generate_s": lambda p: p["total_s"],
}
POPULATIONS = {  # name -> (figure, unit)
    "llm-ttft": ("ttft_s", "s"),
    "llm-tokens-per-s": ("tokens_per_s", "tokens/s"),
}


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- comparing (pure) -----------------------------------------------------------------------

def relative_error(predicted: float | None, measured: float | None) -> float | None:
    return None if predicted is None or measured is None else (predicted - measured) / measured


def predicted_figures(prediction: dict | None) -> dict:
    """The figures of a `predict --llm --json` document that the measurements are compared with."""
    return {key: read(prediction) for key, read in PREDICTED.items()} if prediction else {}


def case_key(case: dict) -> str:
    return f"{case['model']} P={case['prompt']} B={case['batch']} T={case['new_tokens']} {case['dtype']}"


def population_rows(cases: list[dict], figure: str) -> list[tuple[str, float, float]]:
    """(case, measured, predicted) of every case that has both figures."""
    rows = []
    for case in cases:
        measured, predicted = case["measured"].get(figure), (case.get("predicted") or {}).get(figure)
        if measured is not None and predicted is not None:
            rows.append((case_key(case), measured, predicted))
    return rows


def population_entries(cases: list[dict], run: dict, hw: str | None, command: str) -> dict[str, dict]:
    """results.yaml's entries for the two populations: what was measured, how, on what."""
    prompts = sorted({c["prompt"] for c in cases})
    batches = sorted({c["batch"] for c in cases})
    models = list(dict.fromkeys(c["model"] for c in cases))
    tokens, statistic = cases[0]["new_tokens"], cases[0]["measured"]["statistic"]
    common = (f"{', '.join(models)} (random weights, {cases[0]['dtype']}), prompts of {prompts} tokens, batch "
              f"{batches}, {cases[0]['threads']} threads; each time the {statistic} of "
              f"{len(cases[0]['first_rounds_s'])} interleaved rounds")
    descriptions = {
        "llm-ttft": "time to first token: wall time of model.generate(ids, max_new_tokens=1, do_sample=False); "
                    f"{common}. Predicted: ttft_s (the prefill) of graphcal predict CONFIG --llm",
        "llm-tokens-per-s": f"decode rate: B x (T - 1) / (t_T - t_1), t_T the wall time of generate with "
                            f"max_new_tokens=min_new_tokens=T={tokens}, t_1 with 1; {common}. Predicted: "
                            f"tokens_per_s of graphcal predict CONFIG --llm --new-tokens {tokens}",
    }
    entries = {}
    for name, (_, unit) in POPULATIONS.items():
        entry = {"unit": unit, "description": descriptions[name], "profile": hw, "command": command,
                 "cpu": run["host"]["cpu"], "measured": run["host"]["date"]}
        if run.get("command") and run["command"] != command:
            entry["measured_by"] = run["command"]
        entries[name] = entry
    return entries


# --- reporting --------------------------------------------------------------------------------

def figure(key: str, value: float | None) -> str:
    if value is None:
        return f"{'-':>13}"
    if key == "tokens_per_s":
        return f"{value:7.1f} tok/s"
    return f"{value * 1e3:10.2f} ms" if value < 10 else f"{value:10.2f} s "


def report(cases: list[dict], run: dict, hw: str | None) -> dict:
    host = run["host"]
    print(f"\nLLM generate on {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']}), "
          f"torch {host['torch']}, transformers {host['transformers']}, {host['threads']} threads, measured "
          f"{host['date']}" + (f"; predicted on {hw}" if hw else "")
          + f"; each time the rounds' {cases[0]['measured']['statistic']}")
    for case in cases:
        m, p = case["measured"], case.get("predicted") or {}
        busy = f", {case['busy_rounds']} busy call(s) kept" if case["busy_rounds"] else ""
        print(f"\n{case_key(case)}  ({case['params'] / 1e6:.1f}M params)  repeatability IQR/median: "
              f"generate(1) {percent(m['first_spread'])}, generate(T) {percent(m['full_spread'])}; "
              f"{len(case['first_rounds_s'])} rounds, {case['retimed']} retimed{busy}")
        if case.get("unsupported_ops"):
            note(f"  warning: {case_key(case)}: ops graphcal does not cost: {case['unsupported_ops']}")
        if m["tokens_per_s"] is None:
            note(f"  warning: {case_key(case)}: generate(T) was not slower than generate(1); no decode rate")
        print(f"  {'':16} {'measured':>13} {'predicted':>13} {'error':>8}")
        for key in PREDICTED:
            error = relative_error(p.get(key), m[key])
            print(f"  {key:16} {figure(key, m[key])} {figure(key, p.get(key))} "
                  f"{'-' if error is None else f'{error:+.1%}':>8}")
    summary = {}
    for key in ("ttft_s", "tokens_per_s"):
        rows = population_rows(cases, key)
        summary[key] = metrics([r[2] for r in rows], [r[1] for r in rows]).as_dict() if rows else {"n": 0}
    if summary["ttft_s"]["n"]:
        print(f"\nMAPE time to first token {percent(summary['ttft_s']['mape'])} over {summary['ttft_s']['n']} "
              f"case(s), tokens/s {percent(summary['tokens_per_s'].get('mape'))} over "
              f"{summary['tokens_per_s']['n']} (within +-10%: {percent(summary['ttft_s']['within_10'])}, "
              f"{percent(summary['tokens_per_s'].get('within_10'))})")
        print(f"  predicted on {hw}; measured on {host['cpu']} (cpu family {host['cpu_family']}, model "
              f"{host['cpu_model']}), torch {host['torch']}, {host['threads']} threads, {host['date']}")
    return summary


def write(out_dir: Path, run: dict) -> None:
    path = out_dir / f"{SUMMARY_FILE}.json"
    path.write_text(json.dumps(run, indent=1))
    rows = []
    for case in run["cases"]:
        row = {k: case[k] for k in ("model", "params", "prompt", "batch", "new_tokens", "dtype", "threads",
                                    "retimed", "busy_rounds")}
        row["rounds"] = len(case["first_rounds_s"])
        m, p = case["measured"], case.get("predicted") or {}
        row.update({f"measured_{k}": v for k, v in m.items()})
        for key in PREDICTED:
            row[f"predicted_{key}"] = p.get(key, "")
            error = relative_error(p.get(key), m[key])
            row[f"error_{key}"] = "" if error is None else error
        rows.append(row)
    with (out_dir / f"{SUMMARY_FILE}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {path} and {path.with_suffix('.csv')}")


def write_results(results_dir: Path, run: dict, hw: str | None, command: str) -> None:
    entries = population_entries(run["cases"], run, hw, command)
    for name, (key, _) in POPULATIONS.items():
        path = write_population(results_dir, name, population_rows(run["cases"], key), entries[name])
        print(f"wrote {path}")
    print(f"updated {results_dir / 'results.yaml'}")
