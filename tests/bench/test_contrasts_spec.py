"""A suite's ``contrasts:``: parsed and checked without JAX, one-line errors, exit status 2."""

from __future__ import annotations

import pytest
import yaml

from diamond_marl.bench.contrasts_spec import Side, parse_contrasts
from diamond_marl.bench.suite import load_suite, parse_suite
from diamond_marl.breaker_names import BREAKERS
from diamond_marl.cli import main
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import SUITES, package_file

EXPERIMENTS = [{"envs": ["xor:n=2,k=2"], "algos": ["mappo"], "breakers": ["none", "rank"]}]


def test_entries_parse_in_order_with_executions():
    (first, second) = parse_contrasts(
        [
            {"breaker": "rank", "against": ["none", "none@sampled"], "writeup": True},
            {"breaker": "rank@sampled", "against": "none@sampled"},
        ],
        {"none", "rank"},
    )
    assert first.breaker == Side("rank") and first.writeup
    assert [s.label for s in first.against] == ["none", "none@sampled"]
    assert second.breaker.label == "rank@sampled" and not second.writeup
    assert second.against == (Side("none", "sampled"),)
    assert parse_contrasts(None) == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            [{"breaker": "dimond", "against": "none"}],
            "contrasts[0].breaker: unknown breaker 'dimond'",
        ),
        ([{"breaker": "rank", "against": ["none", "rnak"]}], "unknown breaker 'rnak'; allowed:"),
        ([{"breaker": "rank", "against": "none@greedily"}], "unknown execution 'greedily'"),
        (
            [{"breaker": "rank", "against": []}],
            "contrasts[0].against must be a name or a non-empty",
        ),
        ([{"breaker": "rank"}], "contrasts[0] must be a mapping with 'breaker' and 'against'"),
        ([{"breaker": "rank", "against": "none", "vs": 1}], "unknown key(s) 'vs'"),
        ([{"breaker": "rank", "against": ["none", "none"]}], "contrasts[0].against repeats none"),
        ([{"breaker": "rank", "against": "rank"}], "contrasts[0].against repeats rank"),
        ([{"breaker": "rank", "against": "none", "writeup": "yes"}], "writeup must be true or"),
        ({"breaker": "rank"}, "contrasts must be a list"),
    ],
)
def test_bad_entries_are_one_line_naming_the_value(value, message):
    with pytest.raises(ConfigError) as err:
        parse_contrasts(value)
    assert message in str(err.value) and "\n" not in str(err.value)
    if "unknown breaker" in message:
        assert ", ".join(BREAKERS) in str(err.value)


def test_a_side_must_be_trained_by_the_suite():
    data = {"experiments": EXPERIMENTS, "contrasts": [{"breaker": "rank", "against": "dice"}]}
    with pytest.raises(ConfigError, match="breaker 'dice' is trained by no experiment"):
        parse_suite(data)


def test_contrasts_do_not_change_what_the_suite_trains():
    plain = parse_suite({"experiments": EXPERIMENTS})
    asked = parse_suite(
        {"experiments": EXPERIMENTS, "contrasts": [{"breaker": "rank", "against": "none"}]}
    )
    assert asked.cells == plain.cells and asked.fingerprint() == plain.fingerprint()
    assert plain.contrasts == () and asked.contrasts[0].against == (Side("none"),)


def test_shipped_suites_say_what_to_contrast_and_only_paper_asks_for_the_writeup():
    for name in ("paper", "symmetry", "symmetry-qmix", "quick", "mpe", "diagnostics"):
        suite = load_suite(package_file(SUITES, f"{name}.yaml"))
        assert suite.contrasts, name
        assert any(c.writeup for c in suite.contrasts) == (name == "paper"), name


def test_an_unknown_breaker_in_contrasts_is_status_2_from_bench_and_report(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    data = {"experiments": EXPERIMENTS, "contrasts": [{"breaker": "rank", "against": "nonee"}]}
    bad.write_text(yaml.safe_dump(data))
    assert main(["bench", str(bad), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown breaker 'nonee'; allowed: none, agent_id" in err and len(err.splitlines()) == 1
    (tmp_path / "runs").mkdir()
    assert main(["report", str(tmp_path / "runs"), "--suite", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown breaker 'nonee'" in err and len(err.splitlines()) == 1
