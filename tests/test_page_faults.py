"""benchmarks/page_faults.py on M5 (pure torch): each configuration runs in a fresh process, the
faults per pass are counted, and with glibc's heap trimming off a steady pass faults nothing."""

from __future__ import annotations

import sys

import pytest

from benchmarks.page_faults import NO_TRIM, in_fresh_process, predicted
from tests.helpers import base_profile_data

M5 = "m5-audio b4 16000"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables")
def test_with_trimming_off_a_steady_forward_pass_faults_no_page():
    on = in_fresh_process(M5, threads=1, runs=3, batch=None, env={})
    off = in_fresh_process(M5, threads=1, runs=3, batch=None, env=NO_TRIM)
    for run in (on, off):
        assert run["min_s"] > 0 and run["median_s"] >= run["min_s"] and run["faults"] >= 0
    assert off["faults"] == 0


def test_the_prediction_holds_fresh_pages_once_an_output_reaches_32_mib(write_profile):
    data = base_profile_data()
    data["memory"]["fresh_page_s"] = {1: 1e-6}
    profile = write_profile("faulting", data)
    latency, faults = predicted(M5, 4, str(profile), threads=1)
    assert latency > 0 and faults == 0          # its largest output: 4 x 128 x 3981 fp32, 8.2 MB
    latency, faults = predicted(M5, 40, str(profile), threads=1)
    first_conv = 40 * 128 * 3981 * 4           # 81.5 MB, and the batch norm's after it
    assert faults >= 2 * first_conv / 4096 * 1e-6 and latency > faults
