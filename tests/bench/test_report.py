"""`diamond-marl report` on a synthetic RUNS_DIR: numbers, verdicts, figures, exports."""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from diamond_marl.bench import report
from diamond_marl.bench.rows import cost_summary
from diamond_marl.cli import build_parser
from diamond_marl.errors import ConfigError

STEPS = (100, 200, 300)
SEEDS = (0, 1, 2, 3, 4)
NONE_FINAL = [0.50, 0.52, 0.48, 0.50, 0.51]
NOISE_FINAL = [0.90, 0.92, 0.88, 0.95, 0.91]


# the suite file a sweep keeps beside its runs: what the report contrasts, and the write-up
WRITEUP_SUITE = """
contrasts:
  - {breaker: rank, against: [none, "none@sampled"], writeup: true}
  - {breaker: noise, against: [none, "none@sampled"], writeup: true}
"""


def ask_writeup(root):
    """Make ``root`` a sweep whose suite contrasts noise and rank with none and asks for the
    write-up's table (as the paper suite does)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "suite.yaml").write_text(WRITEUP_SUITE)


def write_run(root, name, env, algo, breaker, finals, metric="win_rate", cell=True, **extra):
    """A finished run directory as training (and, with ``cell``, the launcher) writes it."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"env": env, "algo": algo, "breaker": breaker}))
    with (d / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env", "algo", "breaker", "seed", "step", "metric", "value"])
        for seed, final in zip(SEEDS, finals, strict=True):
            for i, step in enumerate(STEPS):
                frac = (i + 1) / len(STEPS)
                rows = {"eval_return": 10 * final * frac, "train_return": 5.0}
                if metric != "return":
                    rows[f"eval_{metric}"] = final * frac
                if breaker == "noise":
                    rows["sigma"] = 1.0 - 0.3 * i
                for m, v in rows.items():
                    w.writerow([env, algo, breaker, seed, step, m, v])
    seeds = []
    returns = extra.get("returns") or [10 * f for f in finals]
    for seed, final, ret in zip(SEEDS, finals, returns, strict=True):
        row = {"seed": seed, "return": ret, "episode_length": 20.0}
        if metric != "return":
            row[metric] = final
        seeds.append(row)
    summary = {
        "env": env, "algo": algo, "breaker": breaker, "seeds": seeds, "env_steps": STEPS[-1],
        "wall_s": 30.0, "episodes_per_seed": 640,
    }  # fmt: skip
    (d / "summary.json").write_text(json.dumps(summary))
    if cell:
        content = {
            "cell_id": name, "env": env, "algo": algo, "breaker": breaker, "seeds": len(SEEDS),
            "summary": summary, "transfer": extra.get("transfer", []), "wall_s": 40.0,
            "env_sps": 123.0,
        }  # fmt: skip
        (d / "cell.json").write_text(json.dumps(content))
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ask_writeup(root)
    transfer = [
        {
            "env": "smax:5m_vs_6m",
            "trained_on": "smax:3m",
            "seeds": [
                {"seed": s, "return": 1.0, "win_rate": v}
                for s, v in zip(SEEDS, NONE_FINAL, strict=True)
            ],
        },
        {"env": "smax:2s3z", "error": "reads 9 features per entity token; smax:2s3z has 11"},
    ]
    write_run(root, "qmix-3m-none", "smax:3m", "qmix", "none", NONE_FINAL)
    write_run(root, "qmix-3m-noise", "smax:3m", "qmix", "noise", NOISE_FINAL, transfer=transfer)
    write_run(root, "qmix-3m-rank", "smax:3m", "qmix", "rank", list(NONE_FINAL))
    # a plain `diamond-marl train` run: no cell.json, env name with commas, eval/ on the side
    plain = write_run(
        root, "mappo-xor", "xor:n=2,k=2", "mappo", "none", [1.0] * 5, "success_rate", cell=False
    )
    (plain / "eval").mkdir()
    (plain / "eval" / "xor-n3_k3.json").write_text(
        json.dumps(
            {"env": "xor:n=3,k=3", "seeds": [{"seed": 0, "return": 0.2, "success_rate": 0.2}]}
        )
    )
    # unfinished: config and some metrics, no summary
    todo = root / "qmix-5m-none"
    todo.mkdir()
    (todo / "config.yaml").write_text(
        yaml.safe_dump({"env": "smax:5m_vs_6m", "algo": "qmix", "breaker": "none", "steps": 1000})
    )
    (todo / "metrics.csv").write_text(
        "env,algo,breaker,seed,step,metric,value\nsmax:5m_vs_6m,qmix,none,0,200,eval_return,1.0\n"
    )
    (root / "broken").mkdir()  # a torn summary must not crash the report
    (root / "broken" / "summary.json").write_text('{"seeds": [')
    (root / "notes").mkdir()  # not a run: ignored
    written = report.write_report(root)
    return root, written


def _json(runs):
    return json.loads((runs[0] / "report" / "report.json").read_text())


def test_rows_hold_the_iqm_over_seeds(runs):
    rows = {(r["env"], r["algo"], r["breaker"]): r for r in _json(runs)["rows"]}
    assert set(rows) == {
        ("smax:3m", "qmix", "none"),
        ("smax:3m", "qmix", "noise"),
        ("smax:3m", "qmix", "rank"),
        ("xor:n=2,k=2", "mappo", "none"),
    }
    none = rows[("smax:3m", "qmix", "none")]
    # five seeds: sorted 0.48 0.50 0.50 0.51 0.52, one cut from each end
    assert none["iqm"] == pytest.approx((0.50 + 0.50 + 0.51) / 3)
    assert none["metric"] == "win_rate"
    assert none["seeds"] == 5 and none["env_steps"] == 300
    assert none["ci_low"] <= none["iqm"] <= none["ci_high"]
    assert none["env_sps"] == 123.0 and none["wall_s"] == 30.0
    noise = rows[("smax:3m", "qmix", "noise")]
    assert noise["iqm"] == pytest.approx((0.90 + 0.91 + 0.92) / 3)
    assert noise["p_beats_none"]["value"] == 1.0
    assert rows[("smax:3m", "qmix", "rank")]["p_beats_none"]["value"] == pytest.approx(0.5)
    plain = rows[("xor:n=2,k=2", "mappo", "none")]
    assert plain["metric"] == "success_rate" and plain["iqm"] == 1.0
    assert plain["env_sps"] == pytest.approx(300 * 5 / 30.0)  # derived: all seeds' steps / s
    md = (runs[0] / "report" / "report.md").read_text()
    row = next(x for x in md.splitlines() if x.startswith("| `none` | 50.3% ["))
    assert "| 50.2 | 50.0, 52.0, 48.0, 50.0, 51.0 | 5.03 [" in row  # mean, seeds in order, return
    # the return beside the rate: IQM of 10 x the finals, the same trimming
    ret = none["return"]  # an estimate as every nested one: value, ci_low, ci_high, seeds
    assert ret["value"] == pytest.approx(10 * none["iqm"]) and ret["seeds"] == 5
    assert ret["ci_low"] <= ret["value"] <= ret["ci_high"]


def test_unfinished_and_transfer_are_listed(runs):
    data = _json(runs)
    unfinished = {u["dir"]: u for u in data["not_finished"]}
    assert set(unfinished) == {"qmix-5m-none", "broken"}
    assert "reached env step 200 of 1,000" in unfinished["qmix-5m-none"]["note"]
    assert "unreadable" in unfinished["broken"]["note"]
    transfer = {t["eval_env"]: t for t in data["transfer"]}
    assert transfer["smax:5m_vs_6m"]["iqm"] == pytest.approx((0.50 + 0.50 + 0.51) / 3)
    assert "11" in transfer["smax:2s3z"]["error"]
    assert transfer["xor:n=3,k=3"]["trained_on"] == "xor:n=2,k=2"
    md = (runs[0] / "report" / "report.md").read_text()
    assert "## Not finished" in md and "`qmix-5m-none`" in md
    assert "cannot run: reads 9 features" in md


def test_plots_exist_and_html_embeds_them(runs):
    root, written = runs
    plot_dir = root / "report" / "plots"
    for name in ("final", "curves", "sigma"):
        png = plot_dir / f"{name}-smax-3m-qmix.png"
        assert png.exists() and png.stat().st_size > 1000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert written[f"plots/{png.name}"] == png
    assert not (plot_dir / "sigma-xor-n2_k2-mappo.png").exists()  # no noise breaker there
    pngs = sorted(plot_dir.glob("*.png"))
    html = (root / "report" / "report.html").read_text()
    sources = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(sources) == len(pngs)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', html))
    md = (root / "report" / "report.md").read_text()
    assert "](plots/curves-smax-3m-qmix.png)" in md


def test_marl_eval_structure(runs):
    data = json.loads((runs[0] / "report" / "marl_eval.json").read_text())
    assert set(data) == {"smax", "xor"}
    assert set(data["smax"]["3m"]) == {"qmix_none", "qmix_noise", "qmix_rank"}
    assert set(data["xor"]["n=2,k=2"]) == {"mappo_none"}
    for tasks in data.values():
        for algos in tasks.values():
            for runs_ in algos.values():
                assert sorted(runs_) == [f"run_{s}" for s in SEEDS]
                for run in runs_.values():
                    keys = list(run)
                    assert keys[-1] == "absolute_metrics"  # marl-eval reads the last key
                    assert keys[:-1] == [f"step_{i}" for i in range(len(STEPS))]
                    metric_names = set(run["absolute_metrics"])
                    assert {"return", "episode_return"} <= metric_names
                    for i, key in enumerate(keys[:-1]):
                        step = run[key]
                        assert step["step_count"] == STEPS[i]
                        assert isinstance(step["step_count"], int)
                        assert set(step) - {"step_count"} == metric_names
                    for block in run.values():
                        for name, values in block.items():
                            if name != "step_count":
                                assert isinstance(values, list) and len(values) == 1
                                assert isinstance(values[0], float)
    run0 = data["smax"]["3m"]["qmix_noise"]["run_0"]
    assert run0["absolute_metrics"]["win_rate"] == [0.90]
    assert run0["absolute_metrics"]["episode_return"] == [9.0]
    assert run0["step_2"]["win_rate"] == [pytest.approx(0.90)]


def test_bad_input_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        report.write_report(tmp_path / "missing")
    (tmp_path / "empty" / "junk").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no run directories"):
        report.write_report(tmp_path / "empty")


def test_cli_parser_prints_paths(tmp_path, capsys):
    root = tmp_path / "runs"
    write_run(root, "vdn-3m-none", "smax:3m", "vdn", "none", NONE_FINAL)
    out = tmp_path / "out"
    args = build_parser().parse_args(["report", str(root), "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed and str(out / "marl_eval.json") in printed
    assert json.loads((out / "report.json").read_text())["rows"][0]["algo"] == "vdn"


def test_report_module_does_not_import_jax():
    code = "import sys, diamond_marl.bench.report; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rerun_replaces_the_report(runs):
    root, _ = runs
    again = report.write_report(root)
    assert set(again) >= {"report.json", "report.md", "report.html", "marl_eval.json"}
    assert np.isfinite(_json(runs)["rows"][0]["iqm"])


# -- the role analysis and the cost of each breaker -----------------------------------------
ROLE = "role:n=4,k=4,t=10"
COST = """\
# attention_overhead: batch=256 reps=3 hidden=64 heads=4 blocks=2 jax=0.10.2 backend=cpu
# smax:5m_vs_6m: shapes from spec (N=5, E=11, F=15, A=11), batch 256
overhead rank smax:5m_vs_6m 1.026   (fwd 1.050; none: fwd 50.0 ms, fwd+bwd 256.0 ms)
overhead dice smax:5m_vs_6m 1.100   (fwd 1.069; none: fwd 50.0 ms, fwd+bwd 256.0 ms)
"""


def _metrics_json(breaker, snd, won):
    per_seed = [{"snd": snd, "js": 0.5, "role_entropy": 0.8, "won": won} for _ in SEEDS[:2]]
    return {
        "run": "x", "env": ROLE, "algo": "mappo", "breaker": breaker, "env_steps": 300,
        "episodes_per_seed": 16, "success_metric": "success_rate", "per_seed": per_seed,
        "snd": snd, "js": 0.5, "role_entropy": 0.8, "role_entropy_episode": 0.7,
        "role_persistence": 0.6, "return": 8.5, "won": won,
    }  # fmt: skip


def _adversarial_json(breaker, won):
    rank = breaker == "rank"
    return {
        "env": ROLE, "breaker": breaker, "episodes": 16, "success_metric": "success_rate",
        "honest": {"per_seed": [], "return": 8.5, "won": won},
        "attacks": [
            {"attack": "rank_first", "applies": rank, "reason": None if rank else "no rank",
             **({"return": 7.5, "won": 0.0, "drop_return": 1.0, "drop_won": won} if rank else {})},
            {"attack": "random", "applies": True, "reason": None, "return": 7.0, "won": 0.25,
             "drop_return": 1.5, "drop_won": won - 0.25},
        ],
    }  # fmt: skip


def _timeline(path):
    from diamond_marl.bench import plots

    fig = plots._new_figure(2, 1.5)
    fig.add_subplot().imshow(np.arange(12).reshape(3, 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from diamond_marl.analysis.summary import compact

    root = tmp_path_factory.mktemp("analysed")
    # a sweep cell whose cell.json holds the analysis entry (and its timeline on disk)
    rank = write_run(root, "role__mappo__rank", ROLE, "mappo", "rank", [0.6] * 5, "success_rate")
    _timeline(rank / "analysis" / "timeline-key0.png")
    entry = compact(
        _metrics_json("rank", 0.83, 0.66),
        _adversarial_json("rank", 0.66),
        "analysis/timeline-key0.png",
    )
    data = json.loads((rank / "cell.json").read_text())
    (rank / "cell.json").write_text(json.dumps({**data, "analysis": entry}))
    # a sweep cell whose analysis refused the run
    none = write_run(root, "role__mappo__none", ROLE, "mappo", "none", [0.0] * 5, "success_rate")
    data = json.loads((none / "cell.json").read_text())
    (none / "cell.json").write_text(json.dumps({**data, "analysis": {"error": "no checkpoint"}}))
    # a plain run analysed by hand (diamond-marl analyze): files only, no cell.json
    plain = write_run(
        root, "role-noise", ROLE, "mappo", "noise", [0.3] * 5, "success_rate", cell=False
    )
    (plain / "analysis").mkdir()
    (plain / "analysis" / "metrics.json").write_text(json.dumps(_metrics_json("noise", 0.4, 0.3)))
    (plain / "analysis" / "adversarial.json").write_text(
        json.dumps(_adversarial_json("noise", 0.3))
    )
    _timeline(plain / "analysis" / "timeline-key0.png")
    write_run(root, "role__mappo__dice", ROLE, "mappo", "dice", [0.5] * 5, "success_rate")
    cost = root / "overhead.txt"
    cost.write_text(COST)
    report.write_report(root, cost=cost)
    return root


def test_report_json_holds_the_analysis_rows(analysed):
    rows = {r["dir"]: r for r in _json([analysed])["analysis"]}
    assert list(rows) == ["role__mappo__none", "role-noise", "role__mappo__rank"]  # by breaker
    rank = rows["role__mappo__rank"]
    assert rank["source"] == "cell.json" and rank["env"] == ROLE and rank["breaker"] == "rank"
    assert rank["snd"] == 0.83 and rank["role_persistence"] == 0.6 and rank["won"] == 0.66
    assert rank["episodes"] == 16 and rank["seeds"] == 2
    first, random = rank["adversarial"]
    assert first == {
        "attack": "rank_first", "applies": True, "metric": "success_rate", "honest": 0.66,
        "attacked": 0.0, "drop": 0.66, "drop_return": 1.0,
    }  # fmt: skip
    assert random["drop"] == pytest.approx(0.41)
    assert rank["timeline"] == "plots/timeline-role__mappo__rank.png"
    noise = rows["role-noise"]
    assert noise["source"] == "analysis/" and noise["snd"] == 0.4
    assert noise["adversarial"][0] == {
        "attack": "rank_first",
        "applies": False,
        "reason": "no rank",
    }
    assert noise["timeline"] == "plots/timeline-role-noise.png"
    assert rows["role__mappo__none"]["error"] == "no checkpoint"
    assert "role__mappo__dice" not in rows  # not analysed


def test_report_shows_the_role_analysis_and_embeds_the_timelines(analysed):
    md = (analysed / "report" / "report.md").read_text()
    section = md[md.index("## Role analysis") :]
    assert "| breaker | episodes x seeds | SND | JS | role entropy |" in section
    assert "| `rank` | 16 x 2 | 0.830 | 0.500 | 0.800 | 0.700 | 0.600 | 8.5 | 66.0% |" in section
    assert "| breaker | honest success_rate | `rank_first`: drop | `random`: drop |" in section
    assert "| `rank` | 66.0% | +66.0 (-> 0.0%) | +41.0 (-> 25.0%) |" in section
    assert "| `noise` | 30.0% | n/a | +5.0 (-> 25.0%) |" in section
    assert "`rank_first` on `noise`: n/a, no rank" in section
    assert "`role__mappo__none`: analysis failed: no checkpoint" in section
    assert "](plots/timeline-role__mappo__rank.png)" in section
    assert "](plots/timeline-role-noise.png)" in section
    html = (analysed / "report" / "report.html").read_text()
    assert "<h2>Role analysis</h2>" in html
    pngs = sorted((analysed / "report" / "plots").glob("*.png"))
    assert {"timeline-role__mappo__rank.png", "timeline-role-noise.png"} <= {p.name for p in pngs}
    sources = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(sources) == len(pngs) and all(
        s.startswith("data:image/png;base64,") for s in sources
    )


def test_cost_section_from_the_overhead_output(analysed, tmp_path, monkeypatch):
    cost = _json([analysed])["cost"]
    monkeypatch.chdir(analysed)
    assert cost_summary(analysed / "overhead.txt").source == "overhead.txt"
    assert cost["batch"] == 256 and cost["agents"] == {"smax:5m_vs_6m": 5}
    rows = {r["breaker"]: r for r in cost["rows"]}
    assert list(rows) == ["none", "rank", "dice"]
    # per agent: ratio x none's batch time / (batch x N): 1.1 x 256 ms / (256 x 5) = 220 us
    assert rows["dice"]["fwd_bwd_us_per_agent"] == pytest.approx(220.0)
    assert rows["none"]["fwd_bwd_us_per_agent"] == pytest.approx(200.0)
    md = (analysed / "report" / "report.md").read_text()
    section = md[md.index("## Cost") :]
    assert "| `rank` | 1.026 | 1.050 | 205.2 |" in section
    assert "| `dice` | 1.100 | 1.069 | 220.0 |" in section
    assert "µs per agent (N=5)" in section
    # the command line takes the file too; False leaves the section out; a missing file fails
    args = build_parser().parse_args(
        [
            "report",
            str(analysed),
            "--out",
            str(tmp_path / "a"),
            "--cost",
            str(analysed / "overhead.txt"),
        ]
    )
    assert args.func(args) == 0
    assert "## Cost" in (tmp_path / "a" / "report.md").read_text()
    report.write_report(analysed, tmp_path / "b", cost=False)
    assert "## Cost" not in (tmp_path / "b" / "report.md").read_text()
    assert json.loads((tmp_path / "b" / "report.json").read_text())["cost"] is None
    with pytest.raises(ConfigError, match="no such file"):
        report.write_report(analysed, tmp_path / "c", cost=tmp_path / "missing.txt")


POGEMA = (
    "pz:diamond_marl.envs.host.pogema_env:{},num_agents={},size=12,density=0.3,"
    "success=terminated,steps=64,python=$POGEMA_PYTHON,cells=24"
)


def test_short_names_keep_what_tells_long_names_apart():
    from diamond_marl.env_names import short_names

    named, plain = POGEMA.format("named_env", 8), POGEMA.format("parallel_env", 8)
    big = POGEMA.format("parallel_env", 64)
    assert short_names([named, plain, "xor:n=2,k=2"]) == {
        named: "pz:pogema_env:named_env",
        plain: "pz:pogema_env:parallel_env",
        "xor:n=2,k=2": "xor:n=2,k=2",  # short names stay
    }
    three = short_names([named, plain, big])
    assert three[big] == "pz:pogema_env:parallel_env,num_agents=64"
    assert three[named] == "pz:pogema_env:named_env,num_agents=8"
    # names that differ only in what is dropped (python=) keep their full names
    other = plain.replace("$POGEMA_PYTHON", "/opt/py")
    assert short_names([plain, other]) == {plain: plain, other: other}
    bad = "pz:" + "a" * 50 + ",k=1,k2"  # two variants: not a name; kept as it is
    assert short_names([bad]) == {bad: bad}


def test_long_environment_names_are_labelled_and_listed_in_full(tmp_path):
    named, plain = POGEMA.format("named_env", 8), POGEMA.format("parallel_env", 8)
    write_run(tmp_path, "a", named, "mappo", "none", NONE_FINAL, "success_rate")
    write_run(tmp_path, "b", plain, "mappo", "none", NONE_FINAL, "success_rate")
    write_run(tmp_path, "c", "smax:3m", "mappo", "none", NONE_FINAL)
    md = report.write_report(tmp_path, cost=False)["report.md"].read_text()
    environments = md[md.index("## Environments") : md.index("## Results")]
    assert f"- `pz:pogema_env:named_env`: `{named}`" in environments
    assert f"- `pz:pogema_env:parallel_env`: `{plain}`" in environments
    assert "smax:3m" not in environments
    assert "### pz:pogema_env:named_env · mappo" in md
    assert "### smax:3m · mappo" in md
    assert md.count(named) == 1  # only in the list: headings, tables and titles use the label
