"""The documents' commands run and exit as the text says; docs/cli.md is current.

Which commands run (CONTRIBUTING.md, "Documentation test"): every line of a ```bash block in
README.md and docs/*.md that starts with `graphcal `, run from an empty directory with the
checkout's graphcal, and expected to exit 0 unless the line ends in `# exit N`. Not run:
- a block right after a `<!-- doctest: skip ... -->` line (the reason follows `skip`);
- a command that names a user's file (USER_FILE: a model archive, a sweep CSV, a fitted
  profile, a config or plot path) or a model from a package graphcal does not depend on;
- a command that times real kernels for long (TIMES_KERNELS), unless it uses a smoke grid.
Other lines (pip, python, bash, shell syntax) are instructions, not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARKER = re.compile(r"^<!--\s*doctest:\s*skip\b")
EXIT_MARKER = re.compile(r"#\s*exit\s+(\d+)\s*$")
OUTPUT_OPTIONS = {"--out", "--csv", "--out-dir"}
USER_FILE = re.compile(r"(\.pt2|\.pt|\.csv|\.yaml|\.json|\.png)$|^\./|^(torchvision|timm|benchmarks)\.|^timm:")
TIMES_KERNELS = re.compile(r"^graphcal (sweep|profiles init)\b|--measure\b")


def bash_commands(path: Path):
    """(line number, command) for every command line of the file's ```bash blocks, continuation
    lines joined, with None for the blocks after a skip marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    in_block, skipped, previous, pending = False, False, "", None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not in_block and stripped.startswith("```bash"):
            in_block, skipped = True, bool(SKIP_MARKER.match(previous))
            continue
        if in_block and stripped.startswith("```"):
            in_block = False
        elif in_block and not skipped:
            if pending is not None:
                pending = (pending[0], pending[1] + " " + stripped)
            elif stripped and not stripped.startswith("#"):
                pending = (number, stripped)
            if pending is not None and not pending[1].endswith("\\"):
                yield pending
                pending = None
            elif pending is not None:
                pending = (pending[0], pending[1][:-1].rstrip())
        if stripped:
            previous = stripped


def runnable(command: str) -> bool:
    if not command.startswith("graphcal "):
        return False
    words = shlex.split(command, comments=True)
    inputs = [w for i, w in enumerate(words) if i == 0 or words[i - 1] not in OUTPUT_OPTIONS]
    if any(USER_FILE.search(w) for w in inputs):
        return False
    return not TIMES_KERNELS.search(command) or "--grid smoke-" in command


CASES = [
    pytest.param(command, id=f"{path.relative_to(ROOT)}:{number}")
    for path in DOCUMENTS
    for number, command in bash_commands(path)
    if runnable(command)
]


def test_the_documents_have_commands_to_run():
    ids = {case.id.split(":")[0] for case in CASES}
    assert len(CASES) >= 10 and "README.md" in ids, [case.id for case in CASES]


def test_rules_leave_out_user_files_and_long_timings():
    assert not runnable("graphcal predict model.pt2 --hw i7-12700k")
    assert not runnable("graphcal compare mlp.csv --hw ./host-fit.yaml")
    assert not runnable("graphcal sweep mlp --out mlp.csv")
    assert not runnable("graphcal predict torchvision.models:resnet50 --input-shape 1x3x224x224 --hw i7-12700k")
    assert runnable("graphcal sweep mlp --grid smoke-mlp --out smoke.csv")
    assert runnable("graphcal predict mlp:1:4x4 --hw i7-12700k --csv ops.csv")


@pytest.mark.slow
@pytest.mark.parametrize("command", CASES)
def test_documented_command(command, tmp_path):
    if " --llm" in command:
        try:
            from transformers import LlamaConfig  # noqa: F401
        except Exception as exc:  # transformers missing or broken: --llm cannot build a model here
            pytest.skip(f"--llm needs a working transformers (the llm extra): {exc}")
    marker = EXIT_MARKER.search(command)
    expected = int(marker.group(1)) if marker else 0
    args = shlex.split(command, comments=True)[1:]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHCAL_PROFILE_DIR": str(tmp_path / "profiles")}
    done = subprocess.run([sys.executable, "-m", "graphcal", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == expected, f"{command}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    if expected == 0:
        assert done.stdout.strip(), "a documented command printed nothing"


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    cli_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli_docs)
    assert cli_docs.render() == (ROOT / "docs" / "cli.md").read_text(encoding="utf-8"), (
        "docs/cli.md is stale: run python scripts/cli_docs.py")
