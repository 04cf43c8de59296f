"""The pure statistics of benchmarks/validate_llm.py (no model is built, nothing is timed)."""

from __future__ import annotations

import pytest

from benchmarks.validate_llm import MODELS, relative_error, spread, summarize


def test_summarize_takes_medians_over_rounds_then_over_steps():
    prefill = [0.30, 0.10, 0.20]
    # three rounds of five decode steps; per-step medians over rounds: 1, 2, 3, 4, 5
    steps = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 50], [9, 9, 3, 4, 5]]
    m = summarize(prefill, steps, batch=2)
    assert m["ttft_s"] == pytest.approx(0.20)
    assert m["step_medians_s"] == [1, 2, 3, 4, 5]
    assert m["decode_first_s"] == 2  # median(1, 2, 3)
    assert m["decode_last_s"] == 4  # median(3, 4, 5)
    assert m["decode_total_s"] == 15  # 1+2+3+4+5
    assert m["tokens_per_s"] == pytest.approx(2 * 5 / 15)  # B*(T-1) / decode_total_s
    assert m["total_s"] == pytest.approx(15.20)
    # round decode totals 15, 60, 30: IQR = 45 - 22.5 = 22.5, median 30
    assert m["decode_spread"] == pytest.approx(22.5 / 30)


def test_spread_and_relative_error():
    assert spread([1.0, 1.0, 1.0]) == 0.0
    assert spread([1.0, 2.0, 3.0]) == pytest.approx((2.5 - 1.5) / 2.0)
    assert relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert relative_error(None, 1.0) is None


def test_models_have_64_wide_heads_and_whole_kv_groups():
    for name, (hidden, _, heads, kv_heads, intermediate) in MODELS.items():
        assert heads * 64 == hidden, name
        assert heads % kv_heads == 0, name
        assert 2.5 < intermediate / hidden < 3.0, name
