"""The report's greedy and sampled execution: rows, verdicts, the section and its figure."""

from __future__ import annotations

import json

import pytest
from test_report import SEEDS, ask_writeup, write_run  # same folder (pytest puts it on sys.path)

from diamond_marl.bench import report
from diamond_marl.bench.rows import execution_verdict
from diamond_marl.bench.stats import Estimate

GREEDY_NONE = [0.0, 0.0, 0.0, 0.0, 0.0]
SAMPLED_NONE = [0.6, 0.7, 0.5, 0.65, 0.55]


def with_executions(run_dir, greedy, sampled, execution, metric="success_rate"):
    """Rewrite a run's summary (and cell.json) as training now writes it: both readouts."""
    for name in ("summary.json", "cell.json"):
        path = run_dir / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        summary = data.get("summary", data)
        summary["execution"] = execution
        for row, g, s in zip(summary["seeds"], greedy, sampled, strict=True):
            row["greedy"] = {"return": 10 * g, metric: g, "episode_length": 500.0}
            row["sampled"] = {"return": 10 * s, metric: s, "episode_length": 500.0}
            own = g if execution == "greedy" else s
            row[metric], row["return"] = own, 10 * own
        path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("exec")
    env, metric = "rware:tiny-4ag", "success_rate"
    none = write_run(root, "none", env, "mappo", "none", GREEDY_NONE, metric)
    with_executions(none, GREEDY_NONE, SAMPLED_NONE, "greedy")
    sampled = write_run(root, "sampled", env, "mappo", "sampled", SAMPLED_NONE, metric)
    with_executions(sampled, GREEDY_NONE, SAMPLED_NONE, "sampled")
    # a run from before both executions were recorded: no execution row, still a result row
    write_run(root, "rank", env, "mappo", "rank", GREEDY_NONE, metric)
    # an environment without a success metric: the headline stays the return
    plain = write_run(root, "spread", "xor:n=2,k=2", "mappo", "none", [1.0] * 5, "return")
    with_executions(plain, [1.0] * 5, [0.5] * 5, "greedy", metric="return")
    report.write_report(root)
    return root, json.loads((root / "report" / "report.json").read_text())


def test_execution_rows_and_verdicts(runs):
    _, data = runs
    rows = {(r["env"], r["breaker"]): r for r in data["executions"]}
    assert set(rows) == {
        ("rware:tiny-4ag", "none"),
        ("rware:tiny-4ag", "sampled"),
        ("xor:n=2,k=2", "none"),
    }
    none = rows[("rware:tiny-4ag", "none")]
    assert none["execution"] == "greedy" and none["verdict"] == "sampled only"
    assert none["greedy"]["value"] == 0.0 and none["sampled"]["value"] == pytest.approx(0.6)
    assert none["sampled_return"]["value"] == pytest.approx(6.0)
    assert rows[("rware:tiny-4ag", "sampled")]["execution"] == "sampled"
    spread = rows[("xor:n=2,k=2", "none")]
    assert spread["metric"] == "return" and spread["verdict"] == "greedy > sampled"
    # the results table uses each breaker's own execution
    results = {(r["env"], r["breaker"]): r for r in data["rows"]}
    assert results[("rware:tiny-4ag", "none")]["iqm"] == 0.0  # rows keep their flat keys
    assert results[("rware:tiny-4ag", "sampled")]["iqm"] == pytest.approx(0.6)
    assert results[("xor:n=2,k=2", "none")]["metric"] == "return"


def test_section_says_when_a_score_exists_only_under_sampling(runs):
    root, _ = runs
    md = (root / "report" / "report.md").read_text()
    assert "## Greedy and sampled execution" in md
    assert "`none`, `sampled` score(s) only when the actions are sampled" in md
    assert (root / "report" / "plots" / "execution-rware-tiny-4ag-mappo.png").exists()


@pytest.mark.parametrize(
    "greedy, sampled, verdict",
    [
        ((0.0, 0.0, 0.0), (0.5, 0.4, 0.6), "sampled only"),
        ((0.2, 0.1, 0.3), (0.5, 0.4, 0.6), "sampled > greedy"),
        ((0.8, 0.7, 0.9), (0.5, 0.4, 0.6), "greedy > sampled"),
        ((0.5, 0.3, 0.7), (0.5, 0.4, 0.6), "same within the intervals"),
        ((0.0, 0.0, 0.0), (0.1, 0.0, 0.2), "same within the intervals"),
    ],
)
def test_verdict_rule(greedy, sampled, verdict):
    assert execution_verdict(Estimate(*greedy), Estimate(*sampled)) == verdict
    assert execution_verdict(None, Estimate(*sampled)) == "not recorded"


def test_seed_count_matches(runs):
    _, data = runs
    assert all(r["seeds"] == len(SEEDS) for r in data["executions"])


@pytest.fixture(scope="module")
def writeup_runs(tmp_path_factory):
    """QMIX on smax:3m (a row of the write-up's table): none, rank and the `sampled`
    baseline, each recording both executions."""
    root = tmp_path_factory.mktemp("writeup")
    ask_writeup(root)
    greedy = {"none": [0.5, 0.52, 0.48, 0.5, 0.51], "rank": [0.6, 0.62, 0.58, 0.6, 0.61]}
    sampled = {"none": [0.4, 0.42, 0.38, 0.4, 0.41], "rank": [0.7, 0.72, 0.68, 0.7, 0.71]}
    for breaker in ("none", "rank"):
        run = write_run(root, breaker, "smax:3m", "qmix", breaker, greedy[breaker])
        with_executions(run, greedy[breaker], sampled[breaker], "greedy", metric="win_rate")
    base = write_run(root, "sampled", "smax:3m", "qmix", "sampled", sampled["none"])
    with_executions(base, greedy["none"], sampled["none"], "sampled", metric="win_rate")
    report.write_report(root)
    return root, json.loads((root / "report" / "report.json").read_text())


def test_writeup_rows_under_sampled_execution_and_against_the_baseline(writeup_runs):
    root, data = writeup_runs
    (entry,) = data["writeup"]
    assert set(entry["ours"]) == {"none", "rank"}  # the baseline is not a column of theirs
    assert entry["ours_sampled"]["rank"]["value"] == pytest.approx(0.7033, abs=1e-3)
    assert entry["ours_sampled"]["sampled"]["value"] == pytest.approx(0.4033, abs=1e-3)
    # rank - none: +10 pp greedy, +30 pp sampled; rank (greedy) - sampled baseline: +20 pp
    assert entry["improvement"]["rank"]["difference"]["iqm"]["value"] == pytest.approx(0.1)
    sampled = entry["improvement_sampled"]["rank"]["difference"]["iqm"]["value"]
    assert sampled == pytest.approx(0.3)
    vs = entry["vs_stochastic"]["rank"]
    assert vs["difference"]["iqm"]["value"] == pytest.approx(0.2) and vs["verdict"] == "supports"
    assert "noise" not in entry["vs_stochastic"]
    md = (root / "report" / "report.md").read_text()
    assert "under **sampled execution**" in md
    assert "| 3m (`smax:3m`) | 40.3% [" in md
    assert "- 3m (smax:3m): rank beats stochastic execution alone (+20.0 pp, 95% CI [" in md
    # rank - none, both sampled: +30 pp on every seed, with its verdict and paired reading
    assert "- 3m (smax:3m), both sampled: rank supports the write-up (+30.0 pp, 95% CI [" in md
    assert "higher on 5, lower on 0 of 5 seeds, mean +30.0 pp [" in md


def test_without_a_sampled_cell_the_baseline_is_none_sampled(tmp_path):
    greedy, sampled = [0.5, 0.52, 0.48, 0.5, 0.51], [0.4, 0.42, 0.38, 0.4, 0.41]
    ask_writeup(tmp_path)
    for breaker, g, s in (("none", greedy, sampled), ("rank", [0.6] * 5, [0.7] * 5)):
        run = write_run(tmp_path, breaker, "smax:3m", "qmix", breaker, g)
        with_executions(run, g, s, "greedy", metric="win_rate")
    report.write_report(tmp_path)
    (entry,) = json.loads((tmp_path / "report" / "report.json").read_text())["writeup"]
    assert entry["stochastic_source"] == "none sampled"
    assert entry["ours_sampled"]["sampled"] == entry["ours_sampled"]["none"]
    vs = entry["vs_stochastic"]["rank"]["difference"]["iqm"]["value"]
    assert vs == pytest.approx(0.6 - 0.4033, abs=0.001)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "No `sampled` cell ran for 3m: there the baseline is the `none` cell's sampled" in md


@pytest.mark.parametrize(
    ("rank_greedy", "rank_sampled", "words"),
    [
        # beats vanilla greedily, but no more than vanilla does by sampling
        (0.6, 0.6, "its gain over vanilla is no more than vanilla gains by sampling"),
        # no better than vanilla greedily, better only when both sample
        (0.5, 0.9, "it beats vanilla only when both sample their actions"),
    ],
)
def test_a_gain_that_randomness_at_execution_explains_is_named(
    tmp_path, rank_greedy, rank_sampled, words
):
    spread = [0.0, 0.02, -0.02, 0.0, 0.01]
    none_g, none_s = [0.5 + d for d in spread], [0.6 + d for d in spread]
    rank_g, rank_s = [rank_greedy + d for d in spread], [rank_sampled + d for d in spread]
    ask_writeup(tmp_path)
    for breaker, g, s in (("none", none_g, none_s), ("rank", rank_g, rank_s)):
        run = write_run(tmp_path, breaker, "smax:3m", "qmix", breaker, g)
        with_executions(run, g, s, "greedy", metric="win_rate")
    report.write_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    line = next(x for x in md.splitlines() if "stochastic execution alone (" in x)
    assert words in line
