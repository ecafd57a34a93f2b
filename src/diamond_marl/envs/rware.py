"""RobotWarehouse on Jumanji's JAX state, behind the common API: ``rware:<layout>-<N>ag``.

Layouts are the original RWARE ones (``rware`` 2.0.0, ``column_height=8``): ``tiny`` 1 shelf
row x 3 shelf columns (11 x 10 grid), ``small`` 2 x 3 (20 x 10), ``medium`` 2 x 5 (20 x 16),
``large`` 3 x 5 (29 x 16); ``<R>x<C>`` is any other grid of R x C shelf blocks (``5x11``
is 47 x 34). Any team size N works. As in the original names, a ``-easy`` /
``-hard`` suffix sets the request queue to 2N / N // 2 shelves (default N); parameters:

- ``requests=R``: requested shelves at any time (default N, or from the suffix);
- ``steps=T``: episode limit in env steps (default 500);
- ``collisions=resolve|terminate``: ``resolve`` (default) is the original game, EPyMARL's
  ``rware-*-v2``: conflicting forward moves are cancelled, the episode goes on, and the
  original's rules decide moves, loads and deliveries (``rware_rules.original_step``);
  ``terminate`` is Jumanji's game, reproduced bit for bit: a collision between two robots
  ends the episode;
- ``success=K``: deliveries a team needs for a successful episode (default N);
- ``sense=K``: local tokens, each robot sees its K nearest peers and K nearest requested
  shelves (``rware_tokens``), so a policy runs unchanged on any layout and team size.

Example: ``rware:tiny-4ag``, ``rware:large-8ag,collisions=terminate``. Names print a
parameter only when it differs from its default (so Jumanji's game says
``collisions=terminate``); docs/rware.md lists each mode's rules and differences.

Randomness lives in Jumanji's state (its ``key``), so ``step`` takes no key. Actions:
0 noop, 1 forward, 2 turn left, 3 turn right, 4 toggle load (Jumanji's order, the original's).

Timestep fields and entity tokens are tabled in docs/rware.md. In short: ``obs`` (N, 66) is
Jumanji's ``agents_view``; ``action_mask`` is all True in the original game (it has none; an
impossible move is cancelled) and Jumanji's with ``terminate``; ``reward`` is +1 per delivered
requested shelf for every robot (the sum of the original's individual rewards); ``terminated``
is a collision (``terminate`` only), ``truncated`` the step limit; ``state`` is 66 N + 3 R + 1
wide; ``extras["deliveries"]`` counts this episode's deliveries and ``extras["won"]`` is 1.0
on the final step of an episode with at least ``success`` deliveries and no collision.
Tokens (E = N + R + 2, F = 14, independent of N and layout): SELF, the N - 1 PEERs ascending,
the R requested shelves in queue order and the two goals (TASK), all global; with ``sense=K``,
E = 3 + min(K, N - 1) + min(K, R), nearest first.
"""

from __future__ import annotations

import concurrent.futures
import functools
import re
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.rware_layout import (
    COLUMN_HEIGHT,
    LAYOUTS,
    layout,
    layout_generator_class,
    shelf_grid,
)
from diamond_marl.envs.rware_rules import original_step
from diamond_marl.envs.rware_tokens import (
    ENTITY_DIM,
    REL_SCALE,
    SENSOR_RANGE,
    gather,
    object_table,
    sensed_source,
)
from diamond_marl.envs.types import EntityKind, EnvSpec, TimeStep
from diamond_marl.errors import ConfigError, allowed

DIFFICULTY = {"": 1.0, "-easy": 2.0, "-hard": 0.5}  # request queue = int(N * factor)
COLLISIONS = ("resolve", "terminate")  # the first is the default
RULES = {
    "resolve": "the original game (collisions resolved)",
    "terminate": "Jumanji's game (a collision ends the episode)",
}
DEFAULT_STEPS = 500
NUM_ACTIONS = 5
OBS_DIM = 8 + 5 * ((2 * SENSOR_RANGE + 1) ** 2 - 1) + 2 * (2 * SENSOR_RANGE + 1) ** 2  # 66
_VARIANT = re.compile(r"^(?P<layout>[a-z]+|\d+x\d+)-(?P<n>[+-]?\d+)ag(?P<diff>-easy|-hard)?$")


@struct.dataclass
class RwareState:
    env: Any  # Jumanji's robot_warehouse State (grid, agents, shelves, request_queue, key, ...)
    deliveries: chex.Array  # () float32, requested shelves delivered this episode


class RwareEnv(Env):
    """RobotWarehouse on an original RWARE layout, with entity tokens.

    ``collisions="resolve"``: the original game (``rware_rules.original_step``);
    ``"terminate"``: Jumanji's ``RobotWarehouse.step``. Both run on Jumanji's state.
    """

    def __init__(
        self,
        layout_name: str = "tiny",
        num_agents: int = 4,
        requests: int | None = None,
        steps: int = DEFAULT_STEPS,
        collisions: str = "resolve",
        success: int | None = None,
        name: str | None = None,
        sense: int | None = None,
    ) -> None:
        if collisions not in COLLISIONS:
            raise allowed(collisions, "rware collisions rule", COLLISIONS)
        self.layout_name = layout_name
        self.shelf_rows, self.shelf_columns = shelf_grid(layout_name)
        plan = layout(self.shelf_rows, self.shelf_columns)
        self.height, self.width = plan["height"], plan["width"]
        self._highways_np = plan["highways"]
        self._goals_np = plan["goals"]
        self.num_shelves = plan["num_shelves"]
        n = num_agents
        rule = "" if collisions == COLLISIONS[0] else f",collisions={collisions}"
        rule += "" if sense is None else f",sense={sense}"
        label = name or f"rware:{layout_name}-{n}ag{rule}"
        if n < 1 or n > self.height * self.width:
            raise ConfigError(
                f"{label}: N={n} robots is impossible; allowed: 1 <= N <= "
                f"{self.height * self.width} (cells of the {layout_name} grid)"
            )
        self.requests = n if requests is None else requests
        if not 1 <= self.requests <= self.num_shelves - 1:
            raise ConfigError(
                f"{label}: requests={self.requests} is impossible; allowed: "
                f"1 <= requests <= {self.num_shelves - 1} ({self.num_shelves} shelves)"
            )
        if steps < 1:
            raise ConfigError(f"{label}: steps={steps} is impossible; allowed: steps >= 1")
        self.success = n if success is None else success
        if self.success < 1:
            raise ConfigError(f"{label}: success={self.success} is impossible; allowed: >= 1")
        self.steps = steps
        self.collisions = collisions
        r = self.requests
        if sense is not None and not 1 <= sense <= max(n - 1, r):
            raise ConfigError(
                f"{label}: sense={sense} is impossible with {n} robots and {r} requests; "
                f"allowed: 1 <= sense <= {max(n - 1, r)} (the most peers or shelves to see)"
            )
        self.sense = sense
        # (peers, requested shelves) each robot sees
        self.seen = (n - 1, r) if sense is None else (min(sense, n - 1), min(sense, r))
        e = 1 + sum(self.seen) + 2
        self.spec = EnvSpec(
            name=label,
            num_agents=n,
            num_actions=NUM_ACTIONS,
            obs_dim=OBS_DIM,
            num_entities=e,
            entity_dim=ENTITY_DIM,
            state_dim=OBS_DIM * n + 3 * r + 1,
            max_steps=steps,
            action_entity=(-1,) * NUM_ACTIONS,
            success_metric="success_rate",
            team_reward=True,
            description=(
                f"RobotWarehouse {layout_name} ({self.height}x{self.width}), {n} robots, "
                f"{r} requests, {steps} steps, {RULES[collisions]}"
                + ("" if sense is None else f", each robot sees its {sense} nearest")
                + "; success = at least "
                f"{self.success} deliveries"
                + (" and no collision" if collisions == "terminate" else "")
            ),
        )
        kinds = [EntityKind.SELF] + [EntityKind.PEER] * self.seen[0]
        kinds += [EntityKind.TASK] * (self.seen[1] + 2)
        self._token_kind = np.broadcast_to(np.asarray(kinds, np.int32), (n, e))
        if sense is not None:
            return
        # Static token tables: agent i's tokens are [self, peers ascending, R shelves, 2 goals].
        peers = [[i] + [j for j in range(n) if j != i] for i in range(n)]
        self._token_source = np.asarray(
            [p + list(range(n, n + r + 2)) for p in peers], np.int32
        )  # (N, E) index into [robots, shelves, goals]
        self._token_agent = np.asarray([p + [-1] * (r + 2) for p in peers], np.int32)  # (N, E)

    # Jumanji is imported and built on first use, so building the spec stays cheap.
    @functools.cached_property
    def jumanji_env(self) -> Any:
        """The wrapped ``jumanji`` ``RobotWarehouse`` (built lazily, in a few milliseconds).

        First use may come while ``reset``/``step`` is being traced under ``jit``. Jumanji's
        constructor makes jnp arrays, which inside a trace would be tracers leaking into the
        env (and ``ensure_compile_time_eval`` trips a JAX 0.10 dispatch bug). JAX's trace
        context is thread-local, so the env is built in a helper thread, always eagerly.
        """
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(self._build_jumanji).result()

    def _build_jumanji(self) -> Any:
        from jumanji.environments.routing.robot_warehouse import RobotWarehouse

        generator = layout_generator_class()(
            shelf_rows=self.shelf_rows,
            shelf_columns=self.shelf_columns,
            column_height=COLUMN_HEIGHT,
            num_agents=self.spec.num_agents,
            sensor_range=SENSOR_RANGE,
            request_queue_size=self.requests,
        )
        return RobotWarehouse(generator=generator, time_limit=self.steps)

    # API ---------------------------------------------------------------------------------

    def reset(self, key: chex.PRNGKey) -> tuple[RwareState, TimeStep]:
        env_state, jts = self.jumanji_env.reset(key)
        # Jumanji spawns ``is_carrying`` weakly typed; make it a plain int32 so the state keeps
        # one type through steps, scans and auto-reset selects.
        agents = env_state.agents._replace(
            is_carrying=jnp.asarray(env_state.agents.is_carrying, jnp.int32)
        )
        env_state = env_state.replace(agents=agents)
        zero = jnp.zeros((), jnp.float32)
        state = RwareState(env=env_state, deliveries=zero)
        ts = self._timestep(
            env_state,
            jts.observation.agents_view,
            reward=zero,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            deliveries=zero,
            won=zero,
        )
        return state, ts

    def step(self, state: RwareState, actions: chex.Array) -> tuple[RwareState, TimeStep]:
        actions = jnp.asarray(actions, jnp.int32)  # (N,)
        if self.collisions == "terminate":
            env_state, view, reward, collision = self._step_jumanji(state.env, actions)
        else:
            highways = jnp.asarray(self._highways_np)  # (H, W)
            env_state, view, reward = original_step(self.jumanji_env, state.env, actions, highways)
            collision = jnp.zeros((), bool)
        horizon = env_state.step_count >= self.steps
        truncated = horizon & ~collision
        done = horizon | collision
        deliveries = state.deliveries + reward
        won = done & ~collision & (deliveries >= self.success)
        ts = self._timestep(
            env_state,
            view,
            reward=reward,
            terminated=collision,
            truncated=truncated,
            deliveries=deliveries,
            won=won.astype(jnp.float32),
        )
        return RwareState(env=env_state, deliveries=deliveries), ts

    # Dynamics ----------------------------------------------------------------------------

    def _step_jumanji(self, env_state: Any, actions: chex.Array) -> tuple[Any, ...]:
        """Jumanji's own step; a collision is recomputed from the grid as Jumanji does."""
        from jumanji.environments.routing.robot_warehouse.utils import is_collision

        env = self.jumanji_env
        env_state, jts = env.step(env_state, actions)
        collisions = jax.vmap(functools.partial(is_collision, env_state.grid))(
            env_state.agents, env.agent_ids
        )  # (N,)
        return env_state, jts.observation.agents_view, jts.reward, jnp.any(collisions)

    # Observation ---------------------------------------------------------------------------

    def _timestep(
        self,
        env_state: Any,
        view: chex.Array,
        *,
        reward: chex.Array,
        terminated: chex.Array,
        truncated: chex.Array,
        deliveries: chex.Array,
        won: chex.Array,
    ) -> TimeStep:
        n, r = self.spec.num_agents, self.requests
        scale = jnp.asarray([self.height - 1, self.width - 1], jnp.float32)  # (2,)
        highways = jnp.asarray(self._highways_np)  # (H, W)
        obs = jnp.asarray(view, jnp.float32)  # (N, 66)
        pos, base, robot_pos, carried = object_table(
            env_state, highways, jnp.asarray(self._goals_np)
        )
        shelf_pos = pos[n : n + r]  # (R, 2)
        if self.sense is None:
            source, named = jnp.asarray(self._token_source), jnp.asarray(self._token_agent)
            entities = gather(pos, base, robot_pos, source, scale, scale)
        else:
            source, named = sensed_source(robot_pos, shelf_pos, *self.seen)
            entities = gather(pos, base, robot_pos, source, scale, jnp.float32(REL_SCALE))
        e = self.spec.num_entities

        coords = obs.at[:, 0:2].divide(scale)  # (N, 66) coordinates normalised
        global_state = jnp.concatenate(
            [
                coords.reshape(-1),  # (66 N,)
                jnp.concatenate([shelf_pos / scale, carried[:, None]], -1).reshape(-1),  # (3R,)
                (env_state.step_count / self.steps).astype(jnp.float32)[None],  # (1,)
            ]
        )
        return TimeStep(
            obs=obs,
            entities=entities,
            entity_mask=jnp.ones((n, e), bool),
            entity_kind=jnp.asarray(self._token_kind),
            entity_agent=named,
            action_mask=jnp.asarray(env_state.action_mask, bool),
            state=global_state,
            reward=jnp.broadcast_to(jnp.asarray(reward, jnp.float32), (n,)),
            terminated=jnp.asarray(terminated, bool),
            truncated=jnp.asarray(truncated, bool),
            extras={
                "won": jnp.asarray(won, jnp.float32),
                "deliveries": jnp.asarray(deliveries, jnp.float32),
            },
        )


# Registry ------------------------------------------------------------------------------------

_PARAMS = ("requests", "steps", "collisions", "success", "sense")


def parse_variant(variant: str | None) -> tuple[str, int, str]:
    """``'tiny-4ag-easy'`` -> (layout, N, difficulty suffix); ConfigError naming what is wrong."""
    fmt = "'<layout>-<N>ag' with an optional '-easy' or '-hard', e.g. 'tiny-4ag'"
    layouts = ", ".join([*LAYOUTS, "<rows>x<columns>"])
    if not variant:
        raise ConfigError(f"rware needs a variant {fmt}; layouts: {layouts}")
    match = _VARIANT.match(variant)
    if match is None:
        shelf_grid(variant.split("-", 1)[0])  # a bad layout is named first
        raise ConfigError(f"rware variant {variant!r} is malformed; expected {fmt}")
    shelf_grid(match["layout"])  # a named layout or '<rows>x<columns>'
    n = int(match["n"])
    if n < 1:
        raise ConfigError(f"rware variant {variant!r}: N={n} robots is impossible; allowed: N >= 1")
    return match["layout"], n, match["diff"] or ""


def _build(variant: str | None, params: dict[str, str]) -> RwareEnv:
    layout_name, n, diff = parse_variant(variant)
    canonical = f"rware:{layout_name}-{n}ag{diff}"
    registry.check_no_extra(params, _PARAMS, canonical)
    if diff and "requests" in params:
        raise ConfigError(f"{canonical}: give either the {diff!r} suffix or requests=, not both")
    default_requests = int(n * DIFFICULTY[diff])
    if default_requests < 1:
        raise ConfigError(
            f"{canonical}: {diff!r} gives int({n} * {DIFFICULTY[diff]}) = 0 requested shelves; "
            "allowed: N >= 2 with '-hard'"
        )
    requests = registry.int_param(params, "requests", default_requests, 1, canonical)
    steps = registry.int_param(params, "steps", DEFAULT_STEPS, 1, canonical)
    success = registry.int_param(params, "success", n, 1, canonical)
    sense = registry.int_param(params, "sense", 0, 1, canonical) if "sense" in params else None
    collisions = params.get("collisions", COLLISIONS[0])
    if collisions not in COLLISIONS:
        raise allowed(collisions, f"{canonical}: collisions rule", COLLISIONS)
    # A parameter is named only when it differs from its default: one name per game, and the
    # name of a run under Jumanji's rule always says collisions=terminate.
    values = {
        "requests": requests,
        "steps": steps,
        "collisions": collisions,
        "success": success,
        "sense": sense,
    }
    defaults = {
        "requests": default_requests,
        "steps": DEFAULT_STEPS,
        "collisions": COLLISIONS[0],
        "success": n,
        "sense": None,
    }
    name = canonical + "".join(
        f",{key}={values[key]}" for key in _PARAMS if values[key] != defaults[key]
    )
    return RwareEnv(layout_name, n, requests, steps, collisions, success, name=name, sense=sense)


registry.register(
    "rware",
    _build,
    listed=(
        "rware:tiny-2ag",
        "rware:tiny-4ag",
        "rware:small-4ag",
        "rware:medium-4ag",
        "rware:large-8ag",
    ),
    summary=(
        "RobotWarehouse on the original layouts tiny/small/medium/large or any "
        "'<shelf rows>x<shelf columns>', '<layout>-<N>ag[-easy|-hard]'; params requests>=1, "
        "steps>=1, collisions=resolve (the original game, default)|terminate (Jumanji's), "
        "success>=1 deliveries, sense>=1 (K nearest peers and requested shelves seen)"
    ),
)
