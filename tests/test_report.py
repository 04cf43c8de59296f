"""benchmarks/report.py: the committed accuracy page and README table recompute from the committed
results, and the figures are computed from the population CSVs as stated."""

from __future__ import annotations

import pytest

from benchmarks import report
from graphcal.errors import GraphcalError


def test_committed_report_is_current():
    assert report.main(["--check"]) == 0


def _folder(tmp_path, rows, name="amd-epyc-f1-m2-2vcpu-2026-01-02", population="mlp"):
    folder = tmp_path / "results" / name
    (folder / "populations").mkdir(parents=True)
    (folder / "results.yaml").write_text(
        f'date: {name[-10:]}\ncpu: "Test CPU, 2 vCPUs"\npopulations:\n  {population}:\n'
        '    command: "python benchmarks/validate_accuracy.py --hw host-fit.yaml"\n'
        "    unit: s\n    description: two MLPs\n    profile: host-fit.yaml\n"
    )
    body = "".join(f"{case},{m},{p}\n" for case, m, p in rows)
    (folder / "populations" / f"{population}.csv").write_text("case,measured,predicted\n" + body)
    return tmp_path / "results"


def test_figures_from_a_synthetic_folder(tmp_path):
    # errors: 1.05/1 - 1 = +5%, 1.5/2 - 1 = -25%, 3.3/3 - 1 = +10% (counts as within), 0.7/1 - 1 = -30%
    results = _folder(tmp_path, [("a", 1, 1.05), ("b", 2, 1.5), ("c", 3, 3.3), ("d", 1, 0.7)])
    [result] = report.load_results(results)
    figures = result.populations[0].figures
    assert figures.n == 4
    assert figures.mape == pytest.approx((0.05 + 0.25 + 0.10 + 0.30) / 4)  # 17.5%
    assert figures.within_10 == pytest.approx(2 / 4)  # a and c
    assert figures.mean_signed == pytest.approx((0.05 - 0.25 + 0.10 - 0.30) / 4)  # -10%
    page = report.accuracy_page([result])
    assert "| 4 | 17.5% | 50% (2 of 4) | -10.0% |" in page
    table = report.readme_table([result])
    assert "| random MLPs, all cores | 4 | **17.5%** | 50% (2 of 4) | Test CPU, 2 vCPUs | 2026-01-02 |" in table


def test_latest_folder_wins_in_the_readme_and_older_stays_in_the_page(tmp_path):
    results = _folder(tmp_path, [("a", 1, 1.5)], name="cpu-a-2026-01-02")
    _folder(tmp_path, [("a", 1, 1.1)], name="cpu-b-2026-03-04")
    loaded = report.load_results(results)
    assert [r.date for r in loaded] == ["2026-03-04", "2026-01-02"]
    table = report.readme_table(loaded)
    assert "**10.0%**" in table and "**50.0%**" not in table
    page = report.accuracy_page(loaded)
    assert page.index("## cpu-b-2026-03-04") < page.index("## cpu-a-2026-01-02")


def test_a_days_run10_is_newer_than_its_run9_and_its_first_folder_oldest(tmp_path):
    results = _folder(tmp_path, [("a", 1, 1.5)], name="cpu-2026-01-02")
    _folder(tmp_path, [("a", 1, 1.2)], name="cpu-run9-2026-01-02")
    _folder(tmp_path, [("a", 1, 1.1)], name="cpu-run10-2026-01-02")
    loaded = report.load_results(results)
    assert [r.folder for r in loaded] == ["cpu-run10-2026-01-02", "cpu-run9-2026-01-02", "cpu-2026-01-02"]
    assert "**10.0%**" in report.readme_table(loaded)


def test_a_later_time_of_the_same_day_wins_whatever_the_folder_names(tmp_path):
    results = _folder(tmp_path, [("a", 1, 1.5)], name="zz-cpu-2026-01-02")
    _folder(tmp_path, [("a", 1, 1.1)], name="aa-cpu-2026-01-02")
    newer = results / "aa-cpu-2026-01-02" / "results.yaml"
    newer.write_text(newer.read_text().replace("date: 2026-01-02\n", "date: 2026-01-02\ntime: '16:23'\n"))
    loaded = report.load_results(results)
    assert [r.folder for r in loaded] == ["aa-cpu-2026-01-02", "zz-cpu-2026-01-02"]
    assert "**10.0%**" in report.readme_table(loaded)


def test_an_unquoted_time_is_a_one_line_error(tmp_path):
    results = _folder(tmp_path, [("a", 1, 1.5)])
    path = results / "amd-epyc-f1-m2-2vcpu-2026-01-02" / "results.yaml"
    path.write_text(path.read_text().replace("date: 2026-01-02\n", "date: 2026-01-02\ntime: 16:23\n"))
    with pytest.raises(GraphcalError, match="time must be 'HH:MM'"):
        report.load_results(results)


def test_check_fails_on_a_stale_page(tmp_path):
    results = _folder(tmp_path, [("a", 1, 1.5)])
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{report.TABLE_BEGIN}\n{report.TABLE_END}\n")
    page = tmp_path / "accuracy.md"
    args = ["--results", str(results), "--readme", str(readme), "--accuracy", str(page)]
    assert report.main([*args, "--check"]) == 1
    assert report.main(args) == 0
    assert report.main([*args, "--check"]) == 0
    assert "**50.0%**" in readme.read_text()


@pytest.mark.parametrize(("rows", "population", "message"), [
    ([("a", 0, 1)], "mlp", "measured must be > 0"),
    ([("a", "x", 1)], "mlp", "must be numbers"),
    ([], "mlp", "no rows"),
    ([("a", 1, 1)], "mlps", "unknown population"),
])
def test_bad_results_are_one_line_errors(tmp_path, rows, population, message):
    results = _folder(tmp_path, rows, population=population)
    with pytest.raises(GraphcalError, match=message):
        report.load_results(results)
