"""The package installed from a wheel, not from the source tree, does its jobs.

Builds a wheel from a copy of the project (the checkout stays clean), installs it without
dependencies into a fresh virtual environment whose dependencies come from this one (a
``.pth`` file, added after the install so pip never sees this environment's copy), and
runs the installed ``diamond-marl`` from a folder outside the repository: a dry run of a
shipped suite (package data) and a report whose Cost section and write-up table come from
package data too. Needs a build backend here (setuptools >= 70.1 builds wheels itself; it
is pinned in requirements.lock); nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "docs" / "results" / "paper-2026-11"
CELLS = ("smax-3m__qmix__none", "smax-3m__qmix__rank")


def _setuptools_builds_wheels() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    if not _setuptools_builds_wheels():
        pytest.skip("needs setuptools >= 70.1 (requirements.lock) to build a wheel offline")
    root = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    source = root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist),
          str(source)], root, env)  # fmt: skip
    (wheel,) = dist.glob("diamond_marl-*.whl")
    prefix = root / "venv"
    venv.EnvBuilder(with_pip=False).create(prefix)
    python = prefix / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
         root, env)  # fmt: skip
    # only now: this environment's site-packages for the dependencies, after the venv's own
    # (so the wheel's diamond_marl wins; CI's .venv lies inside the repository, so no path
    # filter on that). Path lines are not processed as site dirs: an editable install's
    # hook stays out.
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib], root, env).stdout.strip())
    deps = [
        p for p in dict.fromkeys(sys.path) if Path(p).name in ("site-packages", "dist-packages")
    ]
    deps = [p for p in deps if Path(p).is_dir()]
    (site / "zz_dependencies.pth").write_text("\n".join(deps) + "\n")
    outside = root / "elsewhere"
    outside.mkdir()
    return {"python": python, "bin": prefix / "bin", "cwd": outside, "env": env, "wheel": wheel}


@pytest.mark.slow
def test_the_wheel_ships_its_data_files(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for shipped in ("suites/quick.yaml", "suites/paper.yaml", "data/writeup.yaml",
                    "data/attention_overhead.txt", "configs/algos/mappo.yaml"):  # fmt: skip
        assert f"diamond_marl/{shipped}" in names


@pytest.mark.slow
def test_the_installed_package_is_not_the_source_tree(installed):
    code = "import diamond_marl; print(diamond_marl.__file__)"
    out = _run([str(installed["python"]), "-c", code], installed["cwd"], installed["env"])
    where = Path(out.stdout.strip()).resolve()
    assert where.is_relative_to(installed["python"].parent.parent.resolve())
    assert not where.is_relative_to(REPO)


@pytest.mark.slow
def test_installed_bench_dry_run_finds_the_shipped_suite(installed):
    cli = str(installed["bin"] / "diamond-marl")
    out = _run([cli, "bench", "quick", "--dry-run"], installed["cwd"], installed["env"])
    assert "suite quick: 8 cells, 0 finished" in out.stdout
    assert "todo  xor-n2_k2__mappo__rank" in out.stdout
    assert not (installed["cwd"] / "runs").exists()  # a dry run writes nothing


@pytest.mark.slow
@pytest.mark.skipif(not PAPER.is_dir(), reason="needs the committed paper results")
def test_installed_report_reads_only_the_runs_and_package_data(installed):
    runs = installed["cwd"] / "runs"
    for cell in CELLS:
        shutil.copytree(PAPER / cell, runs / cell, ignore=shutil.ignore_patterns("eval"))
    # the suite file asks for the write-up's table (its `contrasts:`), as the sweep left it
    shutil.copy(PAPER / "suite.yaml", runs / "suite.yaml")
    cli = str(installed["bin"] / "diamond-marl")
    _run([cli, "report", "runs"], installed["cwd"], installed["env"])
    md = (runs / "report" / "report.md").read_text()
    assert "## The write-up's table beside ours" in md and "AINews article on arXiv" in md
    assert "## Cost" in md and "`diamond_marl/data/attention_overhead.txt`" in md
    rows = json.loads((runs / "report" / "report.json").read_text())["rows"]
    assert [(r["algo"], r["breaker"], r["seeds"]) for r in rows] == [
        ("qmix", "none", 5),
        ("qmix", "rank", 5),
    ]
    assert (runs / "report" / "plots" / "final-smax-3m-qmix.png").is_file()
