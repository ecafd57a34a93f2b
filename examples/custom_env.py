"""Your own environment in a page: a JAX game the library does not ship, trained by name.

``gather:n=N,size=L`` - N agents on an endless line start on random cells 0..L-1 and must
meet. Each step every agent moves left, stays or moves right (actions 0, 1, 2); the team
reward is minus the team's spread (rightmost minus leftmost cell, divided by L - 1); an
episode lasts L steps and is won when all agents end on one cell. Agents see where the others
are relative to themselves, nothing absolute, so moving all together gains nothing.
``flat=1`` gives the network a flat observation instead of entity tokens, to show the other
way in. docs/custom-env.md walks through this file.

    python examples/custom_env.py --steps 30000 --out runs/gather   # train MAPPO + rank

From the command line (the variable makes every diamond-marl process import this module):

    export PYTHONPATH=examples DIAMOND_MARL_ENV_MODULES=custom_env
    diamond-marl train algo=qmix env=gather:n=3 breaker=noise steps=30000 out=runs/g-qmix
    diamond-marl eval runs/gather env=gather:n=5        # the same policy with five agents
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
from flax import struct

from diamond_marl import setup_jax
from diamond_marl.envs import Env, EnvSpec, TimeStep, registry
from diamond_marl.envs.tokens import chunk_shape, flat_timestep, team_tables
from diamond_marl.errors import ConfigError

setup_jax()  # the XLA flag the library needs, before JAX computes anything


@struct.dataclass
class GatherState:
    pos: jax.Array  # (N,) int32 cell of each agent
    t: jax.Array  # () int32 steps taken


class Gather(Env):
    """N agents on an endless line; team reward -spread / (L - 1); won if all meet."""

    def __init__(self, n: int, size: int, flat: bool) -> None:
        self.n, self.size, self.flat = n, size, flat
        e, f = chunk_shape(n - 1) if flat else (n, 1)  # F = 1: the offset from me
        self.spec = EnvSpec(
            name=f"gather:n={n},size={size}" + (",flat=1" if flat else ""),
            num_agents=n,
            num_actions=3,
            obs_dim=n - 1,  # each peer's offset / (L - 1), peers in ascending order
            num_entities=e,
            entity_dim=f,
            state_dim=n + 1,  # offsets from agent 0 and the elapsed time (critics, mixers)
            max_steps=size,
            action_entity=(-1, -1, -1),  # no action refers to a token
            success_metric="success_rate",
            team_reward=True,
        )
        self._agent, self._kind = team_tables(n, 0)  # tokens: [self, peers ascending]

    def reset(self, key: jax.Array) -> tuple[GatherState, TimeStep]:
        state = GatherState(jax.random.randint(key, (self.n,), 0, self.size), jnp.int32(0))
        return state, self._timestep(state, jnp.float32(0))

    def step(self, state: GatherState, actions: jax.Array) -> tuple[GatherState, TimeStep]:
        state = GatherState(state.pos + actions - 1, state.t + 1)  # (N,) no walls
        spread = state.pos.max() - state.pos.min()
        return state, self._timestep(state, -spread / (self.size - 1))

    def _timestep(self, state: GatherState, reward: jax.Array) -> TimeStep:
        x = state.pos / (self.size - 1)  # (N,)
        offset = x[jnp.asarray(self._agent)] - x[:, None]  # (N, N): token e's offset from me
        done = state.t >= self.size
        won = done & (state.pos.max() == state.pos.min())
        global_state = jnp.append(x - x[0], state.t / self.size)  # (N + 1,)
        if self.flat:  # the library cuts the flat observation into tokens
            obs = offset[:, 1:]  # (N, N-1)
            return flat_timestep(obs, global_state, reward, done, False, won, num_actions=3)
        return TimeStep(
            obs=offset[:, 1:].astype(jnp.float32),  # (N, N-1)
            entities=offset[..., None].astype(jnp.float32),  # (N, E, F) = (N, N, 1)
            entity_mask=jnp.ones((self.n, self.n), bool),
            entity_kind=jnp.asarray(self._kind),  # SELF, then PEER tokens
            entity_agent=jnp.asarray(self._agent),  # which agent each token stands for
            action_mask=jnp.ones((self.n, 3), bool),
            state=global_state.astype(jnp.float32),
            reward=jnp.full((self.n,), reward, jnp.float32),
            terminated=done,
            truncated=jnp.zeros((), bool),
            extras={"won": won.astype(jnp.float32)},
        )


def build(variant: str | None, params: dict[str, str]) -> Gather:
    """``gather:n=N,size=L[,flat=1]``; a bad value raises ConfigError (exit status 2)."""
    if variant is not None:
        raise ConfigError(f"gather takes no variant, got {variant!r}; e.g. gather:n=3")
    registry.check_no_extra(params, ("n", "size", "flat"), "gather")
    n = registry.int_param(params, "n", 3, 2, "gather")
    size = registry.int_param(params, "size", 8, 2, "gather")
    flat = registry.int_param(params, "flat", 0, 0, "gather") > 0
    return Gather(n, size, flat)


registry.register(
    "gather", build, listed=("gather:n=3",), summary="agents on a line meet; n>=2, size>=2"
)


def main() -> None:
    import diamond_marl as dm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="mappo")
    parser.add_argument("--breaker", default="rank")
    parser.add_argument("--env", default="gather:n=3")
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--out", default="runs/gather")
    args = parser.parse_args()
    run = dm.train(
        algo=args.algo,
        env=args.env,
        breaker=args.breaker,
        steps=args.steps,
        out=args.out,
        net={"hidden": 32, "blocks": 1},
        lr=0.003,
        progress=False,
    )
    summary = run.summary
    print(json.dumps({k: summary[k] for k in ("env", "return", "success_rate")}))


if __name__ == "__main__":
    main()
