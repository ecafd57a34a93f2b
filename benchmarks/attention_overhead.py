"""Cost of each symmetry breaker on the entity-attention torso, against ``none``, in one run.

Times a forward pass and a forward+backward pass (``value_and_grad`` of a policy loss) of
the agent network on realistic shapes, for every breaker, alternating with ``none`` inside
each repetition (breakers in a fresh random order each time) so that load from other
processes hits all of them alike; reports medians. One line per case::

    overhead <breaker> <env> <ratio>   (ratio = fwd+bwd time with breaker / with none)

followed by the forward-only ratio and the absolute times of ``none``. Each ratio is the
median over repetitions of one back-to-back pair (breaker, none) in alternating order.
Shapes come from the environment specs when ``diamond_marl.envs.make`` can build them, else
from the constants below (the output says which).

    .venv/bin/python benchmarks/attention_overhead.py [--batch 256] [--reps 20]
"""

from __future__ import annotations

from diamond_marl import setup_jax

# isort: split
import argparse
import random
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.types import EntityKind
from diamond_marl.networks import BREAKERS, AgentNetwork, AgentObs, NetworkConfig, make_breaker

setup_jax()  # the XLA flag the library needs, before JAX computes anything

# name -> (N agents, E tokens, F features, A actions, peer tokens, other-token kind)
FALLBACK = {
    "smax:5m_vs_6m": (5, 11, 13, 12, 4, EntityKind.ENEMY),
    "rware:large-8ag": (8, 16, 12, 5, 7, EntityKind.TASK),
}


def synthetic_obs(batch: int, n: int, e: int, f: int, a: int, peers: int, other: int) -> AgentObs:
    """Random tokens with the env's layout: self, ``peers`` peer tokens, then other entities."""
    rng = np.random.default_rng(0)
    kinds = np.full((n, e), int(other), np.int32)
    kinds[:, 0] = EntityKind.SELF
    kinds[:, 1 : 1 + peers] = EntityKind.PEER
    agent = np.full((n, e), -1, np.int32)
    for i in range(n):
        agent[i, 0] = i
        others = [j for j in range(n) if j != i][:peers]
        agent[i, 1 : 1 + len(others)] = others

    def tile(x: np.ndarray) -> jnp.ndarray:
        return jnp.asarray(np.broadcast_to(x, (batch,) + x.shape))

    return AgentObs(
        obs=jnp.asarray(rng.normal(size=(batch, n, e * f)), jnp.float32),
        entities=jnp.asarray(rng.normal(size=(batch, n, e, f)), jnp.float32),
        entity_mask=jnp.asarray(rng.random((batch, n, e)) < 0.9) | (jnp.arange(e) == 0),
        entity_kind=tile(kinds),
        entity_agent=tile(agent),
        action_mask=jnp.ones((batch, n, a), bool),
    )


def env_case(name: str, batch: int) -> tuple[AgentObs, tuple[int, ...], str]:
    """Inputs and ``action_entity`` for ``name``: from the env spec if possible."""
    n, e, f, a, peers, other = FALLBACK[name]
    action_entity = (-1,) * a
    try:
        from diamond_marl.envs import make

        spec = make(name).spec
        n, e, f = spec.num_agents, spec.num_entities, spec.entity_dim
        a, action_entity = spec.num_actions, tuple(spec.action_entity)
        peers = n - 1
        source = f"spec (N={n}, E={e}, F={f}, A={a})"
    except Exception as err:  # adapters may not exist yet: fall back, and say so
        source = f"fallback constants (N={n}, E={e}, F={f}, A={a}); make() failed: {err!r:.80}"
    return synthetic_obs(batch, n, e, f, a, peers, other), action_entity, source


def compiled_case(net: AgentNetwork, obs: AgentObs) -> tuple[Callable[[int], object], ...]:
    """``fwd(seed)`` and ``bwd(seed)`` for ``net`` on ``obs``, compiled and warmed up."""
    params = net.init(jax.random.key(0), obs)

    def logits(p, key):
        return net.apply(p, obs, key, 1000, "train").logits  # (B, N, A)

    def loss(p, key):
        return -jax.nn.log_softmax(logits(p, key))[..., 0].mean()

    fwd_jit, bwd_jit = jax.jit(logits), jax.jit(jax.value_and_grad(loss))

    def fwd(seed: int) -> object:
        return fwd_jit(params, jax.random.key(seed))

    def bwd(seed: int) -> object:
        return bwd_jit(params, jax.random.key(seed))

    for fn in (fwd, bwd):
        jax.block_until_ready(fn(0))
    return fwd, bwd


def timed(fn: Callable[[int], object], seed: int) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(seed))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="envs per call")
    parser.add_argument("--reps", type=int, default=20, help="timed pairs per case and pass")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--breakers", default=",".join(BREAKERS), help="comma-separated")
    parser.add_argument("--envs", default=",".join(FALLBACK), help="comma-separated")
    args = parser.parse_args()
    config = NetworkConfig(hidden=args.hidden, heads=args.heads, blocks=args.blocks)
    names = [b for b in args.breakers.split(",") if b and b != "none"]
    print(
        f"# attention_overhead: batch={args.batch} reps={args.reps} hidden={args.hidden} "
        f"heads={args.heads} blocks={args.blocks} jax={jax.__version__} "
        f"backend={jax.default_backend()} devices={jax.device_count()}"
    )
    print("# ratio = median over repetitions of (time with breaker / time with none), each pair")
    print("# timed back to back in alternating order; main column fwd+bwd, then fwd alone")
    for env_name in args.envs.split(","):
        obs, action_entity, source = env_case(env_name, args.batch)
        print(f"# {env_name}: shapes from {source}, batch {args.batch}")
        cases = {
            name: compiled_case(AgentNetwork(config, make_breaker(name), action_entity), obs)
            for name in ["none"] + names
        }
        ratios = {(name, p): [] for name in names for p in (0, 1)}
        base = {0: [], 1: []}
        for rep in range(args.reps):
            order = list(names)
            random.Random(rep).shuffle(order)
            for name in order:
                for p in (0, 1):  # 0: forward, 1: forward + backward
                    pair = [("none", cases["none"][p]), (name, cases[name][p])]
                    if rep % 2:
                        pair.reverse()
                    t = {who: timed(fn, rep) for who, fn in pair}
                    ratios[name, p].append(t[name] / t["none"])
                    base[p].append(t["none"])
        base_f, base_b = (1e3 * statistics.median(base[p]) for p in (0, 1))
        for name in names:
            r_f, r_b = (statistics.median(ratios[name, p]) for p in (0, 1))
            print(
                f"overhead {name} {env_name} {r_b:.3f}   "
                f"(fwd {r_f:.3f}; none: fwd {base_f:.1f} ms, fwd+bwd {base_b:.1f} ms)"
            )


if __name__ == "__main__":
    main()
