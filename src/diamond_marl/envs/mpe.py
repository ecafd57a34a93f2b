"""Multi-agent particle environments with the team size as a parameter: ``mpe:spread,n=N``.

Cooperative navigation (MPE ``simple_spread``): N agents must cover M landmarks (M = N unless
``landmarks=M`` is given). Physics and rewards are jaxmarl's MPE (``jaxmarl==0.2.0``,
``SimpleMPE`` + ``SimpleSpreadMPE``), written here vectorised over agent pairs;
``tests/envs/test_mpe.py`` steps ``mpe:spread,n=3`` beside jaxmarl's ``MPE_simple_spread_v3``
under the same keys and actions and finds the same rewards, positions, observations and
episode ends. Unlike ``jaxmarl:MPE_simple_spread_v3`` (chunks of a flat observation that
grows with N) the tokens here have a fixed width, so a policy trained at one N runs at any.

Physics (jaxmarl's constants): agents are discs of radius 0.15, mass 1; landmarks are points
that neither move nor collide. Each step: action force (5 actions: 0 no-op, 1 -x, 2 +x, 3 -y,
4 +y, times acceleration 5) plus a soft contact force between every two overlapping agents
(100 x softplus penetration, margin 0.001); then ``pos += vel * dt`` with the old velocity,
``vel = 0.75 vel + force * dt`` (damping 0.25, dt 0.1). Two agents at exactly the same point
push each other with no force (jaxmarl divides by their distance, 0, and gets NaN).

Reward (jaxmarl's, per agent, ``spec.team_reward`` False): 0.5 x the global reward (minus the
sum over landmarks of the distance to the nearest agent) minus 0.5 x the number of other
agents the agent overlaps. The team return (``EpisodeMetrics``) sums the agents' rewards.
Episodes: reset draws agents and landmarks uniformly in [-1, 1]^2 (jaxmarl's draws from the
same key); jaxmarl's time limit of 25 is tested before the step is counted, so an episode
lasts 26 steps and ends truncated (``spec.max_steps`` = 26), never terminated.
``spawn=R`` (not in jaxmarl) starts the agents uniformly in a disc of radius R around a centre
drawn uniformly in the square instead: a symmetry dial, since at R = 0 every agent starts at
one point and sees exactly what the others see. ``tie=p`` (not in jaxmarl) starts an episode
with every agent at one point with probability p, and as without it otherwise: the share of
episodes in which a deterministic shared policy is trapped, the symmetry dial of
``suites/symmetry.yaml``. ``group=G`` (not in jaxmarl) starts the agents in groups of G at
shared points (one draw per group): the local trap of a fleet, where a group's agents see the
same thing at the start however large the fleet is.

Fleets (not in jaxmarl): ``sense=K`` gives each agent the tokens of its K nearest peers and
its K nearest landmarks only (``envs.sensing``; at most N - 1 peers and M landmarks), so
E = 1 + min(K, N-1) + min(K, M) stays fixed as N grows, and the flat ``obs`` becomes the
tokens flattened, (N, E x F). ``density=D`` grows the arena with the team: agents and
landmarks start uniformly in a square of side sqrt(N / D), so a policy meets the same local
world at any N (today's arena, side 2, is density N / 4); the self token's position is then
given in units of the half side, in [-1, 1] as today. Neither option changes anything when
absent. The time of a step grows as N^2 (every pair of agents for contacts, overlaps and
sensing; N x M landmark distances for the reward and coverage): at N = 10,000, 10^8 pair
distances per pass. Its memory grows as N: past 1,024 agents the pairs are computed in row
blocks (``sensing.in_blocks``), so one pass holds 1,024 x N of them at a time. With
``sense=K,radius=R`` (R >= 0.4) agents sense only within R (farther slots masked, the reward's
landmark distances capped at R) and every pairwise pass runs on a cell list (``envs.grid``):
time and memory linear in N, contacts as the all-pairs step's up to summation order.

Success (``spec.success_metric = "coverage"``): ``extras["won"]`` on the final step is the
fraction of landmarks with an agent centre within ``COVER_DISTANCE`` = 0.1 of them, the
"occupied landmarks" of the original MPE's ``benchmark_data`` divided by M; 0 on other steps.

Timestep fields:
- ``obs`` (N, 4N + 2M): jaxmarl's observation: own velocity, own position, landmarks relative
  to the agent, other agents relative (ascending), then 2 (N - 1) zeros (the silent agents'
  communication channels);
- ``state`` (4N + 2M + 1): every agent's position and velocity, every landmark's position,
  then the elapsed fraction t / 26. It grows with N: a centralised critic (MAPPO) or mixer
  (QMIX) trained at one N does not run at another, but neither is needed to act;
- ``action_mask``: all True.

Entity tokens, E = N + M (with ``sense=K``: 1 + min(K, N-1) + min(K, M), nearest first), F =
``ENTITY_DIM`` = 6 (independent of N and M), ``entity_mask`` all True (every agent and
landmark is seen, as in jaxmarl's observation, or the nearest ones with ``sense``):
- token 0, SELF: features 2-3 own velocity, 4-5 own position;
- tokens 1..N-1, PEER: features 0-1 the peer's position minus the agent's (``entity_agent`` =
  the peer's index, so rank draws reach the right token);
- tokens N..N+M-1, TASK: features 0-1 the landmark's position minus the agent's.
Other features are 0. ``action_entity`` is -1 for every action.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.grid import Grid, nearest_within
from diamond_marl.envs.mpe_physics import (  # noqa: F401  (re-exported: the physics' names)
    ACCEL,
    AGENT_RADIUS,
    CONTACT_REACH,
    COVER_DISTANCE,
    DAMPING,
    DT,
    contact_force,
    covered,
    nearest_agent,
    overlaps,
    world_step,
)
from diamond_marl.envs.sensing import PAIR_BYTES, check_fits, nearest
from diamond_marl.envs.tokens import peer_index, team_tables
from diamond_marl.envs.types import EntityKind, EnvSpec, TimeStep
from diamond_marl.errors import ConfigError, allowed

# jaxmarl's MPE constants (environments/mpe/default_params.py, simple.py, simple_spread.py);
# the physics' own are in ``mpe_physics``
TIME_LIMIT = 25  # jaxmarl's max_steps; episodes last TIME_LIMIT + 1 steps
LOCAL_RATIO = 0.5  # weight of the agent's own collision penalty in its reward
SPAWN_HALF_WIDTH = 1.0  # agents and landmarks start uniformly in [-1, 1]^2
ACTION_NAMES = ("stay", "left", "right", "down", "up")  # -x, +x, -y, +y
NUM_ACTIONS = len(ACTION_NAMES)
ENTITY_DIM = 6
TASKS = ("spread",)
DEFAULT_AGENTS = 3


@struct.dataclass
class MpeState:
    agent_pos: chex.Array  # (N, 2) float32
    agent_vel: chex.Array  # (N, 2) float32
    landmark_pos: chex.Array  # (M, 2) float32
    t: chex.Array  # () int32 steps taken this episode


# The environment ------------------------------------------------------------------------


class MpeSpread(Env):
    """Cooperative navigation: N agents cover M landmarks (``mpe:spread,n=N[,landmarks=M]``)."""

    def __init__(
        self,
        n: int = DEFAULT_AGENTS,
        landmarks: int | None = None,
        spawn: float | None = None,
        tie: float | None = None,
        sense: int | None = None,
        density: float | None = None,
        group: int | None = None,
        radius: float | None = None,
    ) -> None:
        m = n if landmarks is None else landmarks
        if n < 2:
            raise ConfigError(f"mpe:spread: n={n} is impossible; allowed: n >= 2 agents")
        if m < 1:
            raise ConfigError(f"mpe:spread: landmarks={m} is impossible; allowed: landmarks >= 1")
        if spawn is not None and not spawn >= 0:
            raise ConfigError(f"mpe:spread: spawn={spawn} is impossible; allowed: spawn >= 0")
        if tie is not None and not 0 <= tie <= 1:
            raise ConfigError(f"mpe:spread: tie={tie:g} is impossible; allowed: 0 <= tie <= 1")
        if sense is not None and not 1 <= sense <= max(n - 1, m):
            raise ConfigError(
                f"mpe:spread: sense={sense} is impossible with n={n}, landmarks={m}; allowed: "
                f"1 <= sense <= {max(n - 1, m)} (the most peers or landmarks there are to see)"
            )
        if density is not None and not density > 0:
            raise ConfigError(f"mpe:spread: density={density:g} is impossible; allowed: > 0")
        if group is not None and not 1 <= group <= n:
            raise ConfigError(
                f"mpe:spread: group={group} is impossible with n={n}; allowed: 1 <= group <= {n}"
            )
        if radius is not None and (sense is None or not radius >= CONTACT_REACH):
            raise ConfigError(
                f"mpe:spread: radius={radius:g} is impossible"
                + (" without sense=K" if sense is None else "")
                + f"; allowed: radius >= {CONTACT_REACH} (the contact force's reach) with sense=K"
            )
        self.n, self.m, self.spawn, self.tie = n, m, spawn, tie
        self.sense, self.density, self.group = sense, density, group
        # half the arena's side: agents and landmarks start in [-half, half]^2
        self.half = SPAWN_HALF_WIDTH if density is None else math.sqrt(n / density) / 2
        name = f"mpe:spread,n={n}" + ("" if m == n else f",landmarks={m}")
        name += "" if spawn is None else f",spawn={spawn:g}"
        name += "" if tie is None else f",tie={tie:g}"
        name += "" if sense is None else f",sense={sense}"
        name += "" if density is None else f",density={density:g}"
        name += "" if group is None else f",group={group}"
        name += "" if radius is None else f",radius={radius:g}"
        self.seen = (n - 1, m) if sense is None else (min(sense, n - 1), min(sense, m))
        e = 1 + sum(self.seen)
        # the tokens, the flat obs and a copy of each while a step builds them, float32
        tokens = 4 * n * e * ENTITY_DIM * 4
        self.radius, self.grid = radius, None
        if radius is None:
            check_fits(f"mpe:spread,n={n}", n, max(n, m), extra_bytes=tokens)
        else:  # a cell list: every agent against the 9 x capacity candidates around it
            self.grid = Grid.covering(self.half, radius, max(n, m) / (2 * self.half) ** 2)
            pairs = 9 * self.grid.capacity * (n + m)
            check_fits(f"mpe:spread,n={n}", 0, 0, extra_bytes=pairs * PAIR_BYTES + tokens)
        self.spec = EnvSpec(
            name=name,
            num_agents=n,
            num_actions=NUM_ACTIONS,
            obs_dim=4 * n + 2 * m if sense is None else e * ENTITY_DIM,
            num_entities=e,
            entity_dim=ENTITY_DIM,
            state_dim=4 * n + 2 * m + 1,
            max_steps=TIME_LIMIT + 1,
            action_entity=(-1,) * NUM_ACTIONS,
            success_metric="coverage",
            team_reward=False,
            description=(
                f"MPE cooperative navigation: {n} agents, {m} landmarks, {TIME_LIMIT + 1} steps; "
                f"coverage = share of landmarks with an agent within {COVER_DISTANCE}"
            ),
        )
        if sense is None:  # [self, N-1 peers ascending, M landmarks]; N x (N + M) tables
            self._peers = peer_index(n)  # (N, N-1)
            agent, kinds = team_tables(n, m, EntityKind.TASK)  # (N, N + M) each
        else:  # [self, kp nearest peers, km nearest landmarks]: nothing N x N (10^8 at 10^4)
            kp, km = self.seen
            row = [EntityKind.SELF] + [EntityKind.PEER] * kp + [EntityKind.TASK] * km
            kinds = np.broadcast_to(np.asarray(row, np.int32), (n, e)).copy()
            self._peers = agent = None  # the nearest peers change every step: see ``_timestep``
        self._token_agent, self._token_kind = agent, kinds  # (N, E) each

    # API -------------------------------------------------------------------------------

    def reset(self, key: chex.PRNGKey) -> tuple[MpeState, TimeStep]:
        agent_key, landmark_key = jax.random.split(key)
        state = MpeState(
            agent_pos=self._spawn_agents(agent_key),
            agent_vel=jnp.zeros((self.n, 2), jnp.float32),
            landmark_pos=jax.random.uniform(
                landmark_key, (self.m, 2), minval=-self.half, maxval=self.half
            ),
            t=jnp.zeros((), jnp.int32),
        )
        zero = jnp.zeros((), jnp.float32)  # no step taken, nothing covered yet
        return state, self._timestep(state, jnp.zeros((self.n,), jnp.float32), zero < 0, zero)

    def step(self, state: MpeState, actions: chex.Array) -> tuple[MpeState, TimeStep]:
        actions = jnp.asarray(actions, jnp.int32)  # (N,)
        cand = dropped_before = None
        if self.grid is not None:  # contacts act on the positions before the move
            filed, dropped_before = self.grid.table(state.agent_pos)
            cand = self.grid.candidates(state.agent_pos, filed, self.n)
        pos, vel = world_step(state.agent_pos, state.agent_vel, actions, cand)
        done = state.t >= TIME_LIMIT  # jaxmarl tests the limit before counting the step
        state = state.replace(agent_pos=pos, agent_vel=vel, t=state.t + 1)
        near = None if self.grid is None else self._near(pos, state.landmark_pos)
        if near is None:
            gaps = nearest_agent(pos, state.landmark_pos)  # (M,) for the reward and coverage
            local = -overlaps(pos).astype(jnp.float32)  # (N,)
        else:  # within the radius: a gap is at most the radius, coverage is exact
            gaps = nearest_agent(pos, state.landmark_pos, near["gaps"], self.radius)
            local = -overlaps(pos, near["agents"]).astype(jnp.float32)
            near["dropped"] += dropped_before
        reward = local * LOCAL_RATIO - jnp.sum(gaps) * (1 - LOCAL_RATIO)  # (N,)
        won = jnp.where(done, covered(gaps), 0.0)
        return state, self._timestep(state, reward, done, won, near)

    # Internals -------------------------------------------------------------------------

    def _spawn_agents(self, key: chex.PRNGKey) -> chex.Array:
        """(N, 2) start positions: uniform in the square (jaxmarl's draw), or with ``spawn=R``
        uniform in a disc of radius R around a centre uniform in the square (R = 0: all
        agents at one point, with identical observations). With ``tie=p``, an episode starts
        tied with probability p: every agent at agent 0's draw."""
        if self.tie is None:
            return self._draw_agents(key)
        draw_key, tie_key = jax.random.split(key)
        pos = self._draw_agents(draw_key)  # (N, 2)
        tied = jax.random.bernoulli(tie_key, self.tie)
        return jnp.where(tied, jnp.broadcast_to(pos[0], pos.shape), pos)

    def _draw_agents(self, key: chex.PRNGKey) -> chex.Array:
        """(N, 2); with ``group=G`` one point is drawn per group of G agents (the last group
        may be smaller), and the group's agents all start there."""
        count = self.n if self.group is None else -(-self.n // self.group)  # points to draw
        if self.spawn is None:
            pos = jax.random.uniform(key, (count, 2), minval=-self.half, maxval=self.half)
        else:
            centre_key, radius_key, angle_key = jax.random.split(key, 3)
            centre = jax.random.uniform(centre_key, (2,), minval=-self.half, maxval=self.half)
            radius = self.spawn * jnp.sqrt(jax.random.uniform(radius_key, (count,)))
            angle = jax.random.uniform(angle_key, (count,), maxval=2 * jnp.pi)
            offset = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)  # (count, 2)
            pos = centre + radius[:, None] * offset  # (count, 2)
        return pos if self.group is None else pos[jnp.arange(self.n) // self.group]

    def coverage(self, state: MpeState) -> chex.Array:
        """() fraction of landmarks with an agent centre within ``COVER_DISTANCE``."""
        return covered(nearest_agent(state.agent_pos, state.landmark_pos))

    def _near(self, pos: chex.Array, marks: chex.Array) -> dict:
        """The cell list's candidates (``radius=R``): agents around each agent, agents around
        each landmark, landmarks around each agent, and how many points it dropped."""
        agents, dropped_agents = self.grid.table(pos)
        landmarks, dropped_marks = self.grid.table(marks)
        return {
            "agents": self.grid.candidates(pos, agents, self.n),
            "gaps": self.grid.candidates(marks, agents, self.n),
            "landmarks": self.grid.candidates(pos, landmarks, self.m),
            "dropped": dropped_agents + dropped_marks,
        }

    def _timestep(self, state: MpeState, reward, done, won, near=None) -> TimeStep:
        n, m = self.n, self.m
        pos, vel, marks = state.agent_pos, state.agent_vel, state.landmark_pos
        if self.sense is not None:
            if self.grid is not None and near is None:
                near = self._near(pos, marks)
            return self._sensed_timestep(state, reward, done, won, near)
        peer_rel = pos[self._peers] - pos[:, None, :]  # (N, N-1, 2)
        mark_rel = marks[None, :, :] - pos[:, None, :]  # (N, M, 2)
        obs = jnp.concatenate(
            [
                vel,
                pos,
                mark_rel.reshape(n, 2 * m),
                peer_rel.reshape(n, 2 * (n - 1)),
                jnp.zeros((n, 2 * (n - 1)), jnp.float32),  # silent communication channels
            ],
            axis=-1,
        )  # (N, 4N + 2M)
        entities = self._tokens(vel, pos / self.half, peer_rel, mark_rel)  # (N, E, F)
        agent = jnp.asarray(self._token_agent)
        return self._pack(state, obs, entities, agent, reward, done, won)

    def _sensed_timestep(self, state: MpeState, reward, done, won, near) -> TimeStep:
        """``sense=K``: the K nearest peers and landmarks of each agent, nearest first; with
        ``radius=R`` only those within R (the other slots are masked out)."""
        n, (kp, km) = self.n, self.seen
        pos, vel, marks = state.agent_pos, state.agent_vel, state.landmark_pos
        if near is None:
            peer_idx, peer_rel = nearest(pos, pos, kp, exclude_self=True)  # (N, kp), (N, kp, 2)
            _, mark_rel = nearest(pos, marks, km)  # (N, km, 2)
            mask = None
        else:
            peer_idx, peer_rel, peer_seen = nearest_within(
                pos, pos, near["agents"], kp, self.radius, exclude_self=True
            )
            _, mark_rel, mark_seen = nearest_within(pos, marks, near["landmarks"], km, self.radius)
            mask = jnp.concatenate([jnp.ones((n, 1), bool), peer_seen, mark_seen], axis=1)
        scaled = pos / self.half  # the self token's position in units of the half side
        entities = self._tokens(vel, scaled, peer_rel, mark_rel)  # (N, E, F)
        own = jnp.arange(n, dtype=jnp.int32)[:, None]  # (N, 1)
        agent = jnp.concatenate([own, peer_idx, jnp.full((n, km), -1, jnp.int32)], axis=1)
        obs = entities.reshape(n, -1)  # (N, E x F)
        ts = self._pack(state, obs, entities, agent, reward, done, won)
        if near is None:
            return ts
        extras = {**ts.extras, "dropped": near["dropped"].astype(jnp.float32)}
        return ts.replace(entity_mask=mask, extras=extras)

    @staticmethod
    def _tokens(vel, pos, peer_rel, mark_rel) -> chex.Array:
        """(N, E, F): [self (0, 0, vel, pos), peers (rel, 0...), landmarks (rel, 0...)]."""
        n = pos.shape[0]
        self_token = jnp.concatenate([jnp.zeros((n, 2)), vel, pos], axis=-1)  # (N, F)
        rel = jnp.concatenate([peer_rel, mark_rel], axis=1)  # (N, E-1, 2)
        others = jnp.pad(rel, ((0, 0), (0, 0), (0, ENTITY_DIM - 2)))  # (N, E-1, F)
        return jnp.concatenate([self_token[:, None], others], axis=1)  # (N, E, F)

    def _pack(self, state, obs, entities, agent, reward, done, won) -> TimeStep:
        n, e = self.n, self.spec.num_entities
        pos, vel, marks = state.agent_pos, state.agent_vel, state.landmark_pos
        elapsed = (state.t / (TIME_LIMIT + 1)).astype(jnp.float32)[None]  # (1,)
        global_state = jnp.concatenate(
            [pos.reshape(-1), vel.reshape(-1), marks.reshape(-1), elapsed]
        )  # (4N + 2M + 1,)
        return TimeStep(
            obs=obs,
            entities=entities,
            entity_mask=jnp.ones((n, e), bool),
            entity_kind=jnp.asarray(self._token_kind),
            entity_agent=agent,
            action_mask=jnp.ones((n, NUM_ACTIONS), bool),
            state=global_state,
            reward=reward.astype(jnp.float32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.asarray(done, bool),
            extras={"won": won.astype(jnp.float32)},
        )


# Registry ------------------------------------------------------------------------------


def _build(variant: str | None, params: dict[str, str]) -> MpeSpread:
    if variant not in TASKS:
        if variant is None:
            raise ConfigError(f"mpe needs a task, e.g. 'mpe:spread,n=3'; allowed: {TASKS[0]}")
        raise allowed(variant, "MPE task", TASKS)
    env = f"mpe:{variant}"
    known = ("n", "landmarks", "spawn", "tie", "sense", "density", "group", "radius")
    registry.check_no_extra(params, known, env)
    n = registry.int_param(params, "n", DEFAULT_AGENTS, 2, env)
    landmarks = registry.int_param(params, "landmarks", n, 1, env)
    spawn = registry.float_param(params, "spawn", None, 0.0, env)
    tie = registry.float_param(params, "tie", None, 0.0, env, maximum=1.0)
    sense = registry.int_param(params, "sense", 0, 1, env) if "sense" in params else None
    density = registry.float_param(params, "density", None, 0.0, env)
    group = registry.int_param(params, "group", 0, 1, env) if "group" in params else None
    radius = registry.float_param(params, "radius", None, 0.0, env)
    return MpeSpread(n, landmarks, spawn, tie, sense, density, group, radius)


registry.register(
    "mpe",
    _build,
    listed=("mpe:spread,n=3", "mpe:spread,n=8"),
    summary=(
        "MPE cooperative navigation (spread); params n>=2, landmarks>=1, spawn>=0 (radius), "
        "0<=tie<=1 (share of tied starts), sense>=1 (K nearest seen), density>0 (agents/area), "
        "group>=1 (agents start in groups of this size at shared points), radius>=0.4 (with "
        "sense: only what is this close is seen; a cell list makes a step linear in N)"
    ),
)
