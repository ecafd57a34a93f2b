"""Suite files: expansion into cells and validation errors, in pure Python (no JAX, no runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from diamond_marl.bench.launch import check_out_dir, select
from diamond_marl.bench.suite import BREAKERS, ENV_FAMILIES, cell_id, check_env_name, parse_suite
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import SUITES as SUITES_DIR
from diamond_marl.package_data import package_file

SUITES = package_file(SUITES_DIR)  # the shipped suites (package data)

BASE = {
    "name": "t",
    "seeds": 3,
    "defaults": {"eval_episodes": 8, "net": {"hidden": 32}},
    "experiments": [
        {
            "envs": ["xor:n=2,k=2", "role:n=4,k=4,t=10"],
            "algos": ["mappo", "qmix"],
            "breakers": ["none", "noise+rank"],
            "steps": 20_000,
            "overrides": {"net": {"hidden": 16, "blocks": 1}},
            "transfer": ["xor:n=3,k=2", "xor:n=2,k=2"],
        },
        {"envs": "smax:3m", "algos": "mappo"},
    ],
}


def _suite(**changes):
    data = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return parse_suite(data)


_DELETE = object()


def test_expansion_is_the_product_with_stable_ids():
    suite = _suite()
    ids = [c.id for c in suite.cells]
    assert len(ids) == 2 * 2 * 2 + 1
    assert ids[:4] == [
        "xor-n2_k2__mappo__none",
        "xor-n2_k2__mappo__noise_rank",
        "xor-n2_k2__qmix__none",
        "xor-n2_k2__qmix__noise_rank",
    ]
    assert ids[-1] == "smax-3m__mappo__none"  # breakers default to none
    assert _suite().fingerprint() == suite.fingerprint()


def test_cell_settings_merge_defaults_experiment_and_suite_keys():
    first, *_, smax = _suite().cells
    assert first.seeds == 3 and first.steps == 20_000
    # experiment overrides win over defaults; nested mappings become dotted keys
    assert first.overrides == {"eval_episodes": 8, "net.blocks": 1, "net.hidden": 16}
    assert smax.overrides == {"eval_episodes": 8, "net.hidden": 32}
    assert smax.steps is None  # the environment's default budget
    assert "steps" not in smax.train_overrides("x")
    # the training environment itself is dropped from the transfer list
    assert first.transfer == ("xor:n=3,k=2",)
    role = next(c for c in _suite().cells if c.env.startswith("role"))
    assert role.transfer == ("xor:n=3,k=2", "xor:n=2,k=2")
    assert first.train_overrides("runs/x") == {
        "eval_episodes": 8,
        "net.blocks": 1,
        "net.hidden": 16,
        "algo": "mappo",
        "env": "xor:n=2,k=2",
        "breaker": "none",
        "seeds": 3,
        "steps": 20_000,
        "out": "runs/x",
    }


def test_tag_separates_cells_that_differ_only_in_overrides():
    exp = {"envs": ["xor:n=2,k=2"], "algos": ["mappo"], "breakers": ["noise"]}
    with pytest.raises(ConfigError, match="duplicate cell 'xor-n2_k2__mappo__noise'"):
        parse_suite({"experiments": [exp, {**exp, "overrides": {"lr": 0.001}}]})
    suite = parse_suite({"experiments": [exp, {**exp, "tag": "fast", "overrides": {"lr": 0.001}}]})
    assert [c.id for c in suite.cells] == [
        "xor-n2_k2__mappo__noise",
        "xor-n2_k2__mappo__noise__fast",
    ]


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"experiments.0.envs": ["foo:bar"]},
            "'foo:bar': unknown environment family 'foo'; allowed: .*smax",
        ),
        ({"experiments.0.envs": ["smax3m"]}, "must look like 'family:variant"),
        ({"experiments.0.envs": ["xor:n=2,q=3"]}, "unknown parameter.*q; allowed: n, k"),
        ({"experiments.0.envs": ["xor:n=1"]}, "n='1' is impossible; allowed: integers >= 2"),
        ({"experiments.0.envs": ["smax"]}, "must look like"),
        ({"experiments.0.envs": ["rware:"]}, "rware needs a variant"),
        ({"experiments.0.envs": ["xor:big,n=2"]}, "takes only key=value parameters"),
        ({"experiments.0.transfer": ["bogus:x"]}, "'bogus:x': unknown environment family 'bogus'"),
        (
            {"experiments.0.algos": ["mappo", "ppo"]},
            r"experiments\[0\].algos: unknown algorithm 'ppo'; allowed: mappo",
        ),
        (
            {"experiments.0.breakers": ["diamond"]},
            r"experiments\[0\].breakers: unknown breaker 'diamond'; allowed: none, agent_id",
        ),
        ({"seeds": 0}, "seeds=0 must be an integer >= 1"),
        ({"seeds": True}, "seeds=True must be an integer"),
        ({"experiments.1.seeds": "two"}, r"experiments\[1\].seeds='two'"),
        ({"experiments.0.steps": 0}, "steps=0 must be a positive number"),
        ({"experiments.0.steps": -5}, "steps=-5 must be a positive number"),
        ({"experiments.0.steps": 1.5}, "steps=1.5"),
        ({"budget": 3}, "suite: unknown suite key 'budget'; allowed: name, description"),
        (
            {"experiments.0.env": "xor:n=2,k=2"},
            r"experiments\[0\]: unknown key 'env'; allowed: envs",
        ),
        ({"experiments.0.algos": _DELETE}, r"experiments\[0\] needs 'algos'"),
        ({"experiments": []}, "non-empty list"),
        ({"experiments.0.breakers": ["rank", "rank"]}, "lists rank more than once"),
        ({"defaults": {"seeds": 4}}, "'seeds' is set by the suite itself"),
        ({"experiments.0.overrides": {"out": "x"}}, "'out' is set by the suite itself"),
        ({"experiments.0.overrides": {"lr": [1, 2]}}, "lr=.* must be a number"),
        ({"experiments.0.tag": "a b"}, "must be a filesystem-safe word"),
        ({"name": "../x"}, "suite name '../x' must be filesystem-safe"),
        (
            {"experiments.0.memory_gb": 0},
            r"experiments\[0\].memory_gb=0 must be a number of GB > 0",
        ),
        ({"experiments.1.memory_gb": "8G"}, r"experiments\[1\].memory_gb='8G' must be a number"),
    ],
)
def test_invalid_suites_name_the_bad_value(changes, message):
    with pytest.raises(ConfigError, match=message):
        _suite(**changes)


def test_analyze_option_defaults_overrides_and_canonical_form():
    from diamond_marl.analysis.summary import DEFAULT_ATTACKS

    suite = _suite(
        analyze={"episodes": 16},
        **{"experiments.1.analyze": {"attacks": "random:0.5, rank_first", "pictures": 1}},
    )
    first, *_, smax = suite.cells
    # the suite's setting is every experiment's default, filled in with analyze's defaults
    assert first.analyze == {"episodes": 16, "pictures": 3, "attacks": list(DEFAULT_ATTACKS)}
    # an experiment's own setting replaces it
    assert smax.analyze == {"episodes": 32, "pictures": 1, "attacks": ["random:0.5", "rank_first"]}
    assert first.to_dict()["analyze"] == first.analyze  # recorded in cells.json
    assert type(first).from_dict(first.to_dict()) == first
    assert suite.fingerprint() != _suite().fingerprint()
    on = _suite(**{"experiments.1.analyze": True}).cells
    assert on[-1].analyze["episodes"] == 32 and on[0].analyze is None
    off = _suite(analyze=True, **{"experiments.1.analyze": False}).cells
    assert off[0].analyze is not None and off[-1].analyze is None
    none = _suite(analyze={"attacks": []}).cells[0]
    assert none.analyze["attacks"] == []


def test_suites_without_analyze_keep_their_canonical_form():
    from diamond_marl.bench.suite import Cell, load_suite

    # the keys cells.json always had: a running sweep's record must still match its suite
    old_keys = {"id", "env", "algo", "breaker", "seeds", "steps", "overrides", "transfer"}
    paper = load_suite(SUITES / "paper.yaml")
    assert all(set(c) == old_keys for c in paper.canonical()["cells"])
    for cell in _suite().cells + paper.cells:
        assert set(cell.to_dict()) - {"memory_gb"} == old_keys
        assert Cell.from_dict(cell.to_dict()) == cell and cell.analyze is None
    assert _suite(analyze=False).canonical() == _suite().canonical()
    assert _suite(analyze=None).fingerprint() == _suite().fingerprint()


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"analyze": {"episodes": 8, "epsiodes": 4, "seed": 1}},
            r"analyze: unknown key\(s\) 'epsiodes', 'seed'; allowed: episodes, attacks, pictures",
        ),
        (
            {"experiments.0.analyze": {"attacks": ["teleport"]}},
            r"experiments\[0\].analyze.attacks: unknown attack 'teleport'",
        ),
        ({"analyze": {"attacks": ["random:2"]}}, r"analyze.attacks: .*probability"),
        ({"analyze": {"attacks": ["random", "random"]}}, "lists random more than once"),
        ({"analyze": {"attacks": {"a": 1}}}, "analyze.attacks must be a list"),
        ({"analyze": {"episodes": 0}}, "analyze.episodes=0 must be an integer >= 1"),
        ({"analyze": {"pictures": -1}}, "analyze.pictures=-1 must be an integer >= 0"),
        ({"experiments.1.analyze": "yes"}, r"experiments\[1\].analyze must be true, false or"),
    ],
)
def test_invalid_analyze_names_the_bad_value(changes, message):
    with pytest.raises(ConfigError, match=message):
        _suite(**changes)


def test_shipped_suites_analyze_the_role_games_only():
    from diamond_marl.bench.suite import load_suite

    for name in ("quick", "diagnostics"):
        cells = load_suite(SUITES / f"{name}.yaml").cells
        role = [c for c in cells if c.env.startswith("role:")]
        assert role and all(c.analyze is not None for c in role), name
        assert all(c.analyze is None for c in cells if not c.env.startswith("role:")), name


def test_steps_accept_yaml_spellings():
    suite = parse_suite(yaml.safe_load("experiments: [{envs: smax:3m, algos: qmix, steps: 1e6}]"))
    assert suite.cells[0].steps == 1_000_000
    suite = parse_suite(yaml.safe_load("experiments: [{envs: smax:3m, algos: qmix, steps: 5_000}]"))
    assert suite.cells[0].steps == 5000


def test_out_dir_of_another_suite_is_refused(tmp_path):
    out = tmp_path / "out"
    assert check_out_dir(out, _suite()) is False  # nothing there yet
    out.mkdir()
    (out / "cells.json").write_text(json.dumps(_suite().canonical()))
    assert check_out_dir(out, _suite()) is True
    with pytest.raises(ConfigError, match="different suite .*changed: xor-n2_k2__mappo__none"):
        check_out_dir(out, _suite(**{"experiments.0.steps": 30_000}))
    with pytest.raises(ConfigError, match="different suite .*added: smax-3m__mappo__rank"):
        check_out_dir(out, _suite(**{"experiments.1.breakers": ["none", "rank"]}))
    with pytest.raises(ConfigError, match="suite 't', not 'u'"):
        check_out_dir(out, _suite(name="u"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not the output directory of a bench run"):
        check_out_dir(other, _suite())


def test_only_selects_by_substring():
    cells = _suite().cells
    assert [c.id for c in select(cells, ("smax",))] == ["smax-3m__mappo__none"]
    assert len(select(cells, ("__qmix__", "smax"))) == 5
    with pytest.raises(ConfigError, match="--only nothing matches no cell"):
        select(cells, ("nothing",))


@pytest.mark.parametrize("name", ["quick", "paper", "diagnostics", "mpe", "pogema"])
def test_shipped_suites_expand(name):
    from diamond_marl.bench.suite import load_suite

    suite = load_suite(SUITES / f"{name}.yaml")
    assert suite.name == name and suite.cells


def test_paper_suite_is_the_writeups_grid_under_the_original_rules():
    from diamond_marl.bench.suite import load_suite

    cells = load_suite(SUITES / "paper.yaml").cells
    assert {c.env for c in cells} == {
        "smax:3m",
        "smax:5m_vs_6m",
        "rware:tiny-4ag",  # the original game: collisions resolved, 500-step episodes
        "rware:large-8ag",
    }
    assert {(c.algo, c.breaker) for c in cells} == {
        (a, b) for a in ("qmix", "mappo") for b in ("none", "agent_id", "noise", "rank")
    }
    assert len(cells) == 4 * 2 * 4 and {c.seeds for c in cells} == {5}
    # the cut run of the 2-core machine (the --only list in the file) comes first, with one
    # gap: agent_id on rware:tiny-4ag (cut: see the file)
    local = ("smax-3m__", *(f"rware-tiny-4ag__mappo__{b}" for b in ("none", "noise", "rank")))
    ran = [c.id.startswith(local) for c in cells]
    assert sum(ran) == 11 and ran[:12] == [True] * 9 + [False] + [True] * 2
    assert cells[9].id == "rware-tiny-4ag__mappo__agent_id"


def test_the_2026_11_paper_results_are_their_suites_finished_cells():
    """Re-running the superseded paper suite (its copy in docs/results/paper-2026-11) finds
    every cell finished, under the environment name it ran (the rware cells say
    collisions=terminate)."""
    from diamond_marl.bench.suite import load_suite

    out = Path(__file__).resolve().parents[2] / "docs" / "results" / "paper-2026-11"
    suite = load_suite(out / "suite.yaml")
    assert check_out_dir(out, suite)
    for cell in suite.cells:
        record = json.loads((out / cell.id / "cell.json").read_text())
        assert record["env"] == record["summary"]["env"] == cell.env
        assert [t["env"] for t in record["transfer"]] == list(cell.transfer)


def test_bench_cli_reports_config_errors_with_status_2(tmp_path, capsys):
    from diamond_marl.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [{envs: ['xor:n=2,k=2'], algos: [mappo], breakers: [dimond]}]\n")
    assert main(["bench", str(bad), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown breaker" in err and "'dimond'" in err and "allowed:" in err
    assert not (tmp_path / "out").exists()


# The JAX-free tables above must agree with the JAX-side registries they stand for.


def test_every_registered_breaker_name_has_a_network_config():
    from diamond_marl.networks import breakers

    assert all(breakers.config_class(name).name == name for name in BREAKERS)
    assert breakers.BREAKERS is BREAKERS  # one list, read by both sides


def test_the_suite_check_reads_the_breaker_names_without_jax():
    code = (
        "import sys; import diamond_marl.breaker_names, diamond_marl.bench.suite, "
        "diamond_marl.bench.runs; print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_env_families_match_the_registry():
    from diamond_marl.envs import registry

    assert set(ENV_FAMILIES) == set(registry.families())
    for name in registry.list_envs():
        check_env_name(name)


def test_memory_hints_schedule_cells_but_do_not_change_the_suite():
    from collections import deque

    from diamond_marl.bench.executors import Job, next_job

    hinted = _suite(**{"experiments.0.memory_gb": 11})
    assert {c.memory_gb for c in hinted.cells} == {11.0, None}
    assert hinted.fingerprint() == _suite().fingerprint()  # a finished sweep's record matches
    big = [Job(c, Path(c.id)) for c in hinted.cells if c.memory_gb][:3]
    small = Job(hinted.cells[-1], Path("small"))  # no hint: always fits
    pending = deque([big[1], small, big[2]])
    # 11 + 11 > 20: the next big cell waits, the unhinted one after it starts
    assert next_job(pending, [big[0]], 20.0) is small and list(pending) == big[1:]
    assert next_job(pending, [big[0], small], 20.0) is None
    assert next_job(pending, [big[0]], 24.0) is big[1]  # both fit in 24 GB
    assert next_job(pending, [big[0]], None) is big[2]  # no budget: no limit
    assert next_job(deque([big[0]]), [], 5.0) is big[0]  # too big for the budget: runs alone
    assert next_job(deque(), [], 5.0) is None


def test_a_memory_hint_beyond_the_ray_cluster_is_refused():
    from diamond_marl.bench.executors import check_ray_memory

    cells = list(_suite(**{"experiments.0.memory_gb": 11}).cells)
    check_ray_memory(cells, 16e9)
    check_ray_memory(list(_suite().cells), 0.0)  # no hints: nothing to check
    with pytest.raises(ConfigError, match=r"memory_gb=11, more than the 8.0 GB memory resource"):
        check_ray_memory(cells, 8e9)


def test_bench_refuses_an_unwritable_out_before_anything_runs(tmp_path, capsys):
    from diamond_marl.cli import main

    suite = tmp_path / "ok.yaml"
    suite.write_text("experiments: [{envs: ['xor:n=2,k=2'], algos: [mappo], breakers: [none]}]\n")
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "x"
    assert main(["bench", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot create this directory" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "ok.yaml"]


def test_a_bare_suite_name_prefers_the_working_directory_then_the_package(tmp_path, monkeypatch):
    from diamond_marl.bench.cli import suite_path

    monkeypatch.chdir(tmp_path)
    assert suite_path("quick") == SUITES / "quick.yaml"
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "quick.yaml").write_text("experiments: []\n")
    assert suite_path("quick") == Path("suites") / "quick.yaml"
    with pytest.raises(ConfigError, match="shipped suites: diagnostics, mpe, paper, pogema, quick"):
        suite_path("nosuch")


def test_fleet_and_host_names_pass_the_suite_check():
    for name in (
        "mpe:spread,n=16,sense=2,density=0.75,group=3,radius=2",
        "rware:5x11-64ag,sense=2",
        "pz:mpe2.simple_spread_v3,N=3,max_cycles=26",
    ):
        check_env_name(name)
    # where a pz: env's workers run (python=) is not part of a cell's directory name
    ident = cell_id("pz:m.pogema_env,num_agents=8,python=$VENV/bin/python", "mappo", "none")
    assert ident == "pz-m.pogema_env_num_agents8__mappo__none"
    with pytest.raises(ConfigError, match="sense"):
        check_env_name("mpe:spread,n=3,sense=0")


def test_pz_cells_refuse_analysis_and_transfers_across_the_host_boundary():
    from diamond_marl.bench.cell import check_cells

    toy = "pz:diamond_marl.envs.host.toy:parallel_env,agents=3"
    exp = {"envs": [toy], "algos": ["mappo"], "steps": 1000}
    ok = parse_suite({"experiments": [{**exp, "transfer": [toy + ",horizon=12"]}]})
    assert check_cells(ok.cells) == []
    bad = parse_suite(
        {"experiments": [{**exp, "transfer": ["xor:n=2,k=2"], "analyze": {"episodes": 2}}]}
    )
    problems = check_cells(bad.cells)
    assert len(problems) == 2
    assert "cannot have analyze" in problems[0] and "to 'pz:' names only" in problems[1]
