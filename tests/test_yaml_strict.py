"""Profiles and grids are read with graphcal.yamlfile: YAML 1.2 exponent floats, one-line parse
errors at file:line:col, and no alias bombs, duplicate keys, non-finite or absurd numbers
(issue 14, classes 6 (alias expansion bounded), 7, 8 (duplicate keys), 9, 10 and 14 (a NaN
protocol); issue 12, item 8)."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import MAX_EXTENDS, load_profile
from graphcal.sweep.grid import load_grid
from graphcal.yamlfile import load_yaml
from tests.helpers import base_profile_data


def profile_text(**replace: str) -> str:
    """A complete profile as YAML text, with lines `key: value` replaced by `key: TEXT`."""
    lines = yaml.safe_dump(base_profile_data(), sort_keys=False).splitlines()
    for key, text in replace.items():
        lines = [line.split(":")[0] + f": {text}" if line.strip().startswith(f"{key}:") else line for line in lines]
    return "\n".join(lines) + "\n"


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def test_exponent_floats_are_numbers():
    # 5e-6 and 75e9 are strings in YAML 1.1 (its float needs a dot)
    assert load_yaml("a: 5e-6\nb: 75e9\nc: -1E+3\nd: 1.5e2\ng: .5e1\ne: 12\nf: '5e-6'\n", "x.yaml") == {
        "a": 5e-6, "b": 75e9, "c": -1000.0, "d": 150.0, "g": 5.0, "e": 12, "f": "5e-6"
    }


def test_a_profile_written_with_exponents_loads(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(profile_text(per_op_overhead_s="5e-6", bandwidth_bytes_per_s="75e9"))
    profile = load_profile(path)
    assert profile.runtime("per_op_overhead_s") == 5e-6
    assert profile.bandwidth_bytes_per_s == 75e9


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("name: x\ncpu: [1, 2\n", "p.yaml:3:1:", "expected ',' or ']'"),
        ("name: x\n  bad: indent\n", "p.yaml:2:6:", "mapping values are not allowed"),
        ("a: 1\nb: *nothing\n", "p.yaml:2:4:", "undefined alias"),
        ("a: &x [1, *x]\n", "p.yaml:1:4:", "refers to its own anchor"),
        ("a: 1\nb: 2\na: 3\n", "p.yaml:3:1:", "duplicate key 'a' (first at line 1)"),
        ("a: .inf\n", "p.yaml:1:4:", "not a finite number"),
        ("a: -.Inf\n", "p.yaml:1:4:", "not a finite number"),
        ("a: .nan\n", "p.yaml:1:4:", "not a finite number"),
        ("a: 1e31\n", "p.yaml:1:4:", "too large"),
        ("a: " + "9" * 5000 + "\n", "p.yaml:1:4:", "5000 digits is too large"),
        ("a: !!binary aGVsbG8=\n", "p.yaml:1:4:", "!!binary"),
        ("a: !!python/object:os.system {}\n", "p.yaml:1:4:", "python/object"),
    ],
)
def test_refused_yaml_is_one_line_at_file_line_col(text, where, words):
    with pytest.raises(GraphcalError) as excinfo:
        load_yaml(text, "p.yaml")
    message = one_line_error(excinfo)
    assert message.startswith(where) and words in message, message


def test_deep_nesting_is_one_line():
    with pytest.raises(GraphcalError, match="nested too deeply"):
        load_yaml("a: " + "[" * 5000 + "]" * 5000, "p.yaml")


def test_an_alias_bomb_under_provenance_is_refused_at_once(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    path = tmp_path / "bomb.yaml"
    path.write_text(profile_text() + "provenance:\n" + "".join(f"  {line}\n" for line in lines))
    start = time.monotonic()
    with pytest.raises(GraphcalError) as excinfo:
        load_profile(path)
    assert time.monotonic() - start < 5
    assert one_line_error(excinfo).startswith("bomb.yaml:") and "alias bomb" in str(excinfo.value)


def test_aliases_as_yaml_safe_dump_writes_them_still_load():
    shared = [1, 2]
    text = yaml.safe_dump({"a": shared, "b": shared})
    assert "*id001" in text
    assert load_yaml(text, "p.yaml") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_profile_rates_refuse_non_finite_values(tmp_path, run_cli, value):
    path = tmp_path / "inf.yaml"
    path.write_text(profile_text(bandwidth_bytes_per_s=value))
    result = run_cli("profiles", "show", str(path), "--json")
    assert result.code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "not a finite number" in result.stderr


def test_profiles_show_json_is_json_even_with_dates_in_provenance(tmp_path, run_cli):
    path = tmp_path / "dated.yaml"
    path.write_text(profile_text() + "provenance:\n  date: 2026-11-25\n  at: 2026-11-25 10:00:00\n")
    result = run_cli("profiles", "show", str(path), "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert data["provenance"]["date"] == "2026-11-25"


def test_duplicate_key_in_a_profile_names_file_and_line(tmp_path, run_cli):
    path = tmp_path / "dup.yaml"
    path.write_text(profile_text() + "name: other\n")
    result = run_cli("profiles", "show", str(path))
    assert result.code == 2
    assert result.stderr.strip().startswith("graphcal: error: dup.yaml:") and "duplicate key 'name'" in result.stderr


def test_a_huge_integer_is_one_line(tmp_path, run_cli):
    path = tmp_path / "big.yaml"
    path.write_text(profile_text(l3_bytes="9" * 5000))
    result = run_cli("profiles", "show", str(path))
    assert result.code == 2 and len(result.stderr.splitlines()) == 1 and "too large" in result.stderr


def test_a_long_extends_chain_is_one_line_not_a_recursion_error(tmp_path, run_cli):
    (tmp_path / "p0.yaml").write_text(profile_text())
    for i in range(1, 1000):
        (tmp_path / f"p{i}.yaml").write_text(f"extends: p{i - 1}.yaml\nname: p{i}\n")
    assert load_profile(tmp_path / f"p{MAX_EXTENDS - 1}.yaml").name == f"p{MAX_EXTENDS - 1}"  # 32 profiles
    with pytest.raises(GraphcalError):
        load_profile(tmp_path / f"p{MAX_EXTENDS}.yaml")
    result = run_cli("profiles", "show", str(tmp_path / "p999.yaml"))
    assert result.code == 2 and len(result.stderr.splitlines()) == 1
    assert f"deeper than {MAX_EXTENDS}" in result.stderr


def test_a_yaml_syntax_error_is_one_line(tmp_path, run_cli):
    path = tmp_path / "broken.yaml"
    path.write_text(profile_text() + "runtime: [unclosed\n")
    result = run_cli("profiles", "show", str(path))
    assert result.code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("graphcal: error: broken.yaml:") and line.split(":")[3].isdigit()


@pytest.mark.parametrize(
    ("protocol", "words"),
    [("window_s: .nan", "not a finite number"), ("window_s: .inf", "not a finite number"),
     ("rounds: 100000000", "at most 1000"), ("window_s: 1e6", "at most 60")],
)
def test_grid_protocol_refuses_nan_and_absurd_settings(tmp_path, protocol, words):
    path = tmp_path / "grid.yaml"
    path.write_text(f"kind: mlp\nworkloads: [mlp:1:8x8]\nprotocol:\n  {protocol}\n")
    with pytest.raises(GraphcalError) as excinfo:
        load_grid(str(path), "mlp")
    assert words in one_line_error(excinfo)


def test_a_binary_grid_is_one_line(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(GraphcalError, match="not a grid"):
        load_grid(str(path), "mlp")
