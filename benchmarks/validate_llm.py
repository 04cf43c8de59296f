"""LLM decode accuracy: time a greedy KV-cache decode loop of held-out Llama-style models and
compare it with `graphcal predict CONFIG.json --llm`.

Models: MODELS, five decoder-only transformers.LlamaConfig shapes from about 30M to 500M
parameters (head_dim 64, vocab 32000, intermediate about 2.7x hidden, untied embeddings, GQA on
some), built with `LlamaForCausalLM(config)`: random weights, fp32, eval, never downloaded. None
of them is in a calibration grid. `llama-smoke` (not in the default list) is a smoke-test model.

What is timed, per case (model, prompt length P, batch B, new tokens T), under torch.no_grad()
with torch.set_num_threads(--threads) - exactly what the `--llm` predictor models:

- prefill: `model(input_ids=ids[B,P], cache=DynamicCache(config=...), use_cache=True,
  logits_to_keep=1)`; the next token is the argmax of logits[:, -1] (greedy);
- T-1 decode steps: `model(input_ids=next[B,1], cache=<same cache>, use_cache=True)`, at cache
  lengths P, P+1, ..., P+T-2; each step timed alone with time.perf_counter.
NB: only the model calls are timed (not building the empty cache, nor the argmax: 32000 values).
NB: the cache keyword is `cache` where forward has one (transformers >= 5.x, which warns that
`past_key_values` is deprecated) and `past_key_values` before; both name the same argument.

Protocol: one warm-up generation per case, then --rounds rounds; each round runs one generation
of every case, the order rotating each round (round-robin, so a slow spell of the machine touches
every case a little rather than one case a lot). Garbage collection is paused while timing.
Contention: graphcal.sweep.protocol's gauge (the share of the machine's CPU time that other
processes used) is read over each generation; a generation above --max-contention is retimed
(after a pause), up to --retries times, and if every try was busy the least busy one counts and
the case is flagged.

Statistics: ttft_s = median over rounds of the prefill time; per decode step the median over
rounds, then decode_first_s = median of the first 3 step medians, decode_last_s = median of the
last 3, decode_total_s = their sum, tokens_per_s = B*(T-1)/decode_total_s, total_s = ttft_s +
decode_total_s. Repeatability: IQR/median over rounds of the prefill times and of each round's
decode total.

Predictions: each model's config is written with `config.to_json_file` into --out-dir and
`graphcal predict CONFIG.json --llm --prompt P --new-tokens T --batch B --hw PROFILE --threads N
--json` is run per case; without --hw, with --no-predict, or when that command fails, only the
measurements are printed. Everything goes to --out-dir/llm-validation.{json,csv}; `--from-json
FILE --hw PROFILE` re-predicts those measurements without timing anything.

    python benchmarks/validate_llm.py --hw ./host-fit.yaml --out-dir llm-validation      # ~5 min, 2 cores
    python benchmarks/validate_llm.py --no-predict --models llama-smoke --rounds 2 --new-tokens 8 --out-dir /tmp/l
    python benchmarks/validate_llm.py --from-json llm-validation/llm-validation.json --hw ./host-fit.yaml \\
        --out-dir llm-validation
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gc
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from graphcal.evaluate.metrics import metrics, percent  # noqa: E402
from graphcal.sweep.protocol import ContentionGauge, percentile  # noqa: E402

VOCAB = 32000
HEAD_DIM = 64
# name -> (hidden, layers, attention heads, key/value heads, intermediate); heads * 64 = hidden
MODELS: dict[str, tuple[int, int, int, int, int]] = {
    "llama-30m": (384, 4, 6, 6, 1024),      # MHA
    "llama-60m": (512, 8, 8, 4, 1376),      # GQA 2:1
    "llama-130m": (768, 12, 12, 12, 2048),  # MHA
    "llama-250m": (1024, 16, 16, 4, 2816),  # GQA 4:1
    "llama-500m": (1536, 16, 24, 8, 4096),  # GQA 3:1
}
SMOKE = {"llama-smoke": (128, 2, 2, 1, 352)}  # NB: for a smoke run only; its embeddings are 95% of it
EDGE_STEPS = 3  # decode_first_s / decode_last_s: median of this many step medians at each end
COMPARED = ("ttft_s", "decode_first_s", "decode_last_s", "tokens_per_s", "total_s")
SUMMARY_FILE = "llm-validation"


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- models -------------------------------------------------------------------------------

def llama_config(name: str):
    from transformers import LlamaConfig

    hidden, layers, heads, kv_heads, intermediate = {**MODELS, **SMOKE}[name]
    assert heads * HEAD_DIM == hidden, name
    return LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=HEAD_DIM,
        max_position_embeddings=2048, tie_word_embeddings=False,
    )


def build(name: str):
    """The model with random weights (seeded), fp32, eval; and its parameter count."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(name)).to(torch.float32).eval()
    return model, sum(p.numel() for p in model.parameters())


def cache_keyword(model) -> str:
    """transformers 5.x renamed forward's `past_key_values` to `cache` (the old name warns)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def new_cache(model):
    from transformers import DynamicCache

    try:
        return DynamicCache(config=model.config)
    except TypeError:  # NB: transformers before 4.56 takes no config
        return DynamicCache()


def generate(model, ids, new_tokens: int) -> tuple[float, list[float]]:
    """One greedy generation: the prefill's time and each decode step's time, in seconds."""
    import torch

    clock, keyword = time.perf_counter, cache_keyword(model)
    cache = new_cache(model)
    with torch.no_grad():
        t0 = clock()
        out = model(input_ids=ids, **{keyword: cache}, use_cache=True, logits_to_keep=1)
        prefill_s = clock() - t0
        steps = []
        for _ in range(new_tokens - 1):
            token = out.logits[:, -1].argmax(dim=-1, keepdim=True)
            t0 = clock()
            out = model(input_ids=token, **{keyword: cache}, use_cache=True)
            steps.append(clock() - t0)
    return prefill_s, steps


# --- statistics (pure) ----------------------------------------------------------------------

def spread(values: list[float]) -> float:
    """IQR / median: the repeatability of a figure over rounds."""
    return (percentile(values, 75) - percentile(values, 25)) / statistics.median(values)


STATISTICS = {
    # NB: graphcal sweep records a row's lower quartile (latency_s), and fit calibrates on it;
    # q25 compares the predictions with the same statistic, median with the middle of the rounds
    "q25": lambda values: percentile(values, 25),
    "median": statistics.median,
}


def summarize(prefill_s: list[float], steps_s: list[list[float]], batch: int, statistic: str = "median") -> dict:
    """The reported figures of one case from its rounds' prefill times and decode step times,
    each figure the rounds' `statistic` (a key of STATISTICS)."""
    of = STATISTICS[statistic]
    step_medians = [of(step) for step in zip(*steps_s)]
    decode_total = sum(step_medians)
    ttft = of(prefill_s)
    return {
        "ttft_s": ttft,
        "decode_first_s": statistics.median(step_medians[:EDGE_STEPS]),
        "decode_last_s": statistics.median(step_medians[-EDGE_STEPS:]),
        "decode_total_s": decode_total,
        "tokens_per_s": batch * len(step_medians) / decode_total,
        "total_s": ttft + decode_total,
        "prefill_spread": spread(prefill_s),
        "decode_spread": spread([sum(steps) for steps in steps_s]),
        "step_medians_s": step_medians,
        "statistic": statistic,
    }


def relative_error(predicted: float | None, measured: float) -> float | None:
    return None if predicted is None else (predicted - measured) / measured


# --- measuring ------------------------------------------------------------------------------

def case_key(case: dict) -> str:
    return f"{case['model']} P={case['prompt']} B={case['batch']} T={case['new_tokens']}"


def measure(args) -> tuple[list[dict], dict]:
    """Time every (model, prompt, batch) case, round-robin. Returns the cases and, per model,
    its parameter count and config."""
    import torch

    torch.set_num_threads(args.threads)
    models, info = {}, {}
    for name in args.models:
        t0 = time.perf_counter()
        models[name], params = build(name)
        info[name] = {"params": params, "config": json.loads(models[name].config.to_json_string()),
                      "attn_implementation": models[name].config._attn_implementation}
        print(f"{name}: {params / 1e6:.1f}M parameters (built in {time.perf_counter() - t0:.1f} s)", flush=True)
    generator = torch.Generator().manual_seed(0)
    cases = [
        {"model": name, "params": info[name]["params"], "prompt": p, "batch": b, "new_tokens": args.new_tokens,
         "threads": args.threads, "ids": torch.randint(0, VOCAB, (b, p), generator=generator)}
        for name in args.models for p in args.prompt for b in args.batch
    ]
    gauge, guess = ContentionGauge(), {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for case in cases:  # warm-up: one generation per case (one-time setup, oneDNN primitives)
            t0 = time.perf_counter()
            generate(models[case["model"]], case["ids"], case["new_tokens"])
            guess[case_key(case)] = time.perf_counter() - t0
            note(f"  warm-up {case_key(case)}: {guess[case_key(case)]:.2f} s")
        for case in cases:
            case.update(prefill_rounds_s=[], step_rounds_s=[], contention=[], retimed=0, busy_rounds=0)
        start, total = time.perf_counter(), args.rounds * sum(guess.values())
        for r in range(args.rounds):
            shift = r % len(cases)
            for case in cases[shift:] + cases[:shift]:
                run_round(models[case["model"]], case, gauge, args)
            elapsed = time.perf_counter() - start
            eta = elapsed / (r + 1) * (args.rounds - r - 1) if r else total - elapsed
            note(f"round {r + 1}/{args.rounds} done, {elapsed:.0f} s elapsed, about {max(eta, 0):.0f} s left")
    finally:
        if gc_was_enabled:
            gc.enable()
    for case in cases:
        del case["ids"]
    return cases, info


def run_round(model, case: dict, gauge: ContentionGauge, args) -> None:
    """One counted generation of a case: retimed while other processes used more than
    --max-contention of the CPU, up to --retries times (then the least busy try counts)."""
    tries = []
    for attempt in range(args.retries + 1):
        if attempt:
            time.sleep(args.backoff)
        gauge.start()
        prefill, steps = generate(model, case["ids"], case["new_tokens"])
        busy = gauge.read()
        tries.append((busy or 0.0, prefill, steps))
        if busy is None or busy <= args.max_contention:
            break
        note(f"  warning: {case_key(case)}: other processes used {busy:.0%} of the CPU; "
             + ("retiming" if attempt < args.retries else "keeping the least busy try"))
    busy, prefill, steps = min(tries, key=lambda t: t[0])
    case["retimed"] += len(tries) - 1
    case["busy_rounds"] += busy > args.max_contention
    case["contention"].append(busy)
    case["prefill_rounds_s"].append(prefill)
    case["step_rounds_s"].append(steps)


# --- predicting -------------------------------------------------------------------------------

def graphcal_cmd() -> list[str]:
    return ["graphcal"] if shutil.which("graphcal") else [sys.executable, "-m", "graphcal"]


def predict(case: dict, config_path: Path, hw: str) -> dict | None:
    """`graphcal predict CONFIG --llm ... --json` for one case; None (with a note) if it fails."""
    cmd = graphcal_cmd() + [
        "predict", str(config_path), "--llm", "--prompt", str(case["prompt"]), "--new-tokens",
        str(case["new_tokens"]), "--batch", str(case["batch"]), "--hw", hw, "--threads", str(case["threads"]), "--json",
    ]
    done = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        note(f"  predict failed for {case_key(case)} (exit {done.returncode}): {lines[-1] if lines else ''}")
        return None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        note(f"  predict for {case_key(case)} printed no JSON")
        return None


# --- reporting --------------------------------------------------------------------------------

def host_info(threads: int) -> dict:
    import torch
    import transformers

    from graphcal.hardware.host import cpuinfo

    try:
        lscpu = subprocess.run(["lscpu"], text=True, capture_output=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = cpuinfo().get("model name", "unknown")
    info = cpuinfo()
    return {
        "cpu": name, "cpu_family": info.get("cpu family", "?"), "cpu_model": info.get("model", "?"),
        "logical_cpus": os.cpu_count(), "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "threads": threads,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def seconds(value: float) -> str:
    return f"{value * 1e3:10.2f} ms" if value < 10 else f"{value:10.2f} s "


def figure(key: str, value: float | None) -> str:
    if value is None:
        return f"{'-':>13}"
    return f"{value:7.1f} tok/s" if key == "tokens_per_s" else seconds(value)


def report(cases: list[dict], host: dict, hw: str | None) -> dict:
    print(f"\nLLM decode on {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']}), "
          f"torch {host['torch']}, transformers {host['transformers']}, {host['threads']} threads, "
          f"measured {host['date']}" + (f"; predicted on {hw}" if hw else "")
          + f"; each figure the rounds' {cases[0]['measured']['statistic'] if cases else 'median'}")
    for case in cases:
        m, p = case["measured"], case.get("predicted")
        busy = f", {case['busy_rounds']} busy round(s) kept" if case["busy_rounds"] else ""
        print(f"\n{case_key(case)}  ({case['params'] / 1e6:.1f}M params)  repeatability IQR/median: "
              f"prefill {percent(m['prefill_spread'])}, decode {percent(m['decode_spread'])}; "
              f"{len(case['prefill_rounds_s'])} rounds, {case['retimed']} retimed{busy}")
        print(f"  {'':16} {'measured':>13} {'predicted':>13} {'error':>8}")
        for key in COMPARED:
            predicted = p.get(key) if p else None
            error = relative_error(predicted, m[key])
            print(f"  {key:16} {figure(key, m[key])} {figure(key, predicted)} "
                  f"{'-' if error is None else f'{error:+.1%}':>8}")
    summary = {}
    for key in ("ttft_s", "tokens_per_s"):
        pairs = [(c["predicted"][key], c["measured"][key]) for c in cases if c.get("predicted")]
        result = metrics([p for p, _ in pairs], [m for _, m in pairs])
        summary[key] = result.as_dict()
    if any(c.get("predicted") for c in cases):
        print(f"\nOver {summary['ttft_s']['n']} case(s): MAPE prefill (ttft_s) {percent(summary['ttft_s']['mape'])}, "
              f"MAPE tokens_per_s {percent(summary['tokens_per_s']['mape'])}  "
              f"(within +-10%: {percent(summary['ttft_s']['within_10'])}, "
              f"{percent(summary['tokens_per_s']['within_10'])})")
        print(f"  predicted on {hw}; measured on {host['cpu']} (cpu family {host['cpu_family']}, model "
              f"{host['cpu_model']}), torch {host['torch']}, {host['threads']} threads, {host['date']}")
    return summary


def write(out_dir: Path, cases: list[dict], models: dict, host: dict, hw: str | None, summary: dict) -> None:
    path = out_dir / f"{SUMMARY_FILE}.json"
    path.write_text(json.dumps({"host": host, "hardware": hw, "models": models, "cases": cases,
                                "summary": summary}, indent=1))
    rows = []
    for case in cases:
        row = {k: case[k] for k in ("model", "params", "prompt", "batch", "new_tokens", "threads", "retimed",
                                    "busy_rounds")}
        row["rounds"] = len(case["prefill_rounds_s"])
        m, p = case["measured"], case.get("predicted") or {}
        row.update({f"measured_{k}": v for k, v in m.items() if k != "step_medians_s"})
        for key in COMPARED:
            row[f"predicted_{key}"] = p.get(key, "")
            error = relative_error(p.get(key), m[key])
            row[f"error_{key}"] = "" if error is None else error
        rows.append(row)
    with (out_dir / f"{SUMMARY_FILE}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {path} and {path.with_suffix('.csv')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, required=True, help="where configs, JSON and CSV go")
    parser.add_argument("--hw", help="the profile to predict on (a path such as ./host-fit.yaml, or a name)")
    parser.add_argument("--no-predict", action="store_true", help="measure only")
    parser.add_argument("--from-json", type=Path, help="re-predict a previous run's measurements (times nothing)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=[*MODELS, *SMOKE], metavar="MODEL",
                        help=f"default: {' '.join(MODELS)}; also {' '.join(SMOKE)}")
    parser.add_argument("--prompt", nargs="+", type=int, default=[32, 128], help="prompt lengths P (default 32 128)")
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="batch sizes B (default 1)")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated T, >= 2 (default 32)")
    parser.add_argument("--rounds", type=int, default=5, help="counted generations per case (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all CPUs)")
    parser.add_argument("--max-contention", type=float, default=0.25,
                        help="share of the CPU other processes may use during a generation (default 0.25)")
    parser.add_argument("--statistic", choices=list(STATISTICS), default="q25",
                        help="each figure over the rounds: q25 (the lower quartile, the statistic graphcal sweep "
                        "records and fit calibrates on; default) or median")
    parser.add_argument("--retries", type=int, default=2, help="retimes of a busy generation (default 2)")
    parser.add_argument("--backoff", type=float, default=1.0, help="pause before a retime, seconds (default 1)")
    args = parser.parse_args(argv)
    if args.new_tokens < 2 or args.rounds < 1 or min(args.prompt + args.batch) < 1:
        parser.error("--new-tokens must be >= 2, --rounds, --prompt and --batch >= 1")

    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    hw = None if args.no_predict or not args.hw else (str(Path(args.hw).resolve()) if Path(args.hw).exists()
                                                       else args.hw)  # NB: graphcal runs from the repo root
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        cases, models, host = saved["cases"], saved["models"], saved["host"]
        print(f"measurements from {args.from_json} ({len(cases)} cases, measured {host['date']})")
    else:
        cases, models = measure(args)
        host = host_info(args.threads)
    for case in cases:
        case["measured"] = summarize(case["prefill_rounds_s"], case["step_rounds_s"], case["batch"], args.statistic)
    for name, model in models.items():
        model["config_path"] = str(out_dir / f"{name}.json")
        Path(model["config_path"]).write_text(json.dumps(model["config"], indent=2, sort_keys=True) + "\n")
    for case in cases:
        case["predicted"] = predict(case, Path(models[case["model"]]["config_path"]), hw) if hw else None
    summary = report(cases, host, hw)
    write(out_dir, cases, models, host, hw, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
