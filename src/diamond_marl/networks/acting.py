"""How agents act: one function for training, evaluation, analysis and replay.

``Actor`` holds an agent network and turns its scores into actions; every caller acts
through it, ``actor(act_params, obs, keys, how)`` with typed arguments: ``ActParams`` (the
weights, the step counter schedules read, the breaker's own state), ``Keys`` (the episode's
and the step's) and ``How`` (mode, execution, exploration, memory, fixed draws). Callers:
the algorithms' training rollouts (``mode="train"``, a batch of environments), evaluation
and the runs' ``Algorithm.act`` (``mode="eval"``, one environment), and analysis, replay and
the adversarial evaluation, which read what it returns besides the action: the scores, the
network's own report of the breaker's draws, and optionally every layer's attention. Keys:
the network gets the episode's key or the step's (``breaker_key``; with a batch of
environments the step key is split over them), the action rule ``fold_in(step_key, 1)``.

``select_actions`` is the one place where the ``sampled`` breaker acts (its network is the
plain ``none`` network): at evaluation it samples where every other breaker takes the
arg-max. During training the algorithm's own exploration applies: sampling from policy
logits, or epsilon-greedy over Q-values when ``epsilon`` is given.

Evaluation has two *executions*, recorded side by side for every breaker: ``greedy`` (the
arg-max) and ``sampled`` (the policy's own distribution: ``softmax(logits / temperature)``
for a policy, epsilon-greedy at the final exploration rate for Q-values). A breaker's own
execution, the one its tables use, is ``sampled`` for the ``sampled`` breaker (stochastic
execution as a baseline) and ``greedy`` for every other one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from diamond_marl.errors import allowed
from diamond_marl.networks.breakers import BreakerConfig, breaker_key
from diamond_marl.networks.draws import Draws
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import AgentObs
from diamond_marl.networks.network import AgentNetwork, NetOut

MODES = ("train", "eval")
EXECUTIONS = ("greedy", "sampled")


def own_execution(breaker: BreakerConfig) -> str:
    """The execution a breaker is evaluated with in tables: ``sampled`` only for stochastic
    execution (the ``sampled`` breaker with ``eval_sample``), ``greedy`` otherwise."""
    return breaker.execution


def sampled_probs(
    scores: chex.Array, breaker: BreakerConfig, epsilon: chex.Numeric | None = None
) -> chex.Array:
    """The distribution ``select_actions`` samples from in the ``sampled`` execution,
    ``(..., A)``: ``softmax(scores / temperature)``, or epsilon-greedy over the available
    actions (scores above the dtype's minimum) when ``epsilon`` is given."""
    if epsilon is None:
        return jax.nn.softmax(scores / breaker.temperature, axis=-1)
    available = scores > jnp.finfo(scores.dtype).min  # (..., A)
    uniform = available / available.sum(-1, keepdims=True)  # (..., A)
    greedy = jax.nn.one_hot(jnp.argmax(scores, -1), scores.shape[-1])  # (..., A)
    return (1.0 - epsilon) * greedy + epsilon * uniform


def select_actions(
    key: chex.PRNGKey | None,
    scores: chex.Array,
    breaker: BreakerConfig,
    mode: str,
    *,
    action_mask: chex.Array | None = None,
    epsilon: chex.Numeric | None = None,
    execution: str | None = None,
) -> chex.Array:
    """Actions ``(...)`` int32 from ``scores (..., A)`` (policy logits or Q-values).

    - train, ``epsilon`` None: sample from ``softmax(scores)`` (policy gradient).
    - train, ``epsilon`` given: epsilon-greedy over the available actions (Q-learning).
    - eval, ``execution`` greedy: arg-max (needs no key; ``key`` may be None).
    - eval, ``execution`` sampled: ``softmax(scores / temperature)`` for policy logits
      (``epsilon`` None; the ``sampled`` breaker's temperature, else 1), epsilon-greedy with
      ``epsilon`` for Q-values.
    - eval, ``execution`` None: the breaker's own (``own_execution``).

    ``action_mask (..., A)`` masks the scores first (policy logits come masked already).
    """
    if mode not in MODES:
        raise allowed(mode, "acting mode", MODES)
    if action_mask is not None:
        scores = mask_logits(scores, action_mask)
    greedy = jnp.argmax(scores, axis=-1).astype(jnp.int32)  # (...)
    if mode == "eval":
        execution = execution or own_execution(breaker)
        if execution not in EXECUTIONS:
            raise allowed(execution, "execution", EXECUTIONS)
        if execution == "greedy":
            return greedy
        if epsilon is None:
            return jax.random.categorical(key, scores / breaker.temperature).astype(jnp.int32)
    elif epsilon is None:
        return jax.random.categorical(key, scores).astype(jnp.int32)
    explore_key, pick_key = jax.random.split(key)
    available = scores > jnp.finfo(scores.dtype).min  # (..., A)
    uniform = jnp.where(available, 0.0, jnp.finfo(scores.dtype).min)  # (..., A)
    random_action = jax.random.categorical(pick_key, uniform).astype(jnp.int32)  # (...)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon  # (...)
    return jnp.where(explore, random_action, greedy)


class ActParams(NamedTuple):
    """What acting reads from a training state: the agent network's weights, the step
    counter (noise schedules read it) and the breaker's own state (``init_state``)."""

    params: Any
    step: chex.Array  # () int32 env steps collected
    breaker: Any = None  # the breaker's state, opaque to everyone but the breaker


class Keys(NamedTuple):
    """The keys of one act: the episode's (``(B, 2)`` with a batch of environments) and the
    step's (one key, split over the batch)."""

    episode: chex.PRNGKey
    step: chex.PRNGKey


class How(NamedTuple):
    """How one act runs, and the memory it continues from.

    ``mode``: ``train`` (sample a policy, or epsilon-greedy over Q with ``epsilon``) or
    ``eval`` (``execution``; None: the breaker's own). ``carry``: a recurrent network's state
    (None: zeros). ``draws``: fixed draws (adversarial evaluation). ``attention``: also
    return every layer's attention weights.
    """

    mode: str = "eval"
    carry: chex.Array | None = None
    epsilon: chex.Numeric | None = None
    execution: str | None = None
    draws: Draws | None = None
    attention: bool = False


class Acted(NamedTuple):
    """What ``Actor`` returns: the actions and everything behind them."""

    action: chex.Array  # (..., N) int32
    scores: chex.Array  # (..., N, A) masked policy logits or masked Q-values
    out: NetOut  # the network's outputs; ``out.draws``: the breaker's draws per agent
    net_key: chex.Array  # the key the network was given (stored by the algorithms)
    attention: list[chex.Array] | None  # with ``attention=True``: each layer's weights
    carry: chex.Array | None  # (..., N, D) the GRU state after this step (recurrent only)


@dataclasses.dataclass(frozen=True)
class Actor:
    """An agent network (policy or Q head) and the rule that turns its scores into actions.

    ``epsilon_final``: Q-learning's exploration rate at the end of training
    (``q.eps_finish``), which its ``sampled`` execution uses; None for a policy.
    """

    net: AgentNetwork
    epsilon_final: float | None = None

    @property
    def breaker(self) -> BreakerConfig:
        return self.net.breaker

    @property
    def is_policy(self) -> bool:
        return "policy" in self.net.config.outputs

    def initial_carry(self, obs: AgentObs) -> chex.Array | None:
        """Zero GRU state for ``obs`` (None for a feed-forward network)."""
        return self.net.initial_carry(obs)

    def net_key(self, episode_key: chex.PRNGKey, step_key: chex.PRNGKey, batch: int | None):
        """The network's key: the episode's or the step's (split over ``batch`` envs)."""
        step = step_key if batch is None else jax.random.split(step_key, batch)
        return breaker_key(self.breaker, episode_key, step)

    def __call__(self, act_params: ActParams, obs: AgentObs, keys: Keys, how: How) -> Acted:
        """Act on ``obs`` (one env ``(N, ...)`` or a batch ``(B, N, ...)`` with
        ``keys.episode`` ``(B, 2)``) as ``how`` says; Q-learning's sampled evaluation
        explores at ``epsilon_final``."""
        batch = obs.batch_shape[0] if obs.batch_shape else None
        net_key = self.net_key(keys.episode, keys.step, batch)
        args = (act_params.params, obs, net_key, act_params.step, how.mode, how.carry)
        extra = {"draws": how.draws, "state": act_params.breaker}
        layers = None
        if how.attention:
            out, layers = self.net.attention(*args, **extra)
        else:
            out = self.net.apply(*args, **extra)
        scores = out.logits if self.is_policy else mask_logits(out.q, obs.action_mask)
        epsilon = how.epsilon
        if how.mode == "eval" and not self.is_policy:
            epsilon = self.epsilon_final
        act_key = jax.random.fold_in(keys.step, 1)
        action = select_actions(
            act_key, scores, self.breaker, how.mode, epsilon=epsilon, execution=how.execution
        )
        return Acted(action, scores, out, net_key, layers, out.carry)

    def probs(self, scores: chex.Array, action: chex.Array, execution: str) -> chex.Array:
        """The action distribution ``(..., N, A)`` of an evaluation in ``execution``: what is
        sampled in ``sampled``; in ``greedy``, the policy's softmax (though it acts by
        arg-max) or, for Q-learning, the one-hot of the action taken."""
        if execution == "sampled":
            return sampled_probs(
                scores, self.breaker, None if self.is_policy else self.epsilon_final
            )
        if self.is_policy:
            return jax.nn.softmax(scores, axis=-1)
        return jax.nn.one_hot(action, scores.shape[-1])
