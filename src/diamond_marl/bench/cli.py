"""``diamond-marl bench SUITE`` (run a benchmark suite, see src/diamond_marl/suites/README.md) and
``diamond-marl report RUNS_DIR``. Light on purpose: nothing here imports JAX, pandas or
matplotlib until a command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from diamond_marl.errors import ConfigError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``bench`` subcommand on an argparse subparsers object."""
    from diamond_marl.package_data import shipped_suites

    p = subparsers.add_parser(
        "bench",
        help="run a benchmark suite: env x algo x breaker cells, all seeds of a cell in one run",
        description="Run every cell of SUITE (a YAML file, or the name of a shipped suite: "
        f"{', '.join(shipped_suites())}; format: src/diamond_marl/suites/README.md), skipping "
        "finished ones, so re-running an interrupted sweep finishes the rest. Exit status: "
        "0 all finished, 1 some cell failed (its log path is printed), 2 configuration error.",
    )
    p.add_argument(
        "suite",
        metavar="SUITE",
        help="suite file, or a name: ./suites/NAME.yaml if it exists, else a shipped suite",
    )
    p.add_argument("--out", metavar="DIR", help="output directory (default runs/bench/<name>)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument(
        "--parallel",
        metavar="K",
        type=int,
        help="cells at a time (local: default 1; ray: default all, as CPUs allow)",
    )
    p.add_argument("--address", metavar="ADDR", help="Ray cluster (default: a local instance)")
    p.add_argument(
        "--cpus-per-cell", metavar="C", type=float, default=1.0, help="Ray CPUs per cell task"
    )
    p.add_argument(
        "--memory-gb",
        metavar="GB",
        type=float,
        help="local: start no cell whose suite memory_gb hint would take the running cells' "
        "hints past GB (default: 80%% of the machine's RAM)",
    )
    p.add_argument(
        "--only",
        metavar="SUBSTRING",
        action="append",
        default=[],
        help="run only cells whose id contains SUBSTRING (repeatable)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.set_defaults(func=run_command)
    return p


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report RUNS_DIR [--out DIR] [--cost FILE]`` (see ``bench.report``)."""
    p = subparsers.add_parser(
        "report",
        help="tables, plots and marl-eval JSON from a directory of runs",
        description="Aggregate every run under RUNS_DIR (IQM, 95% bootstrap CIs, probability "
        "of improvement), lead with the suite's contrasts (its contrasts: list, paired by seed), "
        "add the write-up's table if the suite asks for it, the role analysis of analysed runs "
        "and the per-breaker cost, and write report.{json,md,html}, marl_eval.json and plots/ "
        "into RUNS_DIR/report (or --out). Exit status 2 on a configuration error.",
    )
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="a sweep's directory or one run's")
    p.add_argument("--out", metavar="DIR", default=None, help="default: RUNS_DIR/report")
    p.add_argument(
        "--cost",
        metavar="FILE",
        default=None,
        help="saved output of benchmarks/attention_overhead.py for the Cost section "
        "(default: the one shipped with the package, diamond_marl/data/attention_overhead.txt)",
    )
    p.add_argument(
        "--suite",
        metavar="SUITE",
        default=None,
        help="suite file (or shipped suite name) whose contrasts: to report (default: "
        "RUNS_DIR/suite.yaml, the copy `bench` keeps)",
    )
    p.set_defaults(func=run_report_command)
    return p


def run_report_command(args: argparse.Namespace) -> int:
    """``diamond-marl report``: write the report and print the paths written."""
    from diamond_marl.bench.report import write_report

    suite = None if args.suite is None else suite_path(args.suite)
    for name, path in write_report(args.runs_dir, args.out, cost=args.cost, suite=suite).items():
        print(f"{name:40} {path}")
    return 0


def suite_path(text: str) -> Path:
    """A path, or a bare name: ``suites/<name>.yaml`` in the working directory if it exists,
    else the suite of that name shipped with the package (package data, see package_data)."""
    from diamond_marl.package_data import SUITES, package_file, shipped_suites

    path = Path(text)
    if path.exists() or path.suffix or "/" in text:
        return path
    for candidate in (Path(SUITES) / f"{text}.yaml", package_file(SUITES, f"{text}.yaml")):
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"suite {text!r}: no such file, nor {SUITES}/{text}.yaml here; shipped suites: "
        f"{', '.join(shipped_suites())}"
    )


def run_command(args: argparse.Namespace) -> int:
    from diamond_marl.bench.launch import Options, run_bench

    opts = Options(
        suite=suite_path(args.suite),
        out=args.out,
        executor=args.executor,
        parallel=args.parallel,
        address=args.address,
        cpus_per_cell=args.cpus_per_cell,
        memory_gb=args.memory_gb,
        only=tuple(args.only),
        dry_run=args.dry_run,
        report=not args.no_report,
    )
    try:
        return run_bench(opts)
    except KeyboardInterrupt:
        print(
            "\ninterrupted; run the same command again to finish the remaining cells "
            "(finished cells are kept, interrupted ones resume from their last checkpoint)",
            file=sys.stderr,
        )
        return 130
