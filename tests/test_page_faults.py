"""benchmarks/page_faults.py on M5 (pure torch): each configuration runs in a fresh process, the
faults per pass are counted, and with glibc's heap trimming off a steady pass faults nothing."""

from __future__ import annotations

import sys

import pytest

from benchmarks.page_faults import in_fresh_process, predicted
from graphcal.hardware.allocator import NO_TRIM_ENV
from tests.helpers import base_profile_data

M5 = "m5-audio b4 16000"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables")
def test_with_trimming_off_a_steady_forward_pass_faults_no_page():
    on = in_fresh_process(M5, threads=1, runs=3, batch=None, env={})
    off = in_fresh_process(M5, threads=1, runs=3, batch=None, env=NO_TRIM_ENV)
    for run in (on, off):
        assert run["min_s"] > 0 and run["median_s"] >= run["min_s"] and run["faults"] >= 0
    assert off["faults"] == 0


def test_the_prediction_holds_the_pages_glibc_gives_back_and_takes_again(write_profile):
    data = base_profile_data()
    data["memory"]["fresh_page_s"] = {1: 1e-6}
    profile = write_profile("faulting", data)
    for batch in (4, 40):
        latency, faults, _ = predicted(M5, batch, str(profile), threads=1)
        # the first convolution's output, 4 x 128 x 3981 fp32 (8.2 MB) at batch 4, and the
        # batch norm's after it outgrow twice the largest tensor: the heap goes back every call,
        # all but glibc's 128 KiB top pad
        first_conv = batch * 128 * 3981 * 4
        assert (2 * first_conv - 128 * 1024) / 4096 * 1e-6 <= faults < latency
        # told to return nothing, glibc keeps it: the same prediction less exactly those faults
        untrimmed, none, pages = predicted(M5, batch, str(profile), threads=1, heap="no-trim")
        assert (none, pages) == (0, 0) and untrimmed == pytest.approx(latency - faults, rel=1e-12)
