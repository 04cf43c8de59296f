"""benchmarks/page_faults.py on M5 (pure torch): each configuration runs in a fresh process, the
faults per pass are counted, and with glibc's heap trimming off a steady pass faults nothing."""

from __future__ import annotations

import sys

import pytest

from benchmarks.page_faults import NO_TRIM, in_fresh_process

M5 = "m5-audio b4 16000"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables")
def test_with_trimming_off_a_steady_forward_pass_faults_no_page():
    on = in_fresh_process(M5, threads=1, runs=3, env={})
    off = in_fresh_process(M5, threads=1, runs=3, env=NO_TRIM)
    for run in (on, off):
        assert run["min_s"] > 0 and run["median_s"] >= run["min_s"] and run["faults"] >= 0
    assert off["faults"] == 0
