"""The report's symmetry dial: lines along ``tie``, paired differences, the section, figures."""

from __future__ import annotations

import json

import pytest
from test_report import write_run  # same folder (pytest puts it on sys.path)
from test_report_executions import with_executions

from diamond_marl.bench import report
from diamond_marl.bench.dial import split_dial

BASE = "mpe:spread,n=3"
# coverage per seed: none falls as more starts are tied; rank does not
NONE = {0.0: [0.6, 0.62, 0.58, 0.61, 0.59], 1.0: [0.3, 0.35, 0.32, 0.31, 0.33]}
SUITE = 'contrasts: [{breaker: rank, against: [none, "none@sampled", agent_id]}]'
RANK = {0.0: [0.55, 0.57, 0.53, 0.56, 0.54], 1.0: [0.6, 0.58, 0.62, 0.61, 0.59]}


@pytest.fixture(scope="module")
def dialled(tmp_path_factory):
    root = tmp_path_factory.mktemp("dial")
    (root / "suite.yaml").write_text(SUITE)
    for breaker, scores in (("none", NONE), ("rank", RANK)):
        for tie, values in scores.items():
            env = f"{BASE},tie={tie:g}"
            run = write_run(root, f"{breaker}-{tie:g}", env, "mappo", breaker, values, "coverage")
            sampled = [v + 0.1 for v in values]
            with_executions(run, values, sampled, "greedy", metric="coverage")
    # one value of a dial is no line; a name without a dial is not on one
    write_run(root, "spawn", f"{BASE},spawn=0", "mappo", "none", NONE[0.0], "coverage")
    write_run(root, "plain", BASE, "mappo", "none", NONE[0.0], "coverage")
    report.write_report(root)
    return root, json.loads((root / "report" / "report.json").read_text())


def test_split_dial_takes_the_dial_out_of_the_name():
    assert split_dial("mpe:spread,n=3,tie=0.5") == ("mpe:spread,n=3", "tie", 0.5)
    assert split_dial("mpe:spread,n=4,spawn=0.1,landmarks=2") == (
        "mpe:spread,n=4,landmarks=2",
        "spawn",
        0.1,
    )
    assert split_dial("mpe:spread,n=3") is None
    assert split_dial("smax:3m") is None


def test_dial_lines_hold_both_executions_and_the_paired_difference(dialled):
    _, data = dialled
    lines = {line["breaker"]: line for line in data["dial"]}
    assert set(lines) == {"none", "rank"}  # spawn has one value only
    rank = lines["rank"]
    assert rank["env"] == BASE and rank["dial"] == "tie" and rank["metric"] == "coverage"
    assert [p["value"] for p in rank["points"]] == [0.0, 1.0]
    free, tied = rank["points"]
    assert free["greedy"]["value"] == pytest.approx(0.55)
    assert free["sampled"]["value"] == pytest.approx(0.65)
    assert free["greedy_return"]["value"] == pytest.approx(5.5)
    # rank - none, seed by seed: 5 points lower where nothing is tied, 27 higher where all is
    assert free["vs_none"]["mean"]["value"] == pytest.approx(-0.05)
    assert (free["vs_none"]["better"], free["vs_none"]["worse"]) == (0, 5)
    assert tied["vs_none"]["mean"]["value"] == pytest.approx(0.278)
    assert tied["vs_none"]["mean"]["ci_low"] > 0.2 and tied["vs_none"]["better"] == 5
    assert all(p["vs_none"] is None for p in lines["none"]["points"])
    # the same in the return (10 x the coverage here)
    assert free["return_vs_none"]["mean"]["value"] == pytest.approx(-0.5)
    assert tied["return_vs_none"]["mean"]["value"] == pytest.approx(2.78)
    assert all(p["return_vs_none"] is None for p in lines["none"]["points"])


def test_dial_section_and_figures(dialled):
    root, _ = dialled
    md = (root / "report" / "report.md").read_text()
    assert "## Symmetry dial" in md and "### mpe:spread,n=3 · mappo · tie" in md
    assert "| `rank` | 1 | greedy | 60.0% [" in md
    assert "+27.8 [" in md and "+2.78 [" in md and "(5/0)" in md
    plots = root / "report" / "plots"
    for name in ("coverage", "return"):
        assert (plots / f"dial-mpe-spread_n3-mappo-tie-{name}.png").stat().st_size > 10_000


def test_the_suites_contrast_along_the_dial(dialled):
    root, data = dialled
    rows = {r["against"]: r for r in data["contrasts"]}
    assert list(rows) == ["none", "none@sampled", "agent_id"]  # the suite's order
    assert rows["agent_id"]["cells"] == []  # never ran
    greedy, sampled = rows["none"], rows["none@sampled"]
    assert greedy["breaker"] == "rank" and sampled["against_execution"] == "sampled"
    cells = {c["env"]: c for c in greedy["cells"]}
    assert set(cells) == {f"{BASE},tie=0", f"{BASE},tie=1"}  # spawn and plain: no rank there
    # against none greedy: the same numbers as rank's line's vs_none
    free, tied = cells[f"{BASE},tie=0"], cells[f"{BASE},tie=1"]
    assert free["headline"]["mean"]["value"] == pytest.approx(-0.05)
    assert tied["headline"]["mean"]["value"] == pytest.approx(0.278)
    # against none sampled (greedy + 0.1 here): 0.1 lower on each seed where nothing is tied
    free, tied = sampled["cells"]
    assert free["env"] == f"{BASE},tie=0"
    assert free["headline"]["mean"]["value"] == pytest.approx(-0.15)
    assert (free["headline"]["better"], free["headline"]["worse"]) == (0, 5)
    assert tied["headline"]["mean"]["value"] == pytest.approx(0.178)
    assert tied["returns"]["mean"]["value"] == pytest.approx(1.78)
    md = (root / "report" / "report.md").read_text()
    assert "| headline: `rank` minus | `tie=0` coverage (pp) | `tie=1` coverage (pp) |" in md
    assert "| `none@sampled` | -15.0 [" in md and "+1.78 [" in md
    assert "`agent_id` |" not in md.split("## Contrasts")[1].split("## Results")[0]
    # the report leads with the summary of the contrasts
    assert md.index("## Summary") < md.index("## Contrasts") < md.index("## Results")
    assert "- **rank vs none** (mappo, greedy vs greedy execution): `tie=0` coverage -5.0 pp" in md
    assert "lower on 5 of 5 seeds" in md


def test_no_contrasts_without_a_suite(tmp_path):
    for tie, values in RANK.items():
        run = write_run(
            tmp_path, f"rank-{tie:g}", f"{BASE},tie={tie:g}", "mappo", "rank", values, "coverage"
        )
        with_executions(run, values, values, "greedy", metric="coverage")
    report.write_report(tmp_path)
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert len(data["dial"]) == 1 and data["contrasts"] == [] and data["writeup"] == []
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Summary" not in md and "## Contrasts" not in md
