"""The report's parts: typed rows to JSON, the write-up's reference data, when its table
shows, the committed paper report's numbers, and a report folder that cannot be written."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from diamond_marl.bench.collect import collect
from diamond_marl.bench.render.exports import report_json
from diamond_marl.bench.report import write_report
from diamond_marl.bench.rows import FLAT, HIDDEN, OPTIONAL, key, to_json
from diamond_marl.bench.writeup import load_reference
from diamond_marl.cli import main

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "docs" / "results" / "paper-2026-11"


@dataclasses.dataclass
class _Inner:
    a: int
    b: int | None = dataclasses.field(default=None, metadata=OPTIONAL)


@dataclasses.dataclass
class _Outer:
    name: str
    ret: float = dataclasses.field(metadata=key("return"))
    inner: _Inner | None = dataclasses.field(metadata=FLAT)
    kept_none: int | None = None
    hidden: object = dataclasses.field(default=None, metadata=HIDDEN)
    items: tuple[_Inner, ...] = ()


def test_to_json_renames_flattens_omits_and_hides():
    row = _Outer("x", 1.5, _Inner(1), items=(_Inner(2, 3),), hidden=object())
    data = to_json(row)
    assert data == {"name": "x", "return": 1.5, "a": 1, "kept_none": None,
                    "items": [{"a": 2, "b": 3}]}  # fmt: skip
    assert list(data) == ["name", "return", "a", "kept_none", "items"]  # field order kept
    assert to_json(_Outer("y", 0.0, None)) == {"name": "y", "return": 0.0, "kept_none": None,
                                               "items": []}  # fmt: skip


def test_the_writeup_reference_is_package_data_with_its_citation():
    ref = load_reference()
    assert "AINews" in ref.citation and "arXiv 2605.06825" in ref.citation
    assert ref.algo == "qmix"
    assert [(w.env, w.vanilla, w.diamond) for w in ref.rows] == [
        ("smax:3m", 78.2, 91.5),
        ("smax:5m_vs_6m", 42.1, 67.8),
        ("rware:tiny-4ag", 85.0, 96.3),
        ("rware:large-8ag", 62.4, 81.2),
    ]


@pytest.mark.skipif(not PAPER.is_dir(), reason="needs the committed paper results")
def test_the_committed_paper_report_keeps_its_numbers(tmp_path):
    """Recomputing report.json from the committed runs gives the committed file exactly."""
    committed = json.loads((PAPER / "report" / "report.json").read_text())
    again = json.loads(report_json(collect(PAPER, PAPER / "report")))
    assert again.pop("runs_dir") == str(PAPER) and committed.pop("runs_dir")
    assert again == committed


@pytest.fixture(scope="module")
def games_only(tmp_path_factory):
    """Two committed paper cells (QMIX on smax:3m), copied: with them the report has the
    write-up's 3m row; relabelled to a map the write-up lacks, it must leave the table out."""
    root = tmp_path_factory.mktemp("games")
    shutil.copyfile(PAPER / "suite.yaml", root / "suite.yaml")  # it asks for the write-up
    for cell in ("smax-3m__qmix__none", "smax-3m__qmix__rank"):
        shutil.copytree(PAPER / cell, root / cell, ignore=shutil.ignore_patterns("eval"))
    return root


@pytest.mark.skipif(not PAPER.is_dir(), reason="needs the committed paper results")
def test_the_writeup_table_shows_only_with_its_cells(games_only, tmp_path):
    with_cells = write_report(games_only, tmp_path / "with", cost=False)
    md = with_cells["report.md"].read_text()
    assert "## The write-up's table beside ours" in md
    table = [ln for ln in md.splitlines() if ln.startswith(("| 3m", "| 5m", "| rware"))]
    assert len(table) == 1 and table[0].startswith("| 3m (`smax:3m`) | 78.2% | 91.5% |")
    assert "Rows of their table with no qmix run here: 5m_vs_6m" in md
    # the same runs on a map the write-up's table does not have: nothing of it is in them
    for cell in (c for c in games_only.iterdir() if c.is_dir()):
        data = json.loads((cell / "cell.json").read_text())
        data["env"] = data["summary"]["env"] = "smax:8m"
        (cell / "cell.json").write_text(json.dumps(data))
    without = write_report(games_only, tmp_path / "without", cost=False)
    md = without["report.md"].read_text()
    assert "write-up" not in md and "## Results per environment and algorithm" in md
    assert json.loads(without["report.json"].read_text())["writeup"] == []


def test_an_unwritable_report_folder_is_one_line_and_status_2(games_only, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "report"
    assert main(["report", str(games_only), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"report folder {out}: cannot create this directory" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_inline_markdown_renders_as_html():
    from diamond_marl.bench.render.doc import inline

    text = "the **sampled execution** of `a**b*c` (*greedy*), [docs](x.md?a=1&b=2) <i> 2 * 3"
    assert inline(text) == (
        "the <strong>sampled execution</strong> of <code>a**b*c</code> (<em>greedy</em>), "
        '<a href="x.md?a=1&amp;b=2">docs</a> &lt;i&gt; 2 * 3'
    )


@pytest.mark.skipif(not (REPO / "docs" / "results" / "paper").is_dir(), reason="no results")
def test_the_page_leads_with_results_and_folds_the_method(tmp_path):
    paper = REPO / "docs" / "results" / "paper"  # the run that recorded both executions
    shutil.copyfile(paper / "suite.yaml", tmp_path / "suite.yaml")
    for cell in ("smax-3m__qmix__none", "smax-3m__qmix__rank"):
        shutil.copytree(paper / cell, tmp_path / cell)
    written = write_report(tmp_path, tmp_path / "page", cost=False)
    md, page = written["report.md"].read_text(), written["report.html"].read_text()
    assert md.index("## Summary") < md.index("## Results") < md.index("<details>")
    assert md.index("<details>") < md.index("**Statistics.** Each number is the final")
    assert "<details><summary>How these numbers are computed</summary>" in page
    assert "**" not in page
    assert "under <strong>sampled execution</strong>" in page
