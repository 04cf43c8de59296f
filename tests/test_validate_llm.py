"""benchmarks/validate_llm.py without timing: its statistics, its results folder, the public
configs' parameter counts, and the --from-json path (given timings, real predictions)."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks.llm_models import MODELS, SMOKE_CONFIGS, build, config_document, count_params, load, params_check
from benchmarks.llm_report import population_rows, relative_error
from benchmarks.populations import read_population, write_population
from benchmarks.validate_llm import SMOKE, main, parse, spread, summarize


def test_summarize_takes_the_decode_rate_from_the_difference_of_the_two_generations():
    first = [0.30, 0.10, 0.20, 0.40, 0.50]  # generate(max_new_tokens=1), five rounds
    full = [2.0, 1.6, 1.1, 1.2, 5.0]  # generate(max_new_tokens=T)
    m = summarize(first, full, batch=2, new_tokens=11, statistic="median")
    assert m["ttft_s"] == pytest.approx(0.30)
    assert m["generate_s"] == pytest.approx(1.6)
    assert m["decode_s"] == pytest.approx(1.3)  # 1.6 - 0.3
    assert m["decode_step_s"] == pytest.approx(0.13)  # 1.3 / (11 - 1)
    assert m["tokens_per_s"] == pytest.approx(2 * 10 / 1.3)  # B x (T - 1) / (t_T - t_1)
    q25 = summarize(first, full, batch=1, new_tokens=11, statistic="q25")
    assert q25["ttft_s"] == pytest.approx(0.20)  # lower quartile of 0.1 0.2 0.3 0.4 0.5
    assert q25["generate_s"] == pytest.approx(1.2)  # of 1.1 1.2 1.6 2.0 5.0
    assert q25["tokens_per_s"] == pytest.approx(10 / 1.0)


def test_a_generation_no_slower_than_its_first_token_has_no_decode_rate():
    m = summarize([1.0, 1.0], [0.9, 0.9], batch=1, new_tokens=4)
    assert m["tokens_per_s"] is None and m["decode_step_s"] is None


def test_spread_and_relative_error():
    assert spread([1.0, 1.0, 1.0]) == 0.0
    assert spread([1.0, 2.0, 3.0]) == pytest.approx((2.5 - 1.5) / 2.0)
    assert relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert relative_error(None, 1.0) is None
    assert relative_error(1.0, None) is None


def _case(model: str, ttft: float, rate: float | None, predicted: dict | None) -> dict:
    return {"model": model, "prompt": 32, "batch": 1, "new_tokens": 8, "dtype": "fp32",
            "measured": {"ttft_s": ttft, "tokens_per_s": rate}, "predicted": predicted}


def test_population_rows_keep_cases_with_both_figures():
    cases = [_case("a", 0.5, 20.0, {"ttft_s": 0.4, "tokens_per_s": 25.0}),
             _case("b", 0.7, None, {"ttft_s": 0.6, "tokens_per_s": 9.0}),
             _case("c", 0.9, 5.0, None)]
    assert population_rows(cases, "ttft_s") == [("a P=32 B=1 T=8 fp32", 0.5, 0.4), ("b P=32 B=1 T=8 fp32", 0.7, 0.6)]
    assert population_rows(cases, "tokens_per_s") == [("a P=32 B=1 T=8 fp32", 20.0, 25.0)]


def test_write_population_merges_results_yaml(tmp_path):
    (tmp_path / "results.yaml").write_text(yaml.safe_dump(
        {"machine": "m.json", "populations": {"models": {"unit": "s"}, "llm-ttft": {"unit": "old"}}}))
    path = write_population(tmp_path, "llm-ttft", [("x P=1", 0.25, 0.5)], {"unit": "s", "profile": "p.yaml"})
    assert path == tmp_path / "populations" / "llm-ttft.csv"
    assert path.read_text().splitlines()[0] == "case,measured,predicted"
    assert read_population(path) == [("x P=1", 0.25, 0.5)]
    document = yaml.safe_load((tmp_path / "results.yaml").read_text())
    assert document["machine"] == "m.json"
    assert document["populations"]["models"] == {"unit": "s"}
    assert document["populations"]["llm-ttft"] == {"csv": "populations/llm-ttft.csv", "unit": "s",
                                                   "profile": "p.yaml"}
    with pytest.raises(ValueError, match="no case"):
        write_population(tmp_path, "llm-tokens-per-s", [], {})


def test_results_yaml_that_is_not_a_mapping_is_refused(tmp_path):
    (tmp_path / "results.yaml").write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        write_population(tmp_path, "llm-ttft", [("x", 1.0, 1.0)], {})


def test_smoke_and_default_runs(tmp_path):
    smoke = parse(["--smoke", "--out-dir", str(tmp_path)])
    assert (smoke.models, smoke.rounds, smoke.new_tokens, smoke.prompt) == (
        SMOKE["models"], 1, SMOKE["new_tokens"], SMOKE["prompt"])
    assert set(smoke.models) == set(SMOKE_CONFIGS)
    full = parse(["--out-dir", str(tmp_path), "--rounds", "7"])
    assert (full.models, full.rounds, full.new_tokens, full.prompt) == (list(MODELS), 7, 32, [32, 128])
    assert len(full.models) >= 4


@pytest.mark.parametrize("argv", [["--results", "r"], ["--results", "r", "--hw", "p", "--no-predict"],
                                  ["--new-tokens", "1"], ["--models", "gpt-5"]])
def test_bad_options_are_usage_errors(tmp_path, argv):
    with pytest.raises(SystemExit) as exit_:
        parse(["--out-dir", str(tmp_path), *argv])
    assert exit_.value.code == 2


@pytest.mark.parametrize("name", list(MODELS))
def test_public_configs_give_the_published_parameter_counts(name):
    pytest.importorskip("transformers")
    params = count_params(build(load(MODELS[name].config_path), device="meta"))
    ok, line = params_check(name, params)
    assert ok, line
    assert config_document(name)["graphcal"]["source"].startswith("https://huggingface.co/")


def test_public_models_span_three_families_from_100m_to_1_1b():
    assert {config_document(name)["model_type"] for name in MODELS} == {"llama", "gpt_neox", "qwen2"}
    published = sorted(model.published_params for model in MODELS.values())
    assert published[0] >= 100e6 and 1.0e9 <= published[-1] <= 1.2e9


def test_params_check_flags_a_misread_config():
    ok, line = params_check("pythia-160m", 85_056_000)  # the non-embedding count: embeddings left out
    assert not ok and "MISMATCH" in line


def test_from_json_predicts_given_timings_and_writes_the_populations(tmp_path):
    """The re-prediction path end to end on the two smoke models: real `graphcal predict --llm`
    runs (one per case), given timings (nothing is timed)."""
    pytest.importorskip("transformers")
    timings = {"smoke-llama": ([0.010, 0.012, 0.011], [0.040, 0.050, 0.045]),
               "smoke-gpt-neox": ([0.020, 0.021, 0.022], [0.030, 0.029, 0.031])}
    host = {"cpu": "test cpu", "cpu_family": "6", "cpu_model": "1", "torch": "2", "transformers": "5", "threads": 2,
            "date": "2026-01-01"}
    run = {
        "command": "python benchmarks/validate_llm.py --smoke", "host": host,
        "models": {name: {"params": 1, "config": config_document(name)} for name in SMOKE_CONFIGS},
        "cases": [{"model": name, "params": 1, "prompt": 16, "batch": 1, "new_tokens": 4, "dtype": "fp32",
                   "threads": 2, "first_rounds_s": first, "full_rounds_s": full, "retimed": 0, "busy_rounds": 0}
                  for name, (first, full) in timings.items()],
    }
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(run))
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.yaml").write_text("populations: {}\nnote: kept\n")
    assert main(["--from-json", str(saved), "--hw", "i7-12700k", "--statistic", "median",
                 "--out-dir", str(tmp_path / "out"), "--results", str(results)]) == 0

    ttft = dict((case, (m, p)) for case, m, p in read_population(results / "populations" / "llm-ttft.csv"))
    rate = dict((case, (m, p)) for case, m, p in read_population(results / "populations" / "llm-tokens-per-s.csv"))
    assert ttft["smoke-llama P=16 B=1 T=4 fp32"][0] == pytest.approx(0.011)  # median of the generate(1) times
    assert rate["smoke-llama P=16 B=1 T=4 fp32"][0] == pytest.approx(3 / (0.045 - 0.011))  # (T - 1) / difference
    assert rate["smoke-gpt-neox P=16 B=1 T=4 fp32"][0] == pytest.approx(3 / (0.030 - 0.021))
    out = json.loads((tmp_path / "out" / "llm-validation.json").read_text())
    for case in out["cases"]:
        assert 0 < case["predicted"]["ttft_s"] == ttft[f"{case['model']} P=16 B=1 T=4 fp32"][1]
        assert 0 < case["predicted"]["tokens_per_s"] == rate[f"{case['model']} P=16 B=1 T=4 fp32"][1]
        assert "--llm" in case["prediction_command"] and "--dtype fp32" in case["prediction_command"]
    document = yaml.safe_load((results / "results.yaml").read_text())
    assert document["note"] == "kept"
    entry = document["populations"]["llm-tokens-per-s"]
    assert entry["unit"] == "tokens/s" and entry["profile"] == "i7-12700k"
    assert entry["measured_by"] == "python benchmarks/validate_llm.py --smoke"
    assert entry["command"].startswith("python benchmarks/validate_llm.py --from-json")
    assert document["populations"]["llm-ttft"]["unit"] == "s"
