"""MAPPO and IPPO in one module: they differ only in the critic's input.

- MAPPO: a centralised critic V(global state), one value shared by the team's agents.
- IPPO: a decentralised critic V(own entity view) per agent, on a noise-free torso.
- ``ppo.critic=team`` (either algorithm): V(own entity view, the team's mean embedding) per
  agent, centralised like MAPPO's but with no global state vector, so it trains at one team
  size and runs at another (fleets; cost linear in N).

Both use the shared entity-attention actor with the run's symmetry breaker. The critic never
sees the breaker's draws. One update = collect ``rollout_len`` steps from ``num_envs``
environments, GAE, then ``epochs`` x ``minibatches`` clipped-PPO steps. The network key used
at each rollout step is stored, so the update re-applies exactly the noise / ranks / dice the
behaviour policy acted with and the probability ratio is exact.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from diamond_marl.algos.common import (
    Algorithm,
    HostHooks,
    RunState,
    TrainSetup,
    collect,
    eval_act,
    finish_update,
    network_config,
    start_run_state,
)
from diamond_marl.algos.config import PPOConfig
from diamond_marl.algos.returns import gae
from diamond_marl.envs.types import TimeStep
from diamond_marl.errors import ConfigError
from diamond_marl.networks.acting import Actor, ActParams
from diamond_marl.networks.critics import make_critic
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.network import make_network


class PPOState(NamedTuple):
    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    value_norm: chex.Array  # (3,) running E[G], E[G^2] and their debiasing weight
    run: RunState  # environments, key, counters, the breaker's state


# Value normalisation (as in MAPPO, Yu et al. 2022): the critic predicts standardised
# returns; statistics are exponential moving averages over updates, debiased like Adam's.
_NORM_DECAY = 0.99
_NORM_START = (0.0, 0.0, 0.0)


def _norm_stats(norm: chex.Array) -> tuple[chex.Array, chex.Array]:
    """(mean, std) of the returns seen so far; (0, 1) before the first update."""
    weight = jnp.maximum(norm[2], 1e-8)
    mean = jnp.where(norm[2] > 0, norm[0] / weight, 0.0)
    var = jnp.where(norm[2] > 0, norm[1] / weight - jnp.square(mean), 1.0)
    return mean, jnp.sqrt(jnp.maximum(var, 1e-4))


def _norm_update(norm: chex.Array, targets: chex.Array) -> chex.Array:
    batch = jnp.stack([targets.mean(), jnp.square(targets).mean(), 1.0])
    return _NORM_DECAY * norm + (1 - _NORM_DECAY) * batch


class Transition(NamedTuple):
    ts: TimeStep  # (B, ...) timestep acted on
    net_key: chex.Array  # (B, 2) key given to the actor
    action: chex.Array  # (B, N)
    log_prob: chex.Array  # (B, N)
    value: chex.Array  # (B, N)
    reward: chex.Array  # (B, N)
    done: chex.Array  # (B,)


def _weighted_mean(x: chex.Array, weight: chex.Array | None) -> chex.Array:
    """Mean of ``x`` with ``weight`` (same shape; 0 when every weight is 0); ``None``: the
    plain mean (the same operations as before the weights existed, so unmasked runs
    reproduce bit for bit)."""
    if weight is None:
        return jnp.mean(x)
    return jnp.sum(x * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def _weighted_mean_std(x: chex.Array, weight: chex.Array | None) -> tuple[chex.Array, chex.Array]:
    if weight is None:
        return x.mean(), x.std()
    mean = _weighted_mean(x, weight)
    return mean, jnp.sqrt(_weighted_mean(jnp.square(x - mean), weight))


def policy_terms(
    logits: chex.Array,
    action: chex.Array,
    old_log_prob: chex.Array,
    adv: chex.Array,
    action_mask: chex.Array,
    pc: PPOConfig,
) -> tuple[chex.Array, chex.Array, dict[str, chex.Array]]:
    """The clipped policy loss and the entropy bonus's entropy (both means), and their stats.

    ``logits (..., N, A)``, ``action``/``old_log_prob``/``adv``/``action_mask.sum(-1)``
    ``(..., N)``. Living agents are those with a choice of action: a dead SMAX unit may only
    "stop", so its log-prob and entropy are 0 whatever the parameters, and in a plain mean it
    only dilutes the policy terms by the share of dead agent-steps. ``pc.mask_dead`` takes
    the means (and the advantages' standardisation) over the living only, as MAPPO does.
    """
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, action[..., None], -1)[..., 0]
    log_ratio = logp - old_log_prob
    ratio = jnp.exp(log_ratio)
    alive = (action_mask.sum(-1) > 1).astype(jnp.float32)  # (..., N)
    weight = alive if pc.mask_dead else None  # None: every agent, plain means
    # A floor on the scale: once every sample earns the same return (a solved XOR game),
    # dividing by a near-zero std turned rounding noise into unit-size advantages and the
    # policy collapsed (seen on xor:n=3,k=3 after reaching 100%).
    adv_mean, adv_std = _weighted_mean_std(adv, weight)
    adv = (adv - adv_mean) / jnp.maximum(adv_std, 1e-2)
    pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - pc.clip_eps, 1 + pc.clip_eps) * adv)
    probs = jnp.exp(logp_all)
    entropy = -jnp.sum(jnp.where(probs > 0, probs * logp_all, 0.0), -1)  # (..., N)
    kl = jnp.exp(-log_ratio) - 1 + log_ratio  # KL(old || new), Schulman's k3 estimator
    stats = {
        "entropy": entropy.mean(),  # every agent, the dead (entropy 0) included
        "entropy_alive": _weighted_mean(entropy, alive),
        # both over the agents the policy loss weighs (only the living with pc.mask_dead)
        "clip_frac": _weighted_mean(jnp.abs(ratio - 1) > pc.clip_eps, weight),
        "approx_kl": _weighted_mean(kl, weight),
    }
    return _weighted_mean(pg, weight), _weighted_mean(entropy, weight), stats


def clip_each(max_norm: float) -> optax.GradientTransformation:
    """``clip_by_global_norm`` on each top-level entry of the gradient (``actor`` and
    ``critic``) separately, as the peers do with one optimiser per network: a large critic
    gradient no longer shrinks the actor's step."""
    clip = optax.clip_by_global_norm(max_norm)

    def update(updates, state, params=None):
        del params
        clipped = {name: clip.update(g, state)[0] for name, g in updates.items()}
        return clipped, state

    return optax.GradientTransformation(clip.init, update)


def make_ppo(setup: TrainSetup) -> Algorithm:
    """Build the MAPPO / IPPO algorithm for ``setup`` (config, env, breaker)."""
    cfg, spec = setup.config, setup.env.spec
    pc = cfg.ppo
    b, t = cfg.num_envs, pc.rollout_len
    kind = {"auto": "state" if cfg.algo == "mappo" else "entity"}.get(pc.critic, pc.critic)
    on_state = kind == "state"  # the global state vector, not the agents' tokens
    actor_cfg = network_config(cfg, ("policy",), policy_init_scale=pc.policy_init_scale)
    actor = make_network(spec, setup.breaker, actor_cfg)
    acting = Actor(actor)
    recurrent = actor.config.recurrent
    if recurrent and b % pc.minibatches:
        raise ConfigError(
            f"net.recurrent=true trains on whole sequences, minibatches of environments: "
            f"num_envs={b} is not divisible by ppo.minibatches={pc.minibatches}"
        )
    critic_cfg = network_config(cfg, ("value",), value_hidden=cfg.net.critic_hidden)
    critic_cfg = dataclasses.replace(critic_cfg, recurrent=False)  # critics are feed-forward
    critic = make_critic(kind, critic_cfg, pc.critic_layernorm)
    total_updates = setup.updates_total
    lr = (
        optax.linear_schedule(
            cfg.lr, cfg.lr * pc.lr_floor, total_updates * pc.epochs * pc.minibatches
        )
        if pc.anneal_lr
        else cfg.lr
    )
    clip = (
        clip_each(pc.max_grad_norm)
        if pc.separate_clip
        else optax.clip_by_global_norm(pc.max_grad_norm)
    )
    tx = optax.chain(clip, optax.adam(lr, eps=1e-5))

    def values(params: Any, ts: TimeStep) -> chex.Array:
        """(..., N) state values; the critic takes no key."""
        if on_state:
            v = critic.apply(params["critic"], ts.state)  # (...)
            return jnp.broadcast_to(v[..., None], ts.reward.shape)  # (..., N)
        return critic.apply(params["critic"], from_timestep(ts)).value  # (..., N)

    def init(key: chex.PRNGKey) -> PPOState:
        key, actor_key, critic_key = jax.random.split(key, 3)
        return init_with(start_run_state(setup, acting, key), actor_key, critic_key)

    def init_with(run: RunState, actor_key: chex.PRNGKey, critic_key: chex.PRNGKey) -> PPOState:
        """A fresh learner acting on ``run``'s environments (a host loop brings its own)."""
        ts = run.roll.ts
        obs = from_timestep(ts)
        params = {"actor": actor.init(actor_key, obs)}
        params["critic"] = critic.init(critic_key, ts.state if on_state else obs)
        return PPOState(
            params=params,
            opt_state=tx.init(params),
            value_norm=jnp.asarray(_NORM_START, jnp.float32),
            run=run,
        )

    def record(params: Any, ts: TimeStep, acted, next_ts: TimeStep):
        """What a rollout keeps of one step: the transition, the env's extras, the policy."""
        action, logits = acted.action, acted.scores  # (B, N), (B, N, A)
        logp_all = jax.nn.log_softmax(logits)  # (B, N, A)
        log_prob = jnp.take_along_axis(logp_all, action[..., None], -1)[..., 0]
        value = values(params, ts)
        tr = Transition(ts, acted.net_key, action, log_prob, value, next_ts.reward, next_ts.done)
        return tr, next_ts.extras, jax.nn.softmax(logits)

    def rollout(state: PPOState) -> tuple[PPOState, Transition, dict]:
        run = state.run
        key, roll_key = jax.random.split(run.key)
        roll, (traj, extras, probs) = collect(
            setup, acting, run, state.params["actor"], roll_key, t,
            functools.partial(record, state.params),
        )  # fmt: skip
        info = {"extras": extras, "done": traj.done, "probs": probs, "carry0": run.roll.memory}
        return state._replace(run=run._replace(roll=roll, key=key)), traj, info

    def logits_of(params, batch: Transition, carry0, act: ActParams):
        """The actor's logits on a minibatch: ``(M, N, A)`` steps, or, recurrent, ``(M, T,
        N, A)`` whole sequences run from their start state ``carry0 (M, N, D)``; the breaker
        reads ``act``'s step and state (``params`` are the ones being trained)."""
        obs = from_timestep(batch.ts)
        step, breaker_state = act.step, act.breaker
        if not recurrent:
            return actor.apply(
                params["actor"], obs, batch.net_key, step, "train", state=breaker_state
            ).logits
        first = jnp.zeros_like(batch.done[:, :1])
        resets = jnp.concatenate([first, batch.done[:, :-1]], axis=1)  # (M, T) new episode
        return actor.apply_sequence(
            params["actor"], obs, batch.net_key, step, "train", carry0, resets,
            state=breaker_state,
        ).logits  # fmt: skip

    def loss_fn(params, batch: Transition, adv, targets, carry0, act: ActParams):
        logits = logits_of(params, batch, carry0, act)
        pg, ent, stats = policy_terms(
            logits, batch.action, batch.log_prob, adv, batch.ts.action_mask, pc
        )
        v = values(params, batch.ts)
        v_loss = jnp.square(v - targets)
        if pc.value_clip_eps > 0:
            v_clip = batch.value + jnp.clip(v - batch.value, -pc.value_clip_eps, pc.value_clip_eps)
            v_loss = jnp.maximum(v_loss, jnp.square(v_clip - targets))
        loss = pg + pc.vf_coef * 0.5 * v_loss.mean() - pc.ent_coef * ent
        return loss, {"loss": loss, "policy_loss": pg, "value_loss": v_loss.mean(), **stats}

    def update(state: PPOState, _: Any) -> tuple[PPOState, dict]:
        return learn(*rollout(state))

    def learn(state: PPOState, traj: Transition, info: dict) -> tuple[PPOState, dict]:
        """One update from a collected rollout: ``traj`` time-major (T, B, ...), ``info`` as
        ``rollout`` returns it; ``state.run.roll.ts`` is the timestep after the rollout."""
        run = state.run
        last_v = values(state.params, run.roll.ts)  # (B, N)
        done = jnp.broadcast_to(traj.done[..., None], traj.reward.shape)  # (T, B, N)
        value_norm = state.value_norm
        if pc.normalize_values:  # the critic's outputs are standardised: back to returns
            mean, std = _norm_stats(value_norm)
            adv, targets = gae(
                traj.reward,
                traj.value * std + mean,
                done,
                last_v * std + mean,
                pc.gamma,
                pc.gae_lambda,
            )
            value_norm = _norm_update(value_norm, targets)
            mean, std = _norm_stats(value_norm)
            targets = (targets - mean) / std  # the critic regresses standardised targets
        else:
            adv, targets = gae(traj.reward, traj.value, done, last_v, pc.gamma, pc.gae_lambda)
        if recurrent:  # whole sequences: (B, T, ...), minibatches of environments
            rows = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, adv, targets))
            rows = (*rows, info["carry0"])  # carry0 (B, N, D)
        else:  # single steps: (T B, ...)
            flat = (traj, adv, targets)
            rows = (*jax.tree.map(lambda x: x.reshape((t * b,) + x.shape[2:]), flat), None)
        size = b if recurrent else t * b

        act = run.act_params(None)  # the step and breaker state the rollout acted with

        def epoch(carry, epoch_key):
            params, opt_state = carry
            perm = jax.random.permutation(epoch_key, size)
            mbs = jax.tree.map(lambda x: x[perm].reshape((pc.minibatches, -1) + x.shape[1:]), rows)

            def minibatch(carry, mb):
                params, opt_state = carry
                grads, stats = jax.grad(loss_fn, has_aux=True)(params, *mb, act)
                updates, opt_state = tx.update(grads, opt_state, params)
                stats |= {f"grad_norm_{k}": optax.tree.norm(g) for k, g in grads.items()}
                return (optax.apply_updates(params, updates), opt_state), stats

            return jax.lax.scan(minibatch, (params, opt_state), mbs)

        key, epoch_key = jax.random.split(run.key)
        (params, opt_state), stats = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epoch_key, pc.epochs)
        )
        run = run._replace(key=key, env_steps=run.env_steps + t * b)
        run, metrics = finish_update(setup, actor, run, params["actor"], stats, info, info["probs"])
        state = PPOState(params, opt_state, value_norm, run)
        return state, metrics

    def act_params(state: PPOState) -> ActParams:
        return state.run.act_params(state.params["actor"])

    return Algorithm(
        init=init,
        update=update,
        act=eval_act(acting),
        act_params=act_params,
        env_steps_per_update=t * b,
        actor=acting,
        host=HostHooks(init_with, record, learn),
    )
