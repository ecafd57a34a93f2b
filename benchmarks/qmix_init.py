"""QMIX at initialisation: how far the mixed Q starts from the returns, per environment and seed.

For each environment and seed: the agent network and the QMIX mixer are initialised as a
training run initialises them (the environment's config), random valid actions play
``--envs`` x ``--steps`` states, and the script prints the agents' greedy Q (mean) and the
mixed Q of the greedy joint action (mean, std, max |.|) over those states::

    qmix_init <env> seed=<s> agent_q=<mean> q_tot=<mean> std=<std> max_abs=<max>

It uses only ``make_network``, ``make_mixer`` and ``network_config``, so it also runs against
an older checkout of the library (``PYTHONPATH=<checkout>/src``) to compare initialisations.

Run: ``.venv/bin/python benchmarks/qmix_init.py`` (default: smax:3m, smax:5m_vs_6m,
rware:tiny-4ag, 5 seeds).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from diamond_marl import setup_jax
from diamond_marl.algos.common import build_setup, network_config
from diamond_marl.algos.config import parse_overrides, resolve
from diamond_marl.envs.check import make_rollout
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.mixers import make_mixer
from diamond_marl.networks.network import make_network

setup_jax()  # the XLA flag the library needs, before JAX computes anything


def measure(
    env_name: str, seeds: int, envs: int, steps: int, extra: dict
) -> list[dict[str, float]]:
    """Per seed (one compiled program for all): agent Q mean, Q_tot mean, std and max |.|."""
    cfg = resolve({"algo": "qmix", "env": env_name, **extra})
    setup = build_setup(cfg)
    net = make_network(setup.env.spec, setup.breaker, network_config(cfg, ("q",)))
    mixer = make_mixer("qmix", embed_dim=cfg.q.mixer_hidden, init_scale=cfg.q.mixer_init_scale)
    play = make_rollout(setup.env, envs, steps)  # random valid actions, auto-reset

    def run(key):
        net_key, mix_key, play_key = jax.random.split(key, 3)
        traj = play(play_key)  # (T, B, ...)
        obs = from_timestep(traj)  # (T, B, ...)
        agent = net.init(net_key, jax.tree.map(lambda x: x[0], obs))
        params = mixer.init(mix_key, jnp.zeros((obs.num_agents,)), traj.state[0, 0])
        greedy = jnp.max(mask_logits(net.apply(agent, obs, None, 0, "eval").q, obs.action_mask), -1)
        q_tot = mixer.apply(params, greedy, traj.state)  # (T, B)
        return greedy.mean(), q_tot.mean(), q_tot.std(), jnp.abs(q_tot).max()

    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    out = jax.jit(jax.vmap(run))(keys)
    names = ("agent_q", "q_tot", "std", "max_abs")
    return [{n: float(v[s]) for n, v in zip(names, out, strict=True)} for s in range(seeds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--envs-list", nargs="+", default=["smax:3m", "smax:5m_vs_6m", "rware:tiny-4ag"]
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--envs", type=int, default=64, help="vmapped environments")
    parser.add_argument("--steps", type=int, default=50, help="random-play steps")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extra = parse_overrides(args.set)
    for env_name in args.envs_list:
        for seed, m in enumerate(measure(env_name, args.seeds, args.envs, args.steps, extra)):
            print(
                f"qmix_init {env_name} seed={seed} agent_q={m['agent_q']:.3f} "
                f"q_tot={m['q_tot']:.2f} std={m['std']:.2f} max_abs={m['max_abs']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
