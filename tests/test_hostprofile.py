"""`graphcal profiles init --host`: detection from /proc and /sys, probes, a profile that loads."""

from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from graphcal.hardware import init as H
from graphcal.hardware.host import bf16_support
from graphcal.hardware.profile import load_profile
from graphcal.precision import Precision

CPUINFO = """processor\t: 0
model name\t: Example(R) CPU E-1234 @ 2.50GHz
physical id\t: 0
core id\t: 0
cpu MHz\t\t: 1200.000
flags\t\t: fpu sse sse2 avx fma avx2

processor\t: 1
model name\t: Example(R) CPU E-1234 @ 2.50GHz
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse sse2 avx fma avx2

processor\t: 2
model name\t: Example(R) CPU E-1234 @ 2.50GHz
physical id\t: 0
core id\t: 1
flags\t\t: fpu sse sse2 avx fma avx2

processor\t: 3
model name\t: Example(R) CPU E-1234 @ 2.50GHz
physical id\t: 0
core id\t: 1
flags\t\t: fpu sse sse2 avx fma avx2
"""


@pytest.fixture
def fake_system(tmp_path):
    return write_system(tmp_path, CPUINFO)


def write_system(tmp_path, cpuinfo_text):
    """A fake /proc/cpuinfo and /sys/devices/system/cpu: 32K L1d, 1M L2, 16M L3, 3 GHz."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(cpuinfo_text)
    sys_cpu = tmp_path / "cpu"
    for index, (level, kind, size) in enumerate([("1", "Data", "32K"), ("1", "Instruction", "32K"),
                                                 ("2", "Unified", "1024K"), ("3", "Unified", "16384K")]):
        d = sys_cpu / "cpu0" / "cache" / f"index{index}"
        d.mkdir(parents=True)
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (d / name).write_text(value + "\n")
    (sys_cpu / "cpu0" / "cpufreq").mkdir()
    (sys_cpu / "cpu0" / "cpufreq" / "cpuinfo_max_freq").write_text("3000000\n")  # kHz
    return cpuinfo, sys_cpu


def test_detect_reads_cores_simd_clocks_and_caches(fake_system):
    d = H.detect(*fake_system)
    assert d.get("cpu.model") == "Example(R) CPU E-1234 @ 2.50GHz"
    assert d.get("cpu.logical_cores") == 4 and d.get("cpu.physical_cores") == 2  # 2 cores x 2 threads
    assert d.get("cpu.fp32_flops_per_cycle_per_core") == 32  # 256-bit: 8 lanes x 2 (FMA) x 2 units
    assert "assumed" in d.facts["cpu.fp32_flops_per_cycle_per_core"].source
    assert d.get("cpu.max_clock_hz") == 3_000_000_000 and d.get("cpu.base_clock_hz") == 2_500_000_000
    assert d.get("caches.l1d_bytes_per_core") == 32 * 1024
    assert d.get("caches.l2_bytes_per_core") == 1024 * 1024 and d.get("caches.l3_bytes") == 16 * 1024**2


def test_detect_without_sysfs_or_fma(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Old CPU\ncpu MHz\t\t: 2000.000\nflags\t\t: sse sse2 avx\n")
    d = H.detect(cpuinfo, tmp_path / "nothing")
    assert d.get("cpu.physical_cores") == 1 and "assumed" in d.facts["cpu.physical_cores"].source
    assert d.get("cpu.fp32_flops_per_cycle_per_core") == 16  # 8 lanes, one add + one multiply
    assert d.get("cpu.base_clock_hz") == 2_000_000_000 and d.get("cpu.max_clock_hz") is None
    assert d.get("caches.l3_bytes") is None


def fake_probes(peak=1.0e11):
    return H.Probes(H.Probe(peak, "fake sgemm"), H.Probe(2.0e10, "fake copy"), H.Probe(3.0e-6, "fake add"),
                    H.Probe(6.0e10, "fake cached copy"), H.Probe(6.0e-6, "fake linear"))


def test_profile_peak_is_the_larger_of_computed_and_probed(fake_system):
    d = H.detect(*fake_system)
    computed = 2 * 32 * 3.0e9  # cores x FLOP/cycle x max clock = 192 GFLOP/s
    doc = H.build_profile("x", d, fake_probes(peak=1.0e11))
    assert doc["peak_flops_per_s"]["fp32"] == computed
    assert doc["coefficients"]["fp32"]["tile_utilization"] == pytest.approx(1.0e11 / computed)
    assert doc["provenance"]["sources"]["peak_flops_per_s.fp32"].startswith("computed")
    faster = H.build_profile("x", d, fake_probes(peak=3.0e11))
    assert faster["peak_flops_per_s"]["fp32"] == 3.0e11 and faster["coefficients"]["fp32"]["tile_utilization"] == 1.0
    assert faster["provenance"]["sources"]["peak_flops_per_s.fp32"].startswith("probed")


def test_init_host_writes_a_profile_that_loads_with_probes_marked(run_cli, tmp_path, monkeypatch, fake_system):
    retained = H.Probe({1.5: 0.6, 2.0: 0.2}, "fake copies")
    monkeypatch.setattr(H, "run_probes", lambda detected: dataclasses.replace(fake_probes(), retained_share=retained))
    real_detect = H.detect
    monkeypatch.setattr(H, "detect", lambda: real_detect(*fake_system))
    out = tmp_path / "host.yaml"
    result = run_cli("profiles", "init", "--host", "--out", out, "--json")
    assert result.code == 0, result.stderr
    profile = load_profile(out)
    assert profile.l3_retained_share == {1.5: 0.6, 2.0: 0.2}
    assert profile.bandwidth_bytes_per_s == 2.0e10 and profile.runtime("per_op_overhead_s") == 3.0e-6
    assert profile.cache_bandwidth_bytes_per_s == 6.0e10 and profile.runtime("matrix_op_overhead_s") == 6.0e-6
    assert 0 < profile.coefficient(Precision.FP32, "tile_utilization") <= 1
    written = yaml.safe_load(out.read_text())
    sources = written["provenance"]["sources"]
    assert sources["memory.bandwidth_bytes_per_s"].startswith("probed: fake copy")
    assert sources["runtime.per_op_overhead_s"].startswith("probed")
    assert sources["cpu.physical_cores"].startswith("detected")
    assert written["measured"]["sgemm_flops_per_s"] == {"value": 1.0e11, "method": "fake sgemm"}
    assert "probed" in out.read_text().splitlines()[0] + out.read_text().splitlines()[1]
    # the written profile is a usable --hw and --base
    assert run_cli("predict", "mlp:8:64x64", "--hw", out, "--json").code == 0
    again = run_cli("profiles", "init", "--host", "--out", out)
    assert again.code == 2 and "--force" in again.stderr
    assert run_cli("profiles", "init", "--out", tmp_path / "y.yaml").code == 2  # --host is required


def test_retained_shares_blend_the_cache_and_dram_rates_and_never_rise():
    gb = 1e9
    # 1 / 30 = s / 60 + (1 - s) / 20 at s = 1/2; a rate above the cache's is all cache; at DRAM's, none
    shares = H.retained_shares({1.5: 30 * gb, 2.0: 20 * gb, 3.0: 25 * gb}, cache_rate=60 * gb, dram_rate=20 * gb)
    assert shares == {1.5: 0.5, 2.0: 0.0, 3.0: 0.0}  # 3x's 25 GB/s is noise: no more kept than at 2x
    assert H.retained_shares({1.5: 70 * gb, 4.0: 15 * gb}, 60 * gb, 20 * gb) == {1.5: 1.0, 4.0: 0.0}


def test_init_host_writes_the_retained_share_it_probed(fake_system):
    probes = dataclasses.replace(fake_probes(), retained_share=H.Probe({1.5: 0.6, 2.0: 0.2}, "fake copies"))
    doc = H.build_profile("x", H.detect(*fake_system), probes)
    assert doc["caches"]["l3_retained_share"] == {1.5: 0.6, 2.0: 0.2}
    assert doc["provenance"]["sources"]["caches.l3_retained_share"] == "probed: fake copies"
    assert "l3_retained_share" not in H.build_profile("x", H.detect(*fake_system), fake_probes())["caches"]


def test_init_host_writes_the_fresh_page_cost_it_probed_and_the_profile_reads_it(fake_system, tmp_path):
    probes = dataclasses.replace(fake_probes(), fresh_pages=H.Probe({1: 8e-7, 2: 6e-7}, "fake fills"))
    doc = H.build_profile("x", H.detect(*fake_system), probes)
    assert doc["memory"]["fresh_page_s"] == {1: 8e-7, 2: 6e-7}
    assert doc["provenance"]["sources"]["memory.fresh_page_s"] == "probed: fake fills"
    out = tmp_path / "x.yaml"
    out.write_text(yaml.safe_dump(doc))
    assert load_profile(out).fresh_page_s == {1: 8e-7, 2: 6e-7}
    assert "fresh_page_s" not in H.build_profile("x", H.detect(*fake_system), fake_probes())["memory"]


def test_fresh_pages_are_probed_at_one_thread_the_powers_of_two_and_every_core():
    assert H.fault_thread_counts(1) == [1]
    assert H.fault_thread_counts(2) == [1, 2]
    assert H.fault_thread_counts(12) == [1, 2, 4, 8, 12]


def test_real_probes_run_briefly_and_give_positive_figures():
    peak = H.probe_peak_flops(threads=1, n=128, budget_s=0.05)
    copy = H.probe_bandwidth(threads=1, nbytes=4 * 1024**2, budget_s=0.05)
    overhead = H.probe_overhead(calls=50)
    for probe in (peak, copy, overhead):
        assert math.isfinite(probe.value) and probe.value > 0 and probe.method


# --- bf16 ----------------------------------------------------------------------------------------

BF16_CPUINFO = CPUINFO.replace("avx fma avx2", "avx fma avx2 avx512f avx512_bf16")


@pytest.mark.parametrize(
    ("block", "native", "flag"),
    [
        ({"flags": "fpu avx2 avx512f avx512_bf16"}, True, "avx512_bf16"),
        ({"flags": "avx512f avx512_bf16 amx_bf16 amx_tile"}, True, "amx_bf16"),  # AMX, the faster, named
        ({"flags": "fpu sse avx fma avx2"}, False, None),  # Zen 3: avx2, no bf16
        ({"Features": "fp asimd evtstrm aes sve bf16 i8mm"}, True, "bf16"),  # aarch64 (Neoverse V1)
        ({"Features": "fp asimd evtstrm aes crc32"}, False, None),  # aarch64 without FEAT_BF16
        ({"model name": "no flags at all"}, None, None),
    ],
)
def test_bf16_support_from_cpuinfo_flags(block, native, flag):
    support = bf16_support(block)
    assert (support.native, support.flag) == (native, flag)
    if not native:
        assert support.not_native().startswith("bf16: ") and "conversions to fp32" in support.not_native()


def fake_bf16_probes(peak=1.0e11, bf16_peak=3.0e11):
    return dataclasses.replace(fake_probes(peak), bf16_peak=H.Probe(bf16_peak, "fake bf16 mm"))


def test_native_bf16_gets_a_peak_and_a_starting_table_like_fp32(tmp_path):
    d = H.detect(*write_system(tmp_path, BF16_CPUINFO))
    assert d.bf16.native and d.get("cpu.fp32_flops_per_cycle_per_core") == 64  # 512-bit: 16 lanes x 2 x 2
    computed = 2 * 128 * 3.0e9  # cores x (2 x 64 bf16 FLOP/cycle) x 3 GHz = 768 GFLOP/s
    doc = H.build_profile("x", d, fake_bf16_probes(bf16_peak=3.0e11))
    assert doc["peak_flops_per_s"] == {"fp32": 2 * 64 * 3.0e9, "bf16": computed}
    assert doc["coefficients"]["bf16"] == {
        "efficiency_factor": 1.0, "memory_bottleneck_factor": 1.0,
        "tile_utilization": pytest.approx(3.0e11 / computed), "instruction_efficiency": H.UNCALIBRATED_VECTOR,
    }
    sources = doc["provenance"]["sources"]
    assert sources["peak_flops_per_s.bf16"].startswith("computed") and "avx512_bf16" in sources["peak_flops_per_s.bf16"]
    assert sources["coefficients.bf16.tile_utilization"].startswith("probed: bf16 torch.mm")
    assert "--dtype bf16" in sources["coefficients.bf16.instruction_efficiency"]
    assert doc["measured"]["bf16_gemm_flops_per_s"] == {"value": 3.0e11, "method": "fake bf16 mm"}
    assert "notes" not in doc["provenance"]
    # a probe above the computed figure is the peak, as for fp32
    faster = H.build_profile("x", d, fake_bf16_probes(bf16_peak=1.0e12))
    assert faster["peak_flops_per_s"]["bf16"] == 1.0e12 and faster["coefficients"]["bf16"]["tile_utilization"] == 1.0
    assert faster["provenance"]["sources"]["peak_flops_per_s.bf16"].startswith("probed: fake bf16 mm")


def test_amx_bf16_peak_uses_amx_flops_per_cycle(tmp_path):
    d = H.detect(*write_system(tmp_path, BF16_CPUINFO.replace("avx512_bf16", "avx512_bf16 amx_bf16")))
    doc = H.build_profile("x", d, fake_bf16_probes())
    assert doc["peak_flops_per_s"]["bf16"] == 2 * 1024 * 3.0e9  # cores x 1024 AMX FLOP/cycle x 3 GHz
    assert "AMX" in doc["provenance"]["sources"]["peak_flops_per_s.bf16"]


def test_without_native_bf16_no_table_and_the_profile_says_why(fake_system):
    d = H.detect(*fake_system)
    doc = H.build_profile("x", d, fake_probes())
    assert list(doc["peak_flops_per_s"]) == list(doc["coefficients"]) == ["fp32"]
    assert "bf16_gemm_flops_per_s" not in doc["measured"]
    assert not any("bf16" in path for path in doc["provenance"]["sources"])
    [note] = doc["provenance"]["notes"]
    assert note.startswith("bf16: not native on this CPU (no avx512_bf16 or amx_bf16 flag in ")
    assert "no bf16 table written" in note


@pytest.mark.parametrize(("cpuinfo", "probed"), [(CPUINFO, ["fp32"]), (BF16_CPUINFO, ["fp32", "bf16"])])
def test_run_probes_times_bf16_only_where_native(tmp_path, monkeypatch, cpuinfo, probed):
    calls = []

    def peak(threads, n=2048, budget_s=1.0, precision=Precision.FP32):
        calls.append(precision.value)
        return H.Probe(1.0e11, f"fake {precision.value}")

    monkeypatch.setattr(H, "probe_peak_flops", peak)
    monkeypatch.setattr(H, "probe_bandwidth", lambda threads, nbytes, budget_s=1.0: H.Probe(2.0e10, "copy"))
    monkeypatch.setattr(H, "probe_overhead", lambda: H.Probe(3.0e-6, "add"))
    monkeypatch.setattr(H, "probe_matrix_overhead", lambda: H.Probe(6.0e-6, "linear"))
    probes = H.run_probes(H.detect(*write_system(tmp_path, cpuinfo)))
    assert calls == probed and (probes.bf16_peak is not None) == ("bf16" in probed)


@pytest.mark.parametrize("native", [True, False])
def test_init_host_writes_bf16_or_says_why_not(run_cli, tmp_path, monkeypatch, native):
    system = write_system(tmp_path, BF16_CPUINFO if native else CPUINFO)
    monkeypatch.setattr(H, "run_probes", lambda detected: fake_bf16_probes() if native else fake_probes())
    real_detect = H.detect
    monkeypatch.setattr(H, "detect", lambda: real_detect(*system))
    out = tmp_path / "host.yaml"
    result = run_cli("profiles", "init", "--host", "--out", out)
    assert result.code == 0, result.stderr
    assert ("bf16: not native on this CPU" in result.stderr) is not native
    assert ("sweep --dtype bf16" in result.stdout) is native
    profile = load_profile(out)
    assert (Precision.BF16 in profile.precisions) is native
    bf16 = run_cli("predict", "mlp:8:64x64", "--hw", out, "--dtype", "bf16", "--json")
    if native:
        assert bf16.code == 0, bf16.stderr
    else:
        assert bf16.code == 2 and "has no bf16 coefficients" in bf16.stderr and "profiles init --host" in bf16.stderr


def test_bf16_probe_runs_briefly():
    probe = H.probe_peak_flops(threads=1, n=64, budget_s=0.02, precision=Precision.BF16)
    assert math.isfinite(probe.value) and probe.value > 0 and "bf16" in probe.method
