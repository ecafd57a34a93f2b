"""Execution-mode episodes of a trained run, recorded step by step and agent by agent.

An episode is fully determined by the run's checkpoint, the seed index and its **episode
key**: an integer K, turned into ``jax.random.PRNGKey(K)`` and split into (reset, episode,
run) keys exactly as ``algos.evaluate`` does for each of its environments. ``analyze`` plays
K = 0 .. episodes - 1, so any episode it shows can be replayed alone with ``replay
--episode-key K``.

The policy is the run's own actor (``Algorithm.actor``, through which its training and
evaluation act; ``Policy``), in the run's own execution, read more fully: besides the action,
the action distribution, the draws the network reports, optionally every layer's attention;
and it accepts a ``Tamper`` (adversarial evaluation: force agent 0's rank, scale its noise,
or replace its actions by random valid ones). Recorded per step and agent:

- ``action (T, N)`` int, ``probs (T, N, A)``: the action distribution. PPO algorithms:
  ``softmax(logits)`` (``/ temperature`` for ``sampled``). Q-learning: the one-hot of the
  greedy action it executes (for ``sampled``, which samples, epsilon-greedy at
  ``q.eps_finish``: ``networks.acting.sampled_probs``);
- ``valid (T,)``: the episode is still running at this step; ``reward (T,)`` team reward;
- draws where the breaker has them at evaluation: ``rank (T, N)`` (after tampering),
  ``random_input (T, N)``, ``noise_scale (T, N)`` (effective multiplier of sigma) and
  ``noise_rms (T, N)`` (rms of the agent's eps), ``dice_norm (T, N)``, ``peers_seen (T, N)``;
- with ``attention=True``: ``attention (T, N, E, E)`` (last layer, mean over heads),
  ``entity_kind``/``entity_mask (T, N, E)``; with ``render=True``: ``frame`` (``render.snapshot``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.algos.common import Algorithm, TrainSetup, table_execution
from diamond_marl.algos.evaluate import advance, start_episode
from diamond_marl.algos.saved_run import LoadedRun
from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import EpisodeMetrics
from diamond_marl.errors import ConfigError
from diamond_marl.networks.acting import Actor, ActParams, How, Keys
from diamond_marl.networks.draws import Draws
from diamond_marl.networks.inputs import from_timestep

_RANDOM_ATTACK_STREAM = 0xA77AC  # folded into the step key: never used by the policy itself


# The policy, opened up -------------------------------------------------------------------


class Tamper(NamedTuple):
    """What adversarial evaluation changes for agent 0 (traced floats; defaults = honest)."""

    rank0: chex.Numeric = float("nan")  # agent 0's broadcast rank draw (nan: its own draw)
    noise_gain0: chex.Numeric = float("nan")  # multiplier on agent 0's noise (nan: unchanged)
    random_prob: chex.Numeric = 0.0  # probability that agent 0 takes a random valid action


HONEST = Tamper()


@dataclasses.dataclass(frozen=True)
class Policy:
    """The run's actor (``Algorithm.actor``, the one its training and evaluation act
    through) in the run's own execution, with a ``Tamper`` turned into fixed draws.

    ``force_noise``: switch logit noise on at evaluation for a run that evaluates without it
    (the noise attack); honest agents then get gain 0, agent 0 ``Tamper.noise_gain0``.
    """

    actor: Actor
    execution: str  # the run's own (algos.common.table_execution), as its Algorithm.act
    force_noise: bool = False

    def start_carry(self, ts: TimeStep) -> Any:
        """The agents' memory at an episode's start (None for feed-forward agents)."""
        return self.actor.initial_carry(from_timestep(ts))

    @classmethod
    def of(cls, algo: Algorithm, setup: TrainSetup, force_noise: bool = False) -> Policy:
        """The policy of ``algo`` (built for ``setup``), in the run's own execution."""
        actor = algo.actor
        if force_noise:
            breaker = actor.breaker
            if not breaker.has_logit_noise:
                raise ConfigError(f"breaker {breaker.name!r} has no logit noise to force on")
            net = dataclasses.replace(
                actor.net, breaker=dataclasses.replace(breaker, eval_noise=True)
            )
            actor = dataclasses.replace(actor, net=net)
        return cls(actor, table_execution(setup), force_noise)

    def step(
        self,
        act_params: ActParams,
        ts: TimeStep,
        step_key: chex.PRNGKey,
        episode_key: chex.PRNGKey,
        carry: Any,
        tamper: Tamper = HONEST,
        attention: bool = False,
    ) -> tuple[dict[str, chex.Array], Any]:
        """One environment's step: ``action (N,)``, ``probs (N, A)``, draws, [attention],
        and the agents' next memory (``carry``: None for feed-forward agents)."""
        b = self.actor.breaker
        n = ts.action_mask.shape[0]
        nan = jnp.full((n,), jnp.nan, jnp.float32)
        rank = nan.at[0].set(tamper.rank0) if b.rank_at_eval else None  # nan: own draw
        gain = None
        if b.noise_at_eval:
            base = 0.0 if self.force_noise else 1.0
            g0 = jnp.where(jnp.isnan(tamper.noise_gain0), base, tamper.noise_gain0)
            gain = jnp.full((n,), base, jnp.float32).at[0].set(g0)
        draws = Draws(rank=rank, noise_gain=gain)
        how = How("eval", carry, execution=self.execution, draws=draws, attention=attention)
        acted = self.actor(act_params, from_timestep(ts), Keys(episode_key, step_key), how)
        rec = dict(acted.out.draws)
        if attention:
            rec["attention"] = acted.attention[-1].mean(-3)  # (N, E, E) last layer, head mean
            rec["entity_kind"] = ts.entity_kind
            rec["entity_mask"] = ts.entity_mask
        rec["probs"] = self.actor.probs(acted.scores, acted.action, self.execution)
        k_use, k_pick = jax.random.split(jax.random.fold_in(step_key, _RANDOM_ATTACK_STREAM))
        avail = ts.action_mask[0]  # (A,)
        random0 = jax.random.categorical(k_pick, jnp.where(avail, 0.0, -jnp.inf))
        swap = jax.random.uniform(k_use) < tamper.random_prob
        action = acted.action
        rec["action"] = action.at[0].set(jnp.where(swap, random0, action[0]).astype(jnp.int32))
        return rec, acted.carry


# Recording episodes ----------------------------------------------------------------------


def episode_keys(keys: list[int] | range) -> jax.Array:
    """Integer episode keys K -> ``(E, 2)`` raw keys ``PRNGKey(K)``."""
    return jnp.stack([jax.random.PRNGKey(int(k)) for k in keys])


Snapshot = Callable[[Any], Any]


def make_recorder(
    env: Env,
    policy: Policy,
    *,
    attention: bool = False,
    snapshot: Snapshot | None = None,
    reference_act: Callable | None = None,
) -> Callable[[Any, chex.Array, Tamper], dict[str, chex.Array]]:
    """Build ``record(act_params, keys (E, 2), tamper) -> arrays (E, [T,] ...)``.

    Each episode runs ``max_steps`` steps from its own key (split into reset, episode and run
    keys as ``algos.evaluate`` does); steps after its end are marked invalid. ``snapshot``
    maps the bare env state to arrays to draw (``render``); ``reference_act`` (a run's
    ``Algorithm.act``) records its actions too, to check the policy's fidelity.
    """
    wrapped = EpisodeMetrics(env)
    horizon = env.spec.max_steps

    def one(act_params: Any, key: chex.PRNGKey, tamper: Tamper) -> dict[str, chex.Array]:
        reset_key, episode_key, run_key = jax.random.split(key, 3)

        def body(carry: tuple, step_key):
            ep, memory, ref_memory = carry
            rec, memory = policy.step(
                act_params, ep.ts, step_key, episode_key, memory, tamper, attention
            )
            if reference_act is not None:
                ref, ref_memory = reference_act(
                    act_params, ep.ts, step_key, episode_key, ref_memory
                )
                rec["reference_action"] = ref
            if snapshot is not None:
                rec["frame"] = snapshot(ep.state.env_state)
            rec["valid"] = ~ep.finished
            ep, step_ts = advance(wrapped, ep, rec["action"])
            rec["reward"] = step_ts.reward.mean()
            return (ep, memory, ref_memory), rec

        init = start_episode(wrapped, reset_key)
        memory = policy.start_carry(init.ts)
        scan_init = (init, memory, memory)
        (ep, _, _), steps = jax.lax.scan(body, scan_init, jax.random.split(run_key, horizon))
        totals = {"return": ep.ret, "won": ep.won, "length": ep.length, "finished": ep.finished}
        return totals | steps

    def record(act_params: Any, keys: chex.Array, tamper: Tamper = HONEST) -> dict:
        return jax.vmap(one, in_axes=(None, 0, None))(act_params, keys, tamper)

    return record


@dataclasses.dataclass
class Recording:
    """Recorded episodes of every seed: arrays ``(S, E, ...)`` (seeds, episodes) in numpy."""

    env: str
    keys: list[int]
    data: dict[str, np.ndarray]
    num_actions: int

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def metrics(self) -> dict[str, Any]:
        """Specialisation metrics and scores, per seed and their mean."""
        from diamond_marl.analysis.metrics import specialisation

        per_seed = []
        for s in range(self.data["action"].shape[0]):
            d = {k: self.data[k][s] for k in ("probs", "action", "valid")}
            m = specialisation(d["probs"], d["action"], d["valid"], self.num_actions)
            m["return"] = float(self.data["return"][s].mean())
            m["won"] = float(self.data["won"][s].mean())
            per_seed.append({k: _finite(v) for k, v in m.items()})
        keys = per_seed[0].keys()
        mean = {k: _mean([p[k] for p in per_seed]) for k in keys}
        return {"per_seed": per_seed, **mean}


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


class Recorder:
    """Compiled recorders of one run on one environment, cached by their static options."""

    def __init__(self, run: LoadedRun, env: str | None = None) -> None:
        self.run = run
        program = run.program_for(env)  # the run's own algorithm, built once
        self.setup, self.algo = program.setup, program.algo
        self._cache: dict[tuple, Any] = {}

    @property
    def spec(self):
        return self.setup.env.spec

    def _compiled(self, force_noise: bool, attention: bool, render: bool, reference: bool):
        sig = (force_noise, attention, render, reference)
        if sig not in self._cache:
            policy = Policy.of(self.algo, self.setup, force_noise=force_noise)
            ref = None
            if reference:  # the run's own execution, as training evaluated it
                act = self.algo.act
                ref = functools.partial(act, execution=table_execution(self.setup))
            snap = None
            if render:
                from diamond_marl.analysis.render import snapshot_fn

                snap = snapshot_fn(self.setup.env)
            rec = make_recorder(
                self.setup.env, policy, attention=attention, snapshot=snap, reference_act=ref
            )
            self._cache[sig] = jax.jit(jax.vmap(rec, in_axes=(0, None, None)))
        return self._cache[sig]

    def record(
        self,
        keys: list[int] | range,
        tamper: Tamper = HONEST,
        *,
        force_noise: bool = False,
        attention: bool = False,
        render: bool = False,
        reference: bool = False,
        seeds: list[int] | None = None,
    ) -> Recording:
        """Play episodes ``keys`` with every seed (or ``seeds``) of the run."""
        fn = self._compiled(force_noise, attention, render, reference)
        params = self.run.act_params
        if seeds is not None:
            for s in seeds:
                self.run.seed_params(s)  # range check
            params = jax.tree.map(lambda x: x[jnp.asarray(seeds)], params)
        tamper = Tamper(*(jnp.asarray(v, jnp.float32) for v in tamper))
        out = fn(params, episode_keys(list(keys)), tamper)
        data = jax.tree.map(np.asarray, out)
        return Recording(self.spec.name, [int(k) for k in keys], data, self.spec.num_actions)
