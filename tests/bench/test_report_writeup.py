"""The write-up's table beside ours, for a suite that asks for it: verdicts, floors, the
write-up's algorithm first."""

from __future__ import annotations

import pytest
from test_report import (
    NOISE_FINAL,
    NONE_FINAL,
    _json,
    ask_writeup,
    runs,  # noqa: F401  (the fixture: a sweep that asks for the write-up)
    write_run,
)

from diamond_marl.bench import report
from diamond_marl.bench.stats import Estimate
from diamond_marl.bench.writeup import verdict


def test_writeup_table_verdicts(runs):  # noqa: F811
    rows = {e["benchmark"]: e for e in _json(runs)["writeup"]}
    three = rows["3m"]
    assert three["improvement"]["noise"]["verdict"] == "supports"
    noise = three["improvement"]["noise"]["difference"]
    assert noise["iqm"]["value"] == pytest.approx(0.91 - 0.503333, abs=0.001)
    assert three["improvement"]["noise"]["their_gain_is"] == "below"  # +13.3 pp < our ~+40
    assert three["improvement"]["rank"]["verdict"] == "cannot decide"
    assert set(rows) == {"3m"}  # the unfinished 5m_vs_6m cell and the others: no row invented
    md = (runs[0] / "report" / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- 3m (smax:3m)"))
    assert "noise supports the write-up (+40.7 pp" in line and "rank cannot decide" in line
    assert "their claimed +13.3 pp lies below it" in line
    # paired by seed index: noise - none is +40, +40, +40, +45, +40 pp
    assert noise["seeds"] == [0, 1, 2, 3, 4] and (noise["better"], noise["worse"]) == (5, 0)
    assert noise["mean"]["value"] == pytest.approx(0.41)
    assert noise["sign_p"] == pytest.approx(0.0625)
    assert noise["p_improvement"]["value"] == 1.0
    assert "higher on 5, lower on 0 of 5 seeds, mean +41.0 pp [" in line
    assert "sign test p = 0.062" in line
    assert three["improvement"]["rank"]["difference"]["sign_p"] == 1.0  # rank equals none: ties
    assert (
        "Rows of their table with no qmix run here: 5m_vs_6m (`smax:5m_vs_6m`), rware tiny "
        "(4 robots) (`rware:tiny-4ag`), rware large (8 robots) (`rware:large-8ag`)." in md
    )
    assert "AINews article on arXiv 2605.06825" in md and "DESIGN" not in md
    assert "| 78.2% | 91.5% |" in md
    table_row = next(x for x in md.splitlines() if x.startswith("| 3m (`smax:3m`)"))
    assert "50.3% [" in table_row and "91.0% [" in table_row


def test_a_rate_at_zero_everywhere_tests_nothing(tmp_path):
    """Vanilla and Diamond both win 0% on every seed: no verdict on the claim; returns shown."""
    zero = [0.0] * 5
    ask_writeup(tmp_path)
    write_run(tmp_path, "none", "rware:tiny-4ag", "qmix", "none", zero, "success_rate",
              returns=[1.0, 1.2, 0.8, 1.0, 1.1])  # fmt: skip
    write_run(tmp_path, "rank", "rware:tiny-4ag", "qmix", "rank", zero, "success_rate",
              returns=[2.0, 2.1, 1.9, 2.0, 2.2])  # fmt: skip
    write_run(tmp_path, "noise", "rware:tiny-4ag", "qmix", "noise", [0.0, 0.1, 0.0, 0.0, 0.0],
              "success_rate")  # fmt: skip
    report.write_report(tmp_path)
    entry = next(e for e in _json((tmp_path, None))["writeup"] if e["env"] == "rware:tiny-4ag")
    rank, noise = entry["improvement"]["rank"], entry["improvement"]["noise"]
    assert rank["floor"] and rank["their_gain_is"] is None
    assert rank["return_difference"]["iqm"]["value"] == pytest.approx(1.0, abs=0.05)
    assert rank["return_difference"]["iqm"]["ci_low"] > 0
    assert not noise["floor"] and noise["their_gain_is"] == "above"  # one seed won: measured
    md = (tmp_path / "report" / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- rware tiny"))
    assert "rank cannot decide (neither it nor vanilla scored above 0% on any seed" in line
    assert "final return +1.0" in line and "their claimed +11.3 pp lies above" in line
    assert "(both 0 on every seed)" in md


def test_the_writeup_rows_are_tested_with_each_algorithm_the_write_up_first(tmp_path):
    """QMIX on smax:3m and MAPPO on rware:tiny-4ag: each row under its algorithm, QMIX's table
    first, and MAPPO's says that it tests the direction, not the write-up's QMIX numbers."""
    ask_writeup(tmp_path)
    write_run(tmp_path, "q-none", "smax:3m", "qmix", "none", NONE_FINAL)
    write_run(tmp_path, "q-rank", "smax:3m", "qmix", "rank", NOISE_FINAL)
    write_run(tmp_path, "m-none", "rware:tiny-4ag", "mappo", "none", NOISE_FINAL, "success_rate")
    write_run(tmp_path, "m-rank", "rware:tiny-4ag", "mappo", "rank", NONE_FINAL, "success_rate")
    report.write_report(tmp_path)
    entries = _json((tmp_path, None))["writeup"]
    assert [(e["algo"], e["env"]) for e in entries] == [
        ("qmix", "smax:3m"), ("mappo", "rware:tiny-4ag"),
    ]  # fmt: skip
    assert entries[0]["improvement"]["rank"]["verdict"] == "supports"
    assert entries[1]["improvement"]["rank"]["verdict"] == "contradicts"
    md = (tmp_path / "report" / "report.md").read_text()
    assert md.index("### With QMIX (the write-up's algorithm)") < md.index("### With MAPPO")
    header = "| Benchmark | their vanilla QMIX | their Diamond QMIX | our vanilla MAPPO (`none`) |"
    assert header in md
    assert "whether the write-up's direction (Diamond above vanilla) holds with MAPPO" in md
    assert "- rware tiny (4 robots) (rware:tiny-4ag): rank contradicts the write-up" in md
    assert "Rows of their table with no mappo run here: 3m (`smax:3m`), 5m_vs_6m" in md


def test_verdict_rule():
    assert verdict(Estimate(5.0, 1.0, 9.0)) == "supports"
    assert verdict(Estimate(-5.0, -9.0, -1.0)) == "contradicts"
    assert verdict(Estimate(0.0, 0.0, 0.0)) == "cannot decide"
