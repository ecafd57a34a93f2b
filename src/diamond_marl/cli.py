"""Command line: ``diamond-marl envs | env-check | train | eval | demo | bench | report |
analyze | replay``. Importing it loads no JAX (the benchmark launcher relies on that).

Configuration errors (an unknown environment, an impossible parameter) print one line naming
the bad value and what is allowed, and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from diamond_marl import setup_jax
from diamond_marl.analysis import cli as analysis_cli
from diamond_marl.bench import cli as bench_cli
from diamond_marl.errors import ConfigError


def _cmd_envs(args: argparse.Namespace) -> int:
    from diamond_marl.envs import registry

    header = (
        f"{'name':34} {'N':>3} {'obs':>6} {'entities (E x F)':>17} {'A':>3} {'state':>6}  success"
    )
    print(header)
    print("-" * len(header))
    for family in registry.families().values():
        for name in family.listed:
            s = registry.make(name).spec
            print(
                f"{s.name:34} {s.num_agents:>3} {s.obs_dim:>6} "
                f"{f'{s.num_entities} x {s.entity_dim}':>17} {s.num_actions:>3} {s.state_dim:>6}  "
                f"{s.success_metric or '-'}"
            )
    print("\nFamilies (parameters go after the name, e.g. xor:n=3,k=3):")
    for family in registry.families().values():
        print(f"  {family.name:8} {family.summary}")
    return 0


def _cmd_env_check(args: argparse.Namespace) -> int:
    from diamond_marl.envs import make
    from diamond_marl.envs.check import env_check

    if args.num_envs < 1 or args.steps < 1:
        raise ConfigError(f"--num-envs={args.num_envs} and --steps={args.steps} must both be >= 1")
    status = 0
    for name in args.names:
        env = make(name)
        report = env_check(env, num_envs=args.num_envs, steps=args.steps, seed=args.seed)
        verdict = "OK" if not report.problems else "FAILED"
        success = (
            "" if report.success is None else f"  {env.spec.success_metric}={report.success:.3f}"
        )
        print(
            f"{report.name}: {verdict}  env_sps={report.steps_per_s:,.0f} "
            f"({args.num_envs} envs x {args.steps} steps, compile {report.compile_s:.1f}s)  "
            f"episodes={report.episodes}  random-policy return={report.mean_return:.3f}{success}"
            f"  identical-obs steps={report.symmetric:.1%} starts={report.tied_starts:.1%}"
        )
        for problem in report.problems:
            print(f"  - {problem}")
        status |= bool(report.problems)
    return status


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from diamond_marl.algos.config import parse_overrides, resolve
    from diamond_marl.algos.runner import TrainingDiverged, default_out, train
    from diamond_marl.atomic import check_writable_dir

    overrides = parse_overrides(args.overrides)
    if args.resume and overrides:
        raise ConfigError(
            f"--resume continues a run with its saved config; drop the overrides {overrides}"
        )
    cfg = None if args.resume else resolve(overrides)
    if cfg is not None:
        check_writable_dir(cfg.out or default_out(cfg), "out=")
    try:
        summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as err:
        print(f"diamond-marl: training stopped: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        out = args.resume or (cfg.out if cfg else "")
        print(f"\ninterrupted; continue with: diamond-marl train --resume {out}", file=sys.stderr)
        return 130
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from diamond_marl.algos.config import parse_overrides
    from diamond_marl.algos.saved_run import evaluate_run

    opts = parse_overrides(args.overrides)
    unknown = set(opts) - {"env", "episodes"}
    if unknown:
        raise ConfigError(f"unknown eval option(s) {sorted(unknown)}; allowed: env, episodes")
    episodes = opts.get("episodes")
    if episodes is not None and not episodes.isdigit():
        raise ConfigError(f"episodes={episodes!r} must be a positive integer")
    summary = evaluate_run(args.run_dir, opts.get("env"), int(episodes) if episodes else None)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from diamond_marl.envs.reference import enumerate_xor, measure_reference, reference_values

    print("== Registered environments ==")
    _cmd_envs(args)
    print("\n== Diagnostic games: closed-form values beside measured ones ==")
    print("(mean team reward per step of fixed policies, 4096 episodes each)")
    print(f"{'game':20} {'policy':22} {'analytic':>9} {'measured':>9}")
    worst = 0.0
    for name in ("xor:n=2,k=2", "xor:n=3,k=3", "xor:n=4,k=4", "role:n=4,k=4,t=10"):
        analytic, measured = reference_values(name), measure_reference(name)
        for policy, value in measured.items():
            worst = max(worst, abs(value - analytic[policy]))
            print(f"{name:20} {policy:22} {analytic[policy]:9.4f} {value:9.4f}")
    exact = enumerate_xor("xor:n=3,k=3")
    print(f"exact enumeration, xor:n=3,k=3, private dice: {exact:.6f} (3!/3^3 = {6 / 27:.6f})")
    print(f"largest |analytic - measured| = {worst:.4f} (sampling error at 4096 episodes ~ 0.01)")
    if worst >= 0.03:
        return 1
    return _demo_suite(args)


def _demo_suite(args: argparse.Namespace) -> int:
    """The quick benchmark suite: the symmetry trap and the ways out, with its report."""
    import json
    from pathlib import Path

    from diamond_marl.bench.cli import suite_path
    from diamond_marl.bench.launch import Options, run_bench

    out = Path(args.out) / "quick"
    print(f"\n== The quick suite (shipped quick.yaml): trained, then reported -> {out} ==")
    status = run_bench(Options(suite=suite_path("quick"), out=out, parallel=2))
    report = out / "report" / "report.json"
    if report.exists():
        rows = json.loads(report.read_text())["rows"]
        print(f"\n{'env':22} {'algo':6} {'breaker':13} {'metric':13} {'IQM [95% CI]':>24} seeds")
        for r in rows:
            ci = f"{r['iqm']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            print(
                f"{r['env']:22} {r['algo']:6} {r['breaker']:13} {r['metric']:13} {ci:>24} "
                f"{r['seeds']}"
            )
        print(f"\nfull report: {report.parent / 'report.html'} (and report.md)")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diamond-marl",
        description="Cooperative MARL in JAX: the symmetry trap and Diamond Attention.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("envs", help="list every registered environment with its shapes")
    p.set_defaults(func=_cmd_envs)
    p = sub.add_parser(
        "env-check",
        help="random rollouts: API invariants and env steps/s",
        description="Random rollouts of each environment: API invariants, env-only steps/s, "
        "the random policy's return, and identical-obs steps: the share of steps in which two "
        "agents with a choice of action see exactly the same observation (where the symmetry "
        "trap can bite; 0% means observations already tell the agents apart).",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="environment names, e.g. smax:3m")
    p.add_argument("--num-envs", type=int, default=256, help="vmapped environments")
    p.add_argument("--steps", type=int, default=100, help="steps per environment")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_env_check)
    p = sub.add_parser(
        "train",
        help="train a run: key=value overrides, e.g. algo=mappo env=smax:3m breaker=rank seeds=3",
        description="Overrides are key=value (e.g. algo=qmix env=smax:3m breaker=rank seeds=3 "
        "steps=1000000 out=runs/x ppo.epochs=2 breaker.eval_rank=false).",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("eval", help="re-evaluate a run's checkpoint (optionally on another env)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser(
        "demo", help="the main job: environments, closed-form checks, the quick suite and report"
    )
    p.add_argument("--out", default="runs/demo", help="where the demo's runs and report go")
    p.set_defaults(func=_cmd_demo)
    bench_cli.add_parser(sub)
    bench_cli.add_report_parser(sub)
    analysis_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    setup_jax()  # before any command computes with JAX
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may stand anywhere among the options of train and eval
    if args.command in ("train", "eval"):
        args.overrides = [a for a in extra if "=" in a and not a.startswith("-")]
        extra = [a for a in extra if a not in args.overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"diamond-marl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
