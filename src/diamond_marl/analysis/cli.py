"""The ``analyze`` and ``replay`` commands; ``add_parsers(subparsers)`` registers both."""

from __future__ import annotations

import argparse
import json


def _cmd_analyze(args: argparse.Namespace) -> int:
    from diamond_marl.analysis.analyze import analyze

    attacks = [a for a in (args.attacks or "").split(",") if a] if args.attacks else None
    kwargs = {} if attacks is None else {"attacks": attacks}
    result = analyze(
        args.run_dir,
        episodes=args.episodes,
        out=args.out,
        pictures=args.pictures,
        seed_index=args.seed_index,
        transfer=args.transfer,
        cost=args.cost,
        **kwargs,
    )
    m = result["metrics"]
    keys = (
        "snd",
        "js",
        "role_entropy",
        "role_entropy_episode",
        "role_persistence",
        "return",
        "won",
    )
    print(json.dumps({k: m[k] for k in keys}, indent=2))
    for row in result["adversarial"]["attacks"]:
        if row["applies"]:
            print(
                f"attack {row['attack']}: return {row['return']:.3f} "
                f"(drop {row['drop_return']:+.3f}), won {row['won']:.3f} "
                f"(drop {row['drop_won']:+.3f})"
            )
        else:
            print(f"attack {row['attack']}: n/a ({row['reason']})")
    for row in result.get("transfer", {}).get("rows", []):
        score = f"return {row['return']:.3f}" if "return" in row else ""
        print(f"transfer {row['env']}: {row['status']} {score}".rstrip())
    print("wrote " + ", ".join(result["files"]))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from diamond_marl.analysis.replay import replay

    result = replay(
        args.run_dir, args.episode_key, env=args.env, seed_index=args.seed_index, out=args.out
    )
    print(
        f"replay {args.run_dir} env {result.env} seed index {result.seed_index} "
        f"episode key {result.episode_key}"
    )
    print(result.table())
    print(f"wrote {result.timeline}")
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``analyze`` and ``replay`` on the main parser's subcommands."""
    p = subparsers.add_parser(
        "analyze",
        help="specialisation metrics, role timelines, attention maps, adversarial/transfer tables",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--episodes", type=int, default=32, help="episodes per seed (keys 0..N-1)")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/analysis)")
    p.add_argument("--pictures", type=int, default=3, help="episodes drawn (timeline, attention)")
    p.add_argument("--seed-index", type=int, default=0, help="which seed the pictures show")
    p.add_argument(
        "--attacks",
        default=None,
        help="comma-separated: noise:F, rank_first, rank_last, random[:p] "
        "(default noise:5,rank_first,rank_last,random)",
    )
    p.add_argument("--transfer", nargs="+", metavar="ENV", help="also evaluate on these envs")
    p.add_argument("--cost", default=None, help="saved output of benchmarks/attention_overhead.py")
    p.set_defaults(func=_cmd_analyze)

    p = subparsers.add_parser("replay", help="re-run one execution-mode episode from its key")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--episode-key", type=int, required=True, help="integer K: PRNGKey(K)")
    p.add_argument("--env", default=None, help="another environment (default the run's)")
    p.add_argument("--seed-index", type=int, default=0, help="which of the run's seeds")
    p.add_argument("--out", default=None, help="folder for the PNG (default RUN_DIR/analysis)")
    p.set_defaults(func=_cmd_replay)
