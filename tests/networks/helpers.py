"""Shared helpers for the network tests: tiny synthetic observations and networks."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.types import EntityKind
from diamond_marl.networks import AgentNetwork, AgentObs, NetworkConfig, make_breaker

TINY = NetworkConfig(hidden=16, heads=2, blocks=1, outputs=("policy", "q"), target_features=8)
F, A = 5, 4
# breaker -> the ``tiny_params`` family whose parameters it uses
BREAKERS_PARAMS = {
    "none": "noise",
    "agent_id": "agent_id",
    "random_input": "random_input",
    "sampled": "noise",
    "noise": "noise",
    "rank": "noise",
    "noise+rank": "noise",
    "dice": "noise",
    "dropout": "noise",
}


def peer_table(n: int, peers: int, e: int) -> np.ndarray:
    """entity_agent (N, E): token 0 = self, tokens 1..peers = the other agents in order."""
    table = np.full((n, e), -1, np.int32)
    for i in range(n):
        table[i, 0] = i
        others = [j for j in range(n) if j != i][:peers]
        table[i, 1 : 1 + len(others)] = others
    return table


def make_obs(
    n: int = 3,
    others: int = 2,
    batch: tuple[int, ...] = (2,),
    seed: int = 0,
    identical: bool = False,
    f: int = F,
    a: int = A,
) -> AgentObs:
    """Self + (n - 1) peer tokens + ``others`` enemy tokens per agent.

    ``identical``: every agent sees exactly the same token features (the symmetric case).
    """
    e = n + others
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=batch + (n, e, f)).astype(np.float32)
    if identical:
        feats = np.broadcast_to(feats[..., :1, :, :], feats.shape).copy()
    kinds = np.full((n, e), int(EntityKind.ENEMY), np.int32)
    kinds[:, 0] = EntityKind.SELF
    kinds[:, 1:n] = EntityKind.PEER
    agent = peer_table(n, n - 1, e)

    def tile(x: np.ndarray) -> jnp.ndarray:
        return jnp.asarray(np.broadcast_to(x, batch + x.shape))

    return AgentObs(
        obs=jnp.asarray(feats.reshape(batch + (n, e * f))),
        entities=jnp.asarray(feats),
        entity_mask=jnp.ones(batch + (n, e), bool),
        entity_kind=tile(kinds),
        entity_agent=tile(agent),
        action_mask=jnp.ones(batch + (n, a), bool),
    )


def all_same_obs(n: int = 3, e: int = 5, batch: tuple[int, ...] = (2,)) -> AgentObs:
    """Every token of every agent identical, same kind: nothing for logit noise to re-weight."""
    base = make_obs(n, e - n, batch)
    token = jnp.linspace(-1.0, 1.0, F)
    return base._replace(
        entities=jnp.broadcast_to(token, base.entities.shape),
        entity_kind=jnp.zeros_like(base.entity_kind),
    )


def build(breaker: str, config: NetworkConfig = TINY, **overrides) -> AgentNetwork:
    return AgentNetwork(config, make_breaker(breaker, **overrides), (-1,) * A)


@functools.cache
def jitted(net: AgentNetwork, mode: str):
    """``f(params, obs, key, step) -> NetOut``, one compiled function per (net, mode) per run."""
    return jax.jit(lambda p, o, k, s: net.apply(p, o, k, s, mode))


@functools.cache
def tiny_params(family: str = "noise") -> dict:
    """Parameters of the TINY network, initialised once per test run.

    ``noise`` parameters (the torso plus ``log_sigma``) also serve none, sampled, rank and
    dice, whose parameters are the same arrays without ``log_sigma``; agent_id and
    random_input widen the token features and need their own.
    """
    return jax.jit(build(family).init)(jax.random.key(1), make_obs())


def same(a: jnp.ndarray, b: jnp.ndarray, rounding: float = 1e-5) -> bool:
    """Equal up to float rounding: for outputs of two different XLA programs.

    A breaker switched off (sigma = 0, dropout p = 0, rank's bottom agent) and ``none`` are
    different programs, which XLA may fuse and sum in another order on another CPU. What a
    live breaker changes (logit noise at sigma ~ 1, a hidden peer) moves logits by ~1e-1.
    """
    return float(jnp.max(jnp.abs(a - b))) <= rounding


def agents_identical(x: jnp.ndarray) -> bool:
    """x (..., N, ...) with agents on axis 1 (batch dims = 1): every agent equals agent 0."""
    return bool(jnp.array_equal(x, jnp.broadcast_to(x[:, :1], x.shape)))


def agents_spread(x: jnp.ndarray) -> float:
    """Largest difference between any agent's output and agent 0's."""
    return float(jnp.abs(x - x[:, :1]).max())
