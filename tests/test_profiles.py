"""Profile loading: every shipped profile loads, `extends` resolves, every schema error names
the file and the field path."""

from __future__ import annotations

import copy

import pytest

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import COEFFICIENTS, load_profile, shipped_profiles
from graphcal.precision import Precision
from tests.helpers import PREDECESSOR_LARGE, PREDECESSOR_TINY, base_profile_data

FP32 = Precision.FP32


def test_every_shipped_profile_loads():
    names = {p.stem for p in shipped_profiles()}
    assert {"i7-12700k", "i7-12700k-tiny", "i7-12700k-large"} <= names
    for path in shipped_profiles():
        profile = load_profile(path)
        for name in COEFFICIENTS:
            assert 0 < profile.coefficient(FP32, name) <= 1


def test_variants_extend_the_calibrated_machine_and_carry_their_validation():
    spec, base, tiny, large = (
        load_profile(n) for n in ("i7-12700k-spec", "i7-12700k", "i7-12700k-tiny", "i7-12700k-large")
    )
    assert base.data["extends"] == "i7-12700k-spec"
    # -tiny stays on the coefficients path and states them all (scripts/calibrate_i7.py,
    # COEFFICIENTS_SHIPPED): extending i7-12700k, its tables would time every op of theirs
    assert large.data["extends"] == "i7-12700k" and tiny.data["extends"] == "i7-12700k-spec"
    assert large.kernel_table(FP32, "conv") != base.kernel_table(FP32, "conv")
    for profile in (base, tiny, large):
        assert profile.peak_flops_per_s(FP32) == spec.peak_flops_per_s(FP32) == 720e9
        assert profile.bandwidth_bytes_per_s == 75e9
        assert profile.data["cpu"] == spec.data["cpu"]
        validation = profile.data["provenance"]["validation"]
        assert validation["n"] > 0 and 0 <= validation["mape"] < 1
        assert validation["command"].startswith("graphcal compare sweeps/data/i7-12700k/validation")
    assert tiny.coefficient(FP32, "tile_utilization") != large.coefficient(FP32, "tile_utilization")


def test_predecessor_fixtures_keep_the_predecessors_values():
    tiny, large = load_profile(PREDECESSOR_TINY), load_profile(PREDECESSOR_LARGE)
    for profile in (tiny, large):
        assert profile.peak_flops_per_s(FP32) == 720e9
        assert profile.bandwidth_bytes_per_s == 75e9
    expected = {
        "predecessor-tiny": (0.20, 0.25, 0.50, 0.65),
        "predecessor-large": (0.60, 0.65, 0.80, 0.80),
    }
    for profile in (tiny, large):
        assert tuple(profile.coefficient(FP32, n) for n in COEFFICIENTS) == expected[profile.name]


def test_a_variant_overrides_one_field_by_path(write_profile):
    base = write_profile("base", base_profile_data())
    child = write_profile(
        "child", {"name": "child", "extends": str(base), "coefficients": {"fp32": {"tile_utilization": 0.25}}}
    )
    profile = load_profile(str(child))
    assert profile.coefficient(FP32, "tile_utilization") == 0.25
    assert profile.coefficient(FP32, "efficiency_factor") == 0.5  # inherited


def test_extends_relative_path_and_name(write_profile, tmp_path, monkeypatch):
    write_profile("base", base_profile_data())
    child = write_profile("child", {"name": "child", "extends": "./base.yaml"})
    assert load_profile(str(child)).name == "child"
    monkeypatch.setenv("GRAPHCAL_PROFILE_DIR", str(tmp_path))
    assert load_profile("child").data["cpu"]["model"] == "Test CPU"  # found by name in the user dir
    named = write_profile("named", {"name": "named", "extends": "i7-12700k"})
    assert load_profile(str(named)).physical_cores == 12


def test_extends_cycle_is_an_error(write_profile):
    write_profile("a", {"name": "a", "extends": "./b.yaml"})
    b = write_profile("b", {"name": "b", "extends": "./a.yaml"})
    with pytest.raises(GraphcalError, match="cycle"):
        load_profile(str(b))


def test_missing_parent_is_an_error(write_profile):
    child = write_profile("child", {"name": "child", "extends": "./nowhere.yaml"})
    with pytest.raises(GraphcalError, match=r"child.yaml: extends: .*not found"):
        load_profile(str(child))


def _mutated(mutate):
    data = copy.deepcopy(base_profile_data())
    mutate(data)
    return data


BAD_PROFILES = {
    "unknown top-level key": (lambda d: d.update(turbo=True), r"bad.yaml: turbo: unknown field"),
    "unknown nested key": (lambda d: d["memory"].update(bw=1), r"bad.yaml: memory.bw: unknown field"),
    "unknown coefficient": (
        lambda d: d["coefficients"]["fp32"].update(simd_speedup=2.0),
        r"coefficients.fp32.simd_speedup: unknown field",
    ),
    "missing fact": (lambda d: d["memory"].pop("bandwidth_bytes_per_s"), r"memory.bandwidth_bytes_per_s: missing"),
    "missing coefficient": (
        lambda d: d["coefficients"]["fp32"].pop("tile_utilization"),
        r"coefficients.fp32.tile_utilization: missing",
    ),
    "wrong type": (lambda d: d["cpu"].update(physical_cores="eight"), r"cpu.physical_cores: must be int"),
    "zero peak": (lambda d: d["peak_flops_per_s"].update(fp32=0), r"peak_flops_per_s.fp32: must be > 0"),
    "negative bandwidth": (
        lambda d: d["memory"].update(bandwidth_bytes_per_s=-5), r"memory.bandwidth_bytes_per_s: must be > 0"
    ),
    "coefficient above 1": (
        lambda d: d["coefficients"]["fp32"].update(efficiency_factor=1.5),
        r"coefficients.fp32.efficiency_factor: must be in \(0, 1\], got 1.5",
    ),
    "family without terms": (
        lambda d: d.update(families={"linear_rate_factor": 0.5}),
        r"families.linear_rate_factor: unknown field",
    ),
    "family rate factor zero": (
        lambda d: d.update(families={"conv_rate_factor": 0}), r"families.conv_rate_factor: must be in \(0, 10\]",
    ),
    "negative family overhead": (
        lambda d: d.update(families={"pool_overhead_s": -1e-6}), r"families.pool_overhead_s: must be >= 0",
    ),
    "coefficient zero": (
        lambda d: d["coefficients"]["fp32"].update(instruction_efficiency=0),
        r"coefficients.fp32.instruction_efficiency: must be in \(0, 1\]",
    ),
    "unknown precision key": (
        lambda d: d["coefficients"].update(fp8=d["coefficients"]["fp32"]),
        r"coefficients.fp8: unknown precision",
    ),
    "precision without peak": (
        lambda d: d["coefficients"].update(bf16=d["coefficients"]["fp32"]),
        r"peak_flops_per_s.bf16: missing",
    ),
    "boolean as number": (lambda d: d["runtime"].update(per_op_overhead_s=True), r"runtime.per_op_overhead_s: must be"),
    "retained share above 1": (
        lambda d: d["caches"].update(l3_retained_share={2: 1.5}), r"caches.l3_retained_share: at 2: the share must be"
    ),
    "retained share within the cache": (
        lambda d: d["caches"].update(l3_retained_share={0.5: 0.9}), r"caches.l3_retained_share: multiple 0.5 must be"
    ),
    "fresh page cost below 0": (
        lambda d: d["memory"].update(fresh_page_s={2: -1e-7}), r"memory.fresh_page_s: at 2 threads: must be"
    ),
    "fresh page cost not by threads": (
        lambda d: d["memory"].update(fresh_page_s=6e-7), r"memory.fresh_page_s: "
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_errors_name_the_file_and_field(case, write_profile):
    mutate, message = BAD_PROFILES[case]
    path = write_profile("bad", _mutated(mutate))
    with pytest.raises(GraphcalError, match=message):
        load_profile(str(path))


def test_not_yaml_and_not_a_mapping(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(GraphcalError, match=r"^broken.yaml:2:1: expected ',' or '\]'"):
        load_profile(str(broken))
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(GraphcalError, match="must be a YAML mapping"):
        load_profile(str(listing))


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(GraphcalError, match=r"unknown hardware profile 'i9-nope'.*i7-12700k-large"):
        load_profile("i9-nope")


def test_missing_profile_path():
    with pytest.raises(GraphcalError, match="not found"):
        load_profile("./nowhere/at/all.yaml")


def test_precision_absent_from_profile_is_an_error_not_a_fallback():
    profile = load_profile("i7-12700k")
    with pytest.raises(GraphcalError, match=r"no bf16 coefficients; it describes: fp32"):
        profile.coefficient(Precision.BF16, "efficiency_factor")


@pytest.mark.parametrize("text", ["fp32", "FP32", " fp32 "])
def test_precision_parses_the_string_the_predecessor_missed(text):
    assert Precision.parse(text) is Precision.FP32


def test_unknown_precision_is_an_error():
    with pytest.raises(GraphcalError, match="unknown precision 'float32x'"):
        Precision.parse("float32x")


def test_shipped_i7_profiles_saw_convolutions_and_carry_their_in_model_errors():
    # scripts/calibrate_i7.py: the in-model rows fit conv and depthwise kernel tables (i7-12700k,
    # -large) or the op-family terms (-tiny, on the coefficients path), and the
    # leave-one-architecture-out figures go into provenance.in_model_validation.
    architectures = {"resnet18", "resnet34", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                     "efficientnet_b1"}
    for name in ("i7-12700k", "i7-12700k-tiny", "i7-12700k-large"):
        profile = load_profile(name)
        assert {"conv", "depthwise"} <= profile.calibrated_families, name
        if name == "i7-12700k-tiny":
            assert profile.family_term("conv_rate_factor") is not None and not profile.has_kernel_tables
        else:
            assert {"conv", "depthwise"} <= set(profile.data["kernels"]["fp32"]), name
        provenance = profile.data["provenance"]
        in_model = provenance["in_model_validation"]
        assert in_model["runs"]["n"] == 19 and set(in_model["architectures"]) == architectures, name
        assert sum(a["n"] for a in in_model["architectures"].values()) == 19
        assert 0 < in_model["runs"]["mape"] < 1 and "conv" in in_model["families"], name
        for parameter, entry in provenance["parameters"].items():
            if entry["status"] == "fitted":  # every fitted value has a finite standard error
                assert isinstance(entry["stderr"], float) and entry["stderr"] >= 0, (name, parameter)


def test_compare_runs_a_convolution_on_the_tiny_and_large_variants(run_cli):
    rows = run_cli("compare", "conv2d:1x64x56x56x64x3:p1", "--hw", "i7-12700k-tiny", "--hw", "i7-12700k-large",
                   "--json").json()["rows"]
    assert [r["hardware"] for r in rows] == ["i7-12700k-tiny", "i7-12700k-large"]
    assert rows[0]["ratio_to_first"] == 1.0 and rows[1]["ratio_to_first"] > 0
