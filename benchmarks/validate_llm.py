"""LLM accuracy as users run them: time transformers' `generate` on public model shapes and
compare it with `graphcal predict CONFIG --llm`.

Models (benchmarks/llm_models.py): SmolLM-135M, Pythia-160M, Pythia-410M, Qwen2.5-0.5B and
TinyLlama-1.1B (Llama, GPT-NeoX and Qwen2 families) built from their public config.json shapes
(benchmarks/llm_configs/) with random weights, in --dtype (fp32 or bf16), never downloaded; each
parameter count is checked against the published one before anything is timed.

What is timed, per case (model, prompt length P, batch B), with torch.set_num_threads(--threads)
and random prompt tokens (attention mask all ones):

- t_1 = wall time of `model.generate(ids, attention_mask=mask, max_new_tokens=1,
  min_new_tokens=1, do_sample=False)`: the time to first token (TTFT), one prefill;
- t_T = wall time of the same call with max_new_tokens=T, min_new_tokens=T (--new-tokens): the
  prefill and T - 1 decode steps; min_new_tokens keeps the random model from stopping early.

The two calls are interleaved in every round, so the decode rate comes from their difference:
tokens_per_s = B x (T - 1) / (t_T - t_1), each of t_1 and t_T the rounds' --statistic. What the
difference leaves out is what both calls do once (generate's setup, the prefill); what it keeps
is every decode step with generate's own work between steps, as a user's generation has it.

Protocol: one warm-up generation per case, then --rounds rounds; each round times both calls of
every case, the case order rotating and the two calls' order alternating from round to round.
Garbage collection is paused while timing. Contention: graphcal.sweep.protocol's gauge (the share
of the CPU other processes used) is read over each call; a call above --max-contention is retimed
after a pause, up to --retries times, and if every try was busy the least busy one counts and
the case is flagged.

Predictions: each model's config is written into --out-dir/configs and what `graphcal predict
CONFIG.json --llm --prompt P --new-tokens T --batch B --dtype D --hw PROFILE --threads N --json`
prints is computed per case (in this process, by the functions that command calls; the JSON
records each case's command): its ttft_s (the prefill, as generate(max_new_tokens=1) runs it) is compared with
t_1 and its tokens_per_s with the measured decode rate. Everything goes to
--out-dir/llm-validation.{json,csv}; with --results DIR also DIR/populations/llm-ttft.csv and
llm-tokens-per-s.csv (case,measured,predicted) and their entries in DIR/results.yaml.
`--from-json FILE --hw PROFILE` re-predicts a run's measurements without timing anything.

    python benchmarks/validate_llm.py --hw host-fit.yaml --out-dir llm --results results --rounds 7  # ~8 min, 2 cores
    python benchmarks/validate_llm.py --smoke --hw i7-12700k --out-dir /tmp/llm-smoke                # < 1 min
    python benchmarks/validate_llm.py --from-json llm/llm-validation.json --hw host-fit.yaml --out-dir llm
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.llm_models import (  # noqa: E402
    MODELS,
    SMOKE_CONFIGS,
    build,
    config_document,
    count_params,
    import_transformers,
    load,
    params_check,
    write_config,
)
from benchmarks.llm_report import case_key, note, predicted_figures, report, write, write_results  # noqa: E402
from benchmarks.machine import lscpu  # noqa: E402
from graphcal.sweep.protocol import ContentionGauge, percentile  # noqa: E402

SMOKE = {"models": list(SMOKE_CONFIGS), "prompt": [16], "new_tokens": 4, "rounds": 1}


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


def summarize(first_s: list[float], full_s: list[float], batch: int, new_tokens: int,
              statistic: str = "q25") -> dict:
    """A case's figures from its rounds' generate(1) and generate(T) times: each time the rounds'
    `statistic`, the decode rate from their difference (None where it is not positive)."""
    of = STATISTICS[statistic]
    ttft, full = of(first_s), of(full_s)
    decode = full - ttft
    return {
        "ttft_s": ttft,
        "generate_s": full,
        "decode_s": decode,
        "decode_step_s": decode / (new_tokens - 1) if decode > 0 else None,
        "tokens_per_s": batch * (new_tokens - 1) / decode if decode > 0 else None,
        "first_spread": spread(first_s),
        "full_spread": spread(full_s),
        "statistic": statistic,
    }


# --- measuring ------------------------------------------------------------------------------

def generate_s(model, ids, new_tokens: int) -> float:
    """Wall time of one greedy `generate` of exactly `new_tokens` tokens per sequence."""
    import torch

    mask = torch.ones_like(ids)
    t0 = time.perf_counter()
    out = model.generate(ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                         do_sample=False, num_beams=1)
    elapsed = time.perf_counter() - t0
    if out.shape[1] != ids.shape[1] + new_tokens:
        raise RuntimeError(f"generate made {out.shape[1] - ids.shape[1]} tokens, not {new_tokens}")
    return elapsed


def build_models(args) -> dict:
    """Each model of --models, built and checked against its published parameter count."""
    models = {}
    for name in args.models:
        t0 = time.perf_counter()
        config = load(write_config(name, args.out_dir / "configs"))
        model = build(config, args.dtype)
        eos = model.config.eos_token_id
        model.generation_config.pad_token_id = (eos[0] if isinstance(eos, list) else eos) or 0
        ok, line = params_check(name, count_params(model))
        print(f"{line} (built in {time.perf_counter() - t0:.1f} s)", flush=True)
        if not ok:
            raise SystemExit(f"{name}: its config does not give the published parameter count")
        models[name] = model
    return models


def measure(args) -> tuple[list[dict], dict]:
    """Time every (model, prompt, batch) case, round-robin. Returns the cases and, per model,
    its parameter count and config."""
    import torch

    torch.set_num_threads(args.threads)
    models = build_models(args)
    info = {name: {"params": count_params(m), "config": config_document(name)} for name, m in models.items()}
    generator = torch.Generator().manual_seed(0)
    cases = [
        {"model": name, "params": info[name]["params"], "prompt": p, "batch": b, "new_tokens": args.new_tokens,
         "dtype": args.dtype, "threads": args.threads,
         "ids": torch.randint(0, models[name].config.vocab_size, (b, p), generator=generator)}
        for name in args.models for p in args.prompt for b in args.batch
    ]
    gauge, guess = ContentionGauge(), {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.no_grad():
            for case in cases:  # warm-up: one-time setup (oneDNN primitives, generate's caches)
                guess[case_key(case)] = generate_s(models[case["model"]], case["ids"], case["new_tokens"])
                note(f"  warm-up {case_key(case)}: {guess[case_key(case)]:.2f} s")
                case.update(first_rounds_s=[], full_rounds_s=[], contention=[], retimed=0, busy_rounds=0)
            start, total = time.perf_counter(), args.rounds * sum(guess.values())
            for r in range(args.rounds):
                shift = r % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    for tokens in ((1, case["new_tokens"]) if r % 2 == 0 else (case["new_tokens"], 1)):
                        timed_call(models[case["model"]], case, tokens, gauge, args)
                elapsed = time.perf_counter() - start
                eta = elapsed / (r + 1) * (args.rounds - r - 1) if r else total - elapsed
                note(f"round {r + 1}/{args.rounds} done, {elapsed:.0f} s elapsed, about {max(eta, 0):.0f} s left")
    finally:
        if gc_was_enabled:
            gc.enable()
    for case in cases:
        del case["ids"]
    return cases, info


def timed_call(model, case: dict, new_tokens: int, gauge: ContentionGauge, args) -> None:
    """One counted generate call of a case: retimed while other processes used more than
    --max-contention of the CPU, up to --retries times (then the least busy try counts)."""
    tries = []
    for attempt in range(args.retries + 1):
        if attempt:
            time.sleep(args.backoff)
        gauge.start()
        elapsed = generate_s(model, case["ids"], new_tokens)
        busy = gauge.read()
        tries.append((busy or 0.0, elapsed))
        if busy is None or busy <= args.max_contention:
            break
        note(f"  warning: {case_key(case)}, {new_tokens} token(s): other processes used {busy:.0%} of the CPU; "
             + ("retiming" if attempt < args.retries else "keeping the least busy try"))
    busy, elapsed = min(tries)
    case["retimed"] += len(tries) - 1
    case["busy_rounds"] += busy > args.max_contention
    case["contention"].append(busy)
    case["first_rounds_s" if new_tokens == 1 else "full_rounds_s"].append(elapsed)


# --- predicting -------------------------------------------------------------------------------

def predict_command(case: dict, config_path: Path, hw: str) -> list[str]:
    """The `graphcal predict` command line that gives a case's prediction."""
    return ["graphcal", "predict", str(config_path), "--llm", "--prompt", str(case["prompt"]), "--new-tokens",
            str(case["new_tokens"]), "--batch", str(case["batch"]), "--dtype", case["dtype"], "--hw", hw,
            "--threads", str(case["threads"]), "--json"]


def predict(case: dict, config_path: Path, hw: str) -> dict | None:
    """What predict_command prints, computed in this process with the functions that command
    calls (one import of torch and transformers for every case); None (with a note) on a
    GraphcalError."""
    from graphcal.errors import GraphcalError
    from graphcal.hardware.profile import load_profile
    from graphcal.load.llm import load_config
    from graphcal.mapper import Target
    from graphcal.precision import Precision
    from graphcal.predict.llm import Generation, predict_llm
    from graphcal.predict.report import llm_json

    import_transformers()
    try:
        target = Target(load_profile(hw), Precision.parse(case["dtype"]), case["threads"])
        generation = Generation(case["prompt"], case["new_tokens"], case["batch"])
        return llm_json(predict_llm(load_config(str(config_path)), target, generation))
    except GraphcalError as exc:
        note(f"  predict failed for {case_key(case)}: {exc}")
        return None


# --- reporting --------------------------------------------------------------------------------

def host_info(threads: int) -> dict:
    import datetime
    import platform

    import torch
    import transformers

    cpu = lscpu()
    return {
        "cpu": cpu.get("Model name", platform.processor() or "unknown"), "cpu_family": cpu.get("CPU family", "?"),
        "cpu_model": cpu.get("Model", "?"), "logical_cpus": os.cpu_count(), "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version(), "threads": threads,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# --- command line -----------------------------------------------------------------------------

def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, required=True, help="where configs, JSON and CSV go")
    parser.add_argument("--hw", help="the profile to predict on (a path such as ./host-fit.yaml, or a name)")
    parser.add_argument("--no-predict", action="store_true", help="measure only")
    parser.add_argument("--results", type=Path, metavar="DIR",
                        help="also write DIR/populations/llm-ttft.csv, llm-tokens-per-s.csv and DIR/results.yaml")
    parser.add_argument("--from-json", type=Path, help="re-predict a previous run's measurements (times nothing)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"two tiny models, {SMOKE['rounds']} round, {SMOKE['new_tokens']} tokens, prompt "
                        f"{SMOKE['prompt'][0]}: proves the tooling in under a minute")
    parser.add_argument("--models", nargs="+", choices=[*MODELS, *SMOKE_CONFIGS], metavar="MODEL",
                        help=f"default: {' '.join(MODELS)}; also {' '.join(SMOKE_CONFIGS)}")
    parser.add_argument("--prompt", nargs="+", type=int, help="prompt lengths P (default 32 128)")
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="batch sizes B (default 1)")
    parser.add_argument("--new-tokens", type=int, help="tokens of the longer generation T, >= 2 (default 32)")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="weights and activations")
    parser.add_argument("--rounds", type=int, help="counted rounds per case (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all CPUs)")
    parser.add_argument("--max-contention", type=float, default=0.25,
                        help="share of the CPU other processes may use during a call (default 0.25)")
    parser.add_argument("--statistic", choices=list(STATISTICS), default="q25",
                        help="each time over the rounds: q25 (the lower quartile, the statistic graphcal sweep "
                        "records and fit calibrates on; default) or median")
    parser.add_argument("--retries", type=int, default=2, help="retimes of a busy call (default 2)")
    parser.add_argument("--backoff", type=float, default=1.0, help="pause before a retime, seconds (default 1)")
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else {"models": list(MODELS), "prompt": [32, 128], "new_tokens": 32, "rounds": 5}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.new_tokens < 2 or args.rounds < 1 or min(args.prompt + args.batch) < 1:
        parser.error("--new-tokens must be >= 2, --rounds, --prompt and --batch >= 1")
    if args.results and (args.no_predict or not args.hw):
        parser.error("--results compares measurements with predictions: give --hw (and not --no-predict)")
    args.out_dir = args.out_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = shlex.join(["python", "benchmarks/validate_llm.py", *(sys.argv[1:] if argv is None else argv)])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    hw = None if args.no_predict or not args.hw else args.hw
    if args.from_json:
        run = json.loads(args.from_json.read_text())
        if not all("first_rounds_s" in case for case in run.get("cases", [])):
            raise SystemExit(f"{args.from_json}: not the generate timings this script writes (first_rounds_s)")
        print(f"measurements from {args.from_json} ({len(run['cases'])} cases, measured {run['host']['date']})")
    else:
        cases, models = measure(args)
        run = {"command": command, "host": host_info(args.threads), "models": models, "cases": cases}
    run["hardware"] = hw
    for name, model in run["models"].items():
        model["config_path"] = str(args.out_dir / "configs" / f"{name}.json")
        Path(model["config_path"]).parent.mkdir(parents=True, exist_ok=True)
        Path(model["config_path"]).write_text(json.dumps(model["config"], indent=2) + "\n")
    for case in run["cases"]:
        case["measured"] = summarize(case["first_rounds_s"], case["full_rounds_s"], case["batch"],
                                     case["new_tokens"], args.statistic)
        if hw:
            case["prediction_command"] = shlex.join(predict_command(case, Path(run["models"][case["model"]]
                                                                                ["config_path"]), hw))
            prediction = predict(case, Path(run["models"][case["model"]]["config_path"]), hw)
            case["predicted"] = predicted_figures(prediction)
            case["unsupported_ops"] = {phase: prediction[phase]["unsupported_ops"] for phase in ("prefill", "decode")
                                       if prediction and prediction[phase]["unsupported_ops"]}
        else:
            case["predicted"] = None
    run["summary"] = report(run["cases"], run, hw)
    write(args.out_dir, run)
    if args.results:
        write_results(args.results.resolve(), run, hw, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
