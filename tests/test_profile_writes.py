"""Profile names and profile writes (issue 14, classes 4, 5 (stale temporaries, --out a
directory) and 8 (a user profile named like a shipped one)).

- A user profile may not take a shipped profile's name: `--hw NAME` is refused with one line
  naming both, since which one won was silent (49.7 ms instead of 5.93 ms); its path still works,
  and `profiles list` marks the row. Refusing, not warning: a warning on stderr is lost in CI
  logs while the wrong prediction goes on.
- `fit --out` and `profiles init --out` replace a file only with --force, never a file of the
  base's `extends` chain, and never a directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from graphcal.errors import GraphcalError
from graphcal.hardware.profile import load_profile, resolve_path
from graphcal.hardware.write import check_out, remove_stale_temporaries, write_profile
from tests.helpers import SHIPPED, base_profile_data


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    directory = tmp_path / "user"
    directory.mkdir()
    monkeypatch.setenv("GRAPHCAL_PROFILE_DIR", str(directory))
    return directory


def test_a_user_profile_named_like_a_shipped_one_is_refused_by_name(user_dir, run_cli):
    mine = user_dir / "i7-12700k.yaml"
    mine.write_text(yaml.safe_dump({**base_profile_data(), "name": "i7-12700k"}))
    with pytest.raises(GraphcalError, match="both shipped and in your profile directory"):
        resolve_path("i7-12700k")
    result = run_cli("predict", "mlp:1:8x8", "--hw", "i7-12700k")
    assert result.code == 2 and len(result.stderr.splitlines()) == 1 and str(mine) in result.stderr
    assert run_cli("predict", "mlp:1:8x8", "--hw", str(mine)).code == 0  # by path it is unambiguous
    assert load_profile("i7-12700k-spec").name == "i7-12700k-spec"  # other names unaffected
    # shipped variants extend the shipped i7-12700k, whatever the user directory holds
    assert load_profile("i7-12700k-large").data["cpu"] == load_profile("i7-12700k-spec").data["cpu"]


def test_profiles_list_marks_a_name_taken_twice(user_dir, run_cli):
    (user_dir / "i7-12700k.yaml").write_text(yaml.safe_dump({**base_profile_data(), "name": "i7-12700k"}))
    (user_dir / "mine.yaml").write_text(yaml.safe_dump(base_profile_data()))
    result = run_cli("profiles", "list", "--json")
    assert result.code == 0
    rows = [r for r in json.loads(result.stdout)["profiles"] if r["name"] == "i7-12700k"]
    assert [r["origin"] for r in rows] == ["shipped", "user"]
    assert rows[0]["conflict"] is None and "rename your file" in rows[1]["conflict"]
    assert "warning:" in result.stderr
    table = run_cli("profiles", "list")
    assert "NAME TAKEN" in table.stdout


def write_fit_base(tmp_path):
    """host.yaml (facts) and host-fit.yaml extending it, as `profiles init` and `fit` make them."""
    host = tmp_path / "host.yaml"
    host.write_text(yaml.safe_dump({**base_profile_data(), "name": "host"}))
    fitted = tmp_path / "host-fit.yaml"
    fitted.write_text("name: host-fit\nextends: host.yaml\n")
    return host, fitted


def test_a_write_onto_the_bases_chain_is_refused_even_with_force(tmp_path):
    host, fitted = write_fit_base(tmp_path)
    before = host.read_text()
    for force in (False, True):
        with pytest.raises(GraphcalError, match=r"host-fit.yaml -> host.yaml\); writing the fitted profile"):
            check_out(host, str(fitted), force=force)
    assert host.read_text() == before and load_profile(fitted).name == "host-fit"


def test_fit_refuses_to_break_the_chain_end_to_end(tmp_path, run_cli):
    host, fitted = write_fit_base(tmp_path)
    sweep = tmp_path / "s.csv"
    sweep.write_text("workload,dtype,threads,latency_s,host_id\nmlp:1:8x8,fp32,1,1e-5,h\n")
    result = run_cli("fit", sweep, "--base", fitted, "--out", host, "--force")
    assert result.code == 2 and "break that chain" in result.stderr
    assert load_profile(fitted).name == "host-fit"


def test_fit_and_init_need_force_to_replace(tmp_path, run_cli):
    out = tmp_path / "o.yaml"
    out.write_text("kept: true\n")
    sweep = tmp_path / "s.csv"
    sweep.write_text("workload,dtype,threads,latency_s,host_id\nmlp:1:8x8,fp32,1,1e-5,h\n")
    result = run_cli("fit", sweep, "--base", "i7-12700k", "--out", out)
    assert result.code == 2 and "pass --force to replace it" in result.stderr
    assert run_cli("profiles", "init", "--host", "--out", out).code == 2
    assert out.read_text() == "kept: true\n"


@pytest.mark.parametrize("command", ["fit", "init"])
def test_out_onto_a_directory_is_one_line(tmp_path, run_cli, command):
    directory = tmp_path / "d.yaml"
    directory.mkdir()
    args = (["fit", tmp_path / "s.csv", "--base", "i7-12700k"] if command == "fit" else ["profiles", "init", "--host"])
    result = run_cli(*args, "--out", directory, "--force")
    assert result.code == 2 and "is a directory" in result.stderr and len(result.stderr.splitlines()) == 1


def test_writing_into_the_user_dir_under_a_shipped_name_is_refused(user_dir):
    with pytest.raises(GraphcalError, match="both shipped and in your profile directory"):
        check_out(user_dir / "i7-12700k-spec.yaml", "i7-12700k", force=True)
    assert (SHIPPED / "i7-12700k-spec.yaml").is_file()


def test_a_temporary_left_by_kill_9_is_removed_by_the_next_write(tmp_path):
    out = tmp_path / "o.yaml"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".o.yaml.{int(dead.stdout)}.tmp"
    stale.write_text("half a profi")
    live = tmp_path / f".o.yaml.{os.getppid()}.tmp"  # a write in flight in a live process
    live.write_text("in flight")
    other = tmp_path / f".other.yaml.{int(dead.stdout)}.tmp"
    other.write_text("not ours")
    write_profile(base_profile_data(), out, "# test\n")
    assert not stale.exists() and live.exists() and other.exists()
    assert load_profile(out).name == "test-cpu"
    assert remove_stale_temporaries(out) == []
