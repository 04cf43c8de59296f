"""Every coefficient is live, end to end through the CLI: the predecessor's bug, as tests.

Three regimes, each made by one workload on one profile:
  matrix compute-bound: matmul:2048x2048x2048 (17.2 GFLOP, 50 MB)
  memory-bound:         add:50000000 (0.05 GFLOP, 600 MB) on a normal profile
  vector compute-bound: the same add on a profile whose bandwidth is huge
and an overhead-bound one, add:16. Changing one coefficient must move its regime by the
expected factor and leave the others exactly where they were.
"""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import PREDECESSOR_LARGE, PREDECESSOR_TINY, base_profile_data

MATMUL = "matmul:2048x2048x2048"
ADD = "add:50000000"
TINY_ADD = "add:16"


def latency(run_cli, model: str, profile) -> float:
    result = run_cli("predict", model, "--hw", profile, "--json")
    assert result.code == 0, result.stderr
    return result.json()["latency_s"]


def bounds(run_cli, model: str, profile) -> set[str]:
    return {op["bound"] for op in run_cli("predict", model, "--hw", profile, "--json").json()["ops"]}


def test_predecessor_variants_differ_by_the_coefficient_ratios(run_cli):
    # compute-bound: (0.60*0.80)/(0.20*0.50) = 4.8; memory-bound: 0.65/0.25 = 2.6
    big_matmul = "matmul:4096x4096x4096"
    big_add = "add:100000000"
    assert bounds(run_cli, big_matmul, PREDECESSOR_TINY) == {"compute"}
    assert bounds(run_cli, big_add, PREDECESSOR_LARGE) == {"memory"}
    compute_ratio = latency(run_cli, big_matmul, PREDECESSOR_TINY) / latency(run_cli, big_matmul, PREDECESSOR_LARGE)
    memory_ratio = latency(run_cli, big_add, PREDECESSOR_TINY) / latency(run_cli, big_add, PREDECESSOR_LARGE)
    assert compute_ratio == pytest.approx(4.8, rel=0.01)
    assert memory_ratio == pytest.approx(2.6, rel=0.01)


def test_compare_shows_the_same_ratio(run_cli):
    rows = run_cli(
        "compare", "matmul:4096x4096x4096", "--hw", PREDECESSOR_LARGE, "--hw", PREDECESSOR_TINY, "--json"
    ).json()["rows"]
    assert [r["hardware"] for r in rows] == ["predecessor-large", "predecessor-tiny"]
    assert rows[0]["ratio_to_first"] == 1.0
    assert rows[1]["ratio_to_first"] == pytest.approx(4.8, rel=0.01)


@pytest.fixture
def profiles(write_profile):
    """The base profile, a huge-bandwidth twin (vector ops compute-bound), and a builder of
    variants that change one field."""

    def make(name: str, bandwidth: float | None = None, overhead: float = 0.0, runtime=None, memory=None,
             **coefficients):
        data = base_profile_data(**coefficients)
        data["name"] = name
        if bandwidth is not None:
            data["memory"] = {"bandwidth_bytes_per_s": bandwidth, "cache_bandwidth_bytes_per_s": bandwidth}
        data["memory"].update(memory or {})
        data["runtime"].update(per_op_overhead_s=overhead, matrix_op_overhead_s=overhead)
        data["runtime"].update(runtime or {})
        return write_profile(name, data)

    return make


HUGE_BANDWIDTH = 10**15


def test_regimes_are_what_the_tests_assume(run_cli, profiles):
    base, fast_memory = profiles("base"), profiles("fastmem", bandwidth=HUGE_BANDWIDTH)
    assert bounds(run_cli, MATMUL, base) == {"compute"}
    assert bounds(run_cli, ADD, base) == {"memory"}
    assert bounds(run_cli, ADD, fast_memory) == {"compute"}
    assert bounds(run_cli, TINY_ADD, profiles("calls", overhead=1.0e-6)) == {"overhead"}


# coefficient -> (factor applied, {workload/regime: expected latency ratio variant/base})
HALVED = 0.25  # every base coefficient is 0.5; the variant sets 0.25
CASES = {
    "efficiency_factor": {"matrix": 2.0, "vector": 2.0, "memory": 1.0},
    "tile_utilization": {"matrix": 2.0, "vector": 1.0, "memory": 1.0},
    "instruction_efficiency": {"matrix": 1.0, "vector": 2.0, "memory": 1.0},
    "memory_bottleneck_factor": {"matrix": 1.0, "vector": 1.0, "memory": 2.0},
}


@pytest.mark.parametrize("coefficient", sorted(CASES))
def test_each_coefficient_moves_only_its_regime(coefficient, run_cli, profiles):
    base = profiles("base")
    variant = profiles("variant", **{coefficient: HALVED})
    base_fast = profiles("base-fastmem", bandwidth=HUGE_BANDWIDTH)
    variant_fast = profiles("variant-fastmem", bandwidth=HUGE_BANDWIDTH, **{coefficient: HALVED})
    observed = {
        "matrix": latency(run_cli, MATMUL, variant) / latency(run_cli, MATMUL, base),
        "vector": latency(run_cli, ADD, variant_fast) / latency(run_cli, ADD, base_fast),
        "memory": latency(run_cli, ADD, variant) / latency(run_cli, ADD, base),
    }
    for regime, expected in CASES[coefficient].items():
        assert observed[regime] == pytest.approx(expected, rel=1e-9), regime


def test_per_op_overhead_moves_only_overhead_bound_ops(run_cli, profiles):
    base, slow_calls = profiles("calls", overhead=1.0e-6), profiles("slowcalls", overhead=3.0e-6)
    # one op, 2 us more per call
    assert latency(run_cli, TINY_ADD, slow_calls) - latency(run_cli, TINY_ADD, base) == pytest.approx(2.0e-6, rel=1e-6)
    assert bounds(run_cli, TINY_ADD, slow_calls) == {"overhead"}
    # and nothing else: the 34 ms matmul moves by the same 2 us, not by a factor
    assert latency(run_cli, MATMUL, slow_calls) - latency(run_cli, MATMUL, base) == pytest.approx(2.0e-6, rel=1e-6)


def test_threads_scale_compute_but_not_memory(run_cli, profiles):
    base = profiles("base")  # 4 physical cores
    one = run_cli("predict", MATMUL, "--hw", base, "--threads", "1", "--json").json()["latency_s"]
    four = run_cli("predict", MATMUL, "--hw", base, "--threads", "4", "--json").json()["latency_s"]
    eight = run_cli("predict", MATMUL, "--hw", base, "--threads", "8", "--json").json()["latency_s"]
    assert one / four == pytest.approx(4.0, rel=1e-3)
    assert eight == four  # no more cores than the profile has
    mem_one = run_cli("predict", ADD, "--hw", base, "--threads", "1", "--json").json()["latency_s"]
    assert mem_one == latency(run_cli, ADD, base)


# --- the terms measurements added (README, "The model") -----------------------------------------

def test_matrix_op_overhead_moves_only_matrix_ops(run_cli, profiles):
    base = profiles("calls", overhead=1.0e-6)
    slow_blas = profiles("slowblas", overhead=1.0e-6, runtime={"matrix_op_overhead_s": 4.0e-6})
    # mlp:1:8x8x8 = linear, relu, linear: two matrix calls pay 3 us more each, the relu nothing
    assert latency(run_cli, "mlp:1:8x8x8", slow_blas) - latency(run_cli, "mlp:1:8x8x8", base) == pytest.approx(
        6.0e-6, rel=1e-6
    )
    assert latency(run_cli, TINY_ADD, slow_blas) == latency(run_cli, TINY_ADD, base)


@pytest.mark.parametrize("dimension, short_gemm", [
    ("rows", "matmul:16x65536x4096"),     # M = 16
    ("depth", "matmul:4096x16x4096"),     # K = 16
    ("columns", "matmul:4096x4096x16"),   # N = 16
])
def test_half_rate_size_slows_gemms_short_in_that_dimension(dimension, short_gemm, run_cli, profiles):
    base = profiles("base")
    short = profiles("short", runtime={f"matrix_half_rate_{dimension}": 16})
    # compute-bound: the short dimension runs at 16/(16+16) = 1/2 the rate; a 2048 cube at 2048/2064
    assert bounds(run_cli, short_gemm, base) == {"compute"}
    assert latency(run_cli, short_gemm, short) / latency(run_cli, short_gemm, base) == pytest.approx(2.0, rel=1e-9)
    cube = "matmul:2048x2048x2048"
    assert latency(run_cli, cube, short) / latency(run_cli, cube, base) == pytest.approx(2064 / 2048, rel=1e-9)
    assert latency(run_cli, ADD, short) == latency(run_cli, ADD, base)  # vector ops have no GEMM shape


def test_cache_bandwidth_applies_to_the_share_of_the_working_set_that_fits(run_cli, profiles):
    base = profiles("base")  # l3_bytes = 32 MiB; both tiers 100 GB/s
    fast_cache = profiles("fastcache", memory={"cache_bandwidth_bytes_per_s": 400_000_000_000})
    small, large = "add:1000000", ADD  # 12 MB and 600 MB of traffic
    assert bounds(run_cli, small, base) == {"memory"} and bounds(run_cli, large, base) == {"memory"}
    # 12 MB fits: all of it at 400 GB/s instead of 100
    assert latency(run_cli, small, base) / latency(run_cli, small, fast_cache) == pytest.approx(4.0, rel=1e-9)
    # 600 MB: h = 32 MiB / 600 MB of it at 400 GB/s, the rest at 100: time x (h/4 + 1 - h)
    h = 32 * 2**20 / 600e6
    assert latency(run_cli, large, fast_cache) / latency(run_cli, large, base) == pytest.approx(h / 4 + 1 - h, rel=1e-9)
    assert latency(run_cli, MATMUL, fast_cache) == latency(run_cli, MATMUL, base)  # compute-bound


CONV = "conv2d:8x64x56x56x64x3"  # compute-bound: 2*8*64*64*9*56*56 = 14.8 GFLOP
MAXPOOL = "maxpool2d:8x64x56x56x2"  # memory-bound: 8*64*56*56*4 B read + a quarter of it written


def test_a_family_rate_factor_moves_only_that_familys_ops(run_cli, profiles):
    base = profiles("base")
    slow_conv = profiles("slowconv")
    slow_pool = profiles("slowpool")
    for path, family in ((slow_conv, "conv"), (slow_pool, "pool")):
        data = yaml.safe_load(path.read_text())
        data["families"] = {f"{family}_rate_factor": 0.25}
        path.write_text(yaml.safe_dump(data))
    assert bounds(run_cli, CONV, base) == {"compute"} and bounds(run_cli, MAXPOOL, base) == {"memory"}
    # a quarter of the rate: four times the compute time of the convolution, in either regime
    assert latency(run_cli, CONV, slow_conv) / latency(run_cli, CONV, base) == pytest.approx(4.0, rel=1e-9)
    assert latency(run_cli, MAXPOOL, slow_pool) / latency(run_cli, MAXPOOL, base) == pytest.approx(4.0, rel=1e-9)
    # and nowhere else: the other family, a GEMM of the same class, a vector op
    assert latency(run_cli, MAXPOOL, slow_conv) == latency(run_cli, MAXPOOL, base)
    assert latency(run_cli, CONV, slow_pool) == latency(run_cli, CONV, base)
    for other in (MATMUL, ADD):
        assert latency(run_cli, other, slow_conv) == latency(run_cli, other, base)


def test_a_family_overhead_adds_once_per_op_of_that_family(run_cli, profiles):
    base = profiles("calls", overhead=1.0e-6)
    slow_setup = profiles("slowsetup", overhead=1.0e-6)
    data = yaml.safe_load(slow_setup.read_text())
    data["families"] = {"conv_overhead_s": 3.0e-5}
    slow_setup.write_text(yaml.safe_dump(data))
    assert latency(run_cli, CONV, slow_setup) - latency(run_cli, CONV, base) == pytest.approx(3.0e-5, rel=1e-6)
    for other in ("mlp:1:8x8x8", TINY_ADD, MAXPOOL):
        assert latency(run_cli, other, slow_setup) == latency(run_cli, other, base)


def test_a_one_row_gemm_is_a_matrix_vector_product_without_the_rows_term(run_cli, profiles):
    base = profiles("base", bandwidth=HUGE_BANDWIDTH)  # compute-bound even at one row
    short = profiles("short", bandwidth=HUGE_BANDWIDTH, runtime={"matrix_half_rate_rows": 16})
    gemv, two_rows = "linear:1x4096x4096", "linear:2x4096x4096"
    assert bounds(run_cli, gemv, base) == {"compute"}
    assert latency(run_cli, gemv, short) == latency(run_cli, gemv, base)
    # two rows are a GEMM: 2/(2+16) of the rate, nine times the compute time
    ratio = latency(run_cli, two_rows, short) / latency(run_cli, two_rows, base)
    assert ratio == pytest.approx(9.0, rel=1e-3)  # overheads are 0 in these profiles


def test_vector_product_half_rate_slows_only_memory_bound_matrix_vector_products(run_cli, profiles):
    base = profiles("base")
    short_rows = profiles("shortrows", runtime={"vector_product_half_rate_depth": 512})
    gemv, wide_gemv, two_rows = "linear:1x512x65536", "linear:1x4096x8192", "linear:2x512x65536"
    assert bounds(run_cli, gemv, base) == {"memory"} and bounds(run_cli, wide_gemv, base) == {"memory"}
    # rows of K = 512 stream at 512 / (512 + 512): twice the time; K = 4096 at 4096/4608 (overheads 0)
    assert latency(run_cli, gemv, short_rows) / latency(run_cli, gemv, base) == pytest.approx(2.0, rel=1e-6)
    assert latency(run_cli, wide_gemv, short_rows) / latency(run_cli, wide_gemv, base) == pytest.approx(
        4608 / 4096, rel=1e-6)
    # a GEMM of two rows, a vector op and a compute-bound GEMM do not move
    for other in (two_rows, ADD, MATMUL):
        assert latency(run_cli, other, short_rows) == latency(run_cli, other, base)


def test_single_thread_share_slows_memory_bound_ops_below_the_core_count_only(run_cli, profiles):
    base = profiles("base")  # 4 physical cores
    shared = profiles("shared", memory={"single_thread_share": 0.4})

    def at(profile, model, threads):
        return run_cli("predict", model, "--hw", profile, "--threads", str(threads), "--json").json()["latency_s"]

    # memory-bound add: one thread reaches 0.4 of the bandwidth, two 0.8, three or more all of it
    assert at(shared, ADD, 1) / at(base, ADD, 1) == pytest.approx(1 / 0.4, rel=1e-9)
    assert at(shared, ADD, 2) / at(base, ADD, 2) == pytest.approx(1 / 0.8, rel=1e-9)
    assert at(shared, ADD, 4) == at(base, ADD, 4)
    # a compute-bound matmul at one thread: its memory time is still below its compute time
    assert at(shared, MATMUL, 1) == at(base, MATMUL, 1)


def test_a_depthwise_factor_moves_depthwise_convolutions_not_dense_ones(run_cli, profiles):
    base = profiles("base")
    slow_depthwise = profiles("slowdw")
    data = yaml.safe_load(slow_depthwise.read_text())
    data["families"] = {"depthwise_rate_factor": 0.5}
    slow_depthwise.write_text(yaml.safe_dump(data))
    depthwise = "conv2d:1x64x56x56x64x3:g64"
    ratio = latency(run_cli, depthwise, slow_depthwise) / latency(run_cli, depthwise, base)
    assert ratio == pytest.approx(2.0, rel=1e-9)
    assert latency(run_cli, CONV, slow_depthwise) == latency(run_cli, CONV, base)


def test_l3_retained_share_moves_only_weights_beyond_the_last_level_cache(run_cli, profiles):
    fast_cache = {"cache_bandwidth_bytes_per_s": 400_000_000_000}  # DRAM 100 GB/s; l3_bytes 32 MiB
    dram = profiles("dram", memory=fast_cache)
    kept = profiles("kept", memory=fast_cache)
    data = yaml.safe_load(kept.read_text())
    data["caches"]["l3_retained_share"] = {2: 0.5, 4: 0.1}
    kept.write_text(yaml.safe_dump(data))
    gemv = "linear:1x4096x4096"  # 64 MiB of weights: 2 x l3_bytes
    assert bounds(run_cli, gemv, dram) == {"memory"}
    # without the field every weight comes from DRAM; with it, half of them from the cache at 4x the rate
    assert latency(run_cli, gemv, kept) / latency(run_cli, gemv, dram) == pytest.approx(0.5 / 4 + 0.5, rel=2e-3)
    # weights within the cache, activations alone beyond it, and compute-bound work do not move
    for other in ("linear:1x1024x1024", ADD, MATMUL):
        assert latency(run_cli, other, kept) == latency(run_cli, other, dram)


def test_fresh_page_s_costs_only_pages_the_allocator_maps_afresh(run_cli, profiles):
    faulting = profiles("faulting", memory={"fresh_page_s": {1: 1e-6, 2: 3e-6}})
    plain = profiles("plain")

    def predicted(model: str, profile, threads: int) -> dict:
        result = run_cli("predict", model, "--hw", profile, "--threads", str(threads), "--json")
        assert result.code == 0, result.stderr
        return result.json()

    pages = -(-50_000_000 * 4 // 4096)  # ADD's 200 MB output, above the 32 MiB fresh-mapping size
    for threads, per_page in ((1, 1e-6), (2, 3e-6)):
        with_faults, without = predicted(ADD, faulting, threads), predicted(ADD, plain, threads)
        assert with_faults["latency_s"] - without["latency_s"] == pytest.approx(pages * per_page, rel=1e-9)
        assert with_faults["fresh_pages"] == {"bytes": pages * 4096, "time_s": pytest.approx(pages * per_page),
                                              "costed": True, "heap": "loaded", "call_replayed": True}
        assert without["fresh_pages"] == {"bytes": pages * 4096, "time_s": 0.0, "costed": False, "heap": "loaded",
                                          "call_replayed": True}
    # outputs below 32 MiB (MATMUL's 16 MiB, a tiny add's) are served from the heap: no faults
    for other in (MATMUL, TINY_ADD):
        assert predicted(other, faulting, 2)["latency_s"] == predicted(other, plain, 2)["latency_s"]
        assert predicted(other, faulting, 2)["fresh_pages"]["bytes"] == 0
    # a profile that cannot cost them says so; one that can says what they cost and how to avoid them
    assert "states no memory.fresh_page_s" in run_cli("predict", ADD, "--hw", plain, "--threads", "2").stdout
    costed = run_cli("predict", ADD, "--hw", faulting, "--threads", "2").stdout
    assert "states no memory.fresh_page_s" not in costed and "MALLOC_TRIM_THRESHOLD_=" in costed
    # from a heap told to return nothing, the 200 MB comes from the heap after the first call
    assert predicted(ADD, faulting, 2)["latency_s"] > run_cli(
        "predict", ADD, "--hw", faulting, "--threads", "2", "--heap", "no-trim", "--json").json()["latency_s"]
