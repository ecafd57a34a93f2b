"""QMIX, VDN and IQL in one module: they differ only in the mixer (hypernetwork, sum, none).

One update = collect a window of ``segment_len`` steps from each of ``num_envs`` environments
with epsilon-greedy actions, store the windows in the sequence replay buffer, then
``updates_per_rollout`` gradient steps on sampled windows: double-Q targets from a target
network (hard or soft updates), optional TD(lambda), action masks respected in every max and
arg-max. The network key used at every step is stored, so the loss re-applies the same
breaker draws the agents acted with. Execution is greedy (deterministic) by default; the
breaker decides what randomness remains (``networks.acting.select_actions``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from diamond_marl.algos import buffer as replay
from diamond_marl.algos.common import (
    Algorithm,
    Rollout,
    TrainSetup,
    eval_act,
    network_config,
    rollout_step,
    segment_len,
    start_envs,
)
from diamond_marl.algos.returns import td_lambda
from diamond_marl.envs.types import TimeStep
from diamond_marl.networks.acting import Actor
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import AgentObs, from_timestep
from diamond_marl.networks.mixers import make_mixer
from diamond_marl.networks.network import AgentNetwork, make_network


class QState(NamedTuple):
    params: Any  # {"agent": ..., "mixer": ...}
    target_params: Any
    opt_state: Any
    buffer: replay.Buffer
    env_state: Any  # (B, ...)
    ts: TimeStep  # (B, ...)
    key: chex.Array  # raw uint32 (2,)
    episode_keys: chex.Array  # (B, 2)
    update: chex.Array  # () int32
    env_steps: chex.Array  # () int32
    noise_scale: chex.Array  # () float32 adaptive noise scale
    carry: Any = None  # (B, N, D) the agents' memory (net.recurrent), None otherwise


class Window(NamedTuple):
    """One stored trajectory window of L steps (observations of L + 1 steps)."""

    obs: AgentObs  # (L+1, N, ...)
    state: chex.Array  # (L+1, S) global state for the mixer
    net_key: chex.Array  # (L+1, 2) key given to the network at each step
    action: chex.Array  # (L, N)
    reward: chex.Array  # (L, N)
    done: chex.Array  # (L,)
    carry: Any = None  # (N, D) the agents' memory before the window's first step (recurrent)


def make_q_modules(setup: TrainSetup) -> tuple[AgentNetwork, nn.Module | None]:
    """The agent Q-network and the mixer (None for IQL) of a Q-learning run."""
    cfg = setup.config
    net = make_network(setup.env.spec, setup.breaker, network_config(cfg, ("q",)))
    if cfg.algo == "iql":
        return net, None
    qmix_args = {"embed_dim": cfg.q.mixer_hidden, "init_scale": cfg.q.mixer_init_scale}
    return net, make_mixer(cfg.algo, **(qmix_args if cfg.algo == "qmix" else {}))


def make_q_learning(setup: TrainSetup) -> Algorithm:
    """Build QMIX / VDN / IQL for ``setup`` (config, env, breaker)."""
    cfg, spec, breaker = setup.config, setup.env.spec, setup.breaker
    qc = cfg.q
    b, seg = cfg.num_envs, segment_len(cfg, setup.env)
    net, mixer = make_q_modules(setup)
    acting = Actor(net, epsilon_final=qc.eps_finish)
    recurrent = net.config.recurrent
    adaptive = breaker.adaptive
    tx = optax.chain(optax.clip_by_global_norm(qc.max_grad_norm), optax.adam(cfg.lr, eps=1e-5))

    def q_values(params, obs: AgentObs, net_key, step, noise_scale, mode="train"):
        out = net.apply(
            params["agent"], obs, net_key, step, mode, noise_scale=noise_scale if adaptive else None
        )
        return out.q  # (..., N, A) unmasked

    def window_q(params, batch: Window, step, noise_scale):
        """Q-values ``(M, L+1, N, A)`` of stored windows; a recurrent network runs along
        each window from its stored start state, zeroed where an episode starts."""
        if not recurrent:
            return q_values(params, batch.obs, batch.net_key, step, noise_scale)
        first = jnp.zeros_like(batch.done[:, :1])
        resets = jnp.concatenate([first, batch.done], axis=1)  # (M, L+1) new episode
        scale = noise_scale if adaptive else None
        return net.apply_sequence(
            params["agent"], batch.obs, batch.net_key, step, "train", batch.carry, resets,
            noise_scale=scale,
        ).q  # fmt: skip

    def epsilon(env_steps):
        frac = jnp.clip(env_steps / max(qc.eps_anneal_steps, 1), 0.0, 1.0)
        return qc.eps_start + (qc.eps_finish - qc.eps_start) * frac

    def mix(params, agent_qs, state):
        """(..., N) chosen Qs -> (...) team Q, or (..., N) per agent for IQL."""
        if mixer is None:
            return agent_qs
        return mixer.apply(params["mixer"], agent_qs, state)

    def init(key: chex.PRNGKey) -> QState:
        key, net_key, mix_key = jax.random.split(key, 3)
        start = start_envs(setup, key)
        ts = start["ts"]
        params = {"agent": net.init(net_key, from_timestep(ts))}
        memory = acting.initial_carry(from_timestep(ts))  # (B, N, D) or None
        if mixer is not None:
            params["mixer"] = mixer.init(mix_key, jnp.zeros((spec.num_agents,)), ts.state[0])
        example = Window(
            obs=jax.tree.map(lambda x: jnp.repeat(x[:1], seg + 1, 0), from_timestep(ts)),
            state=jnp.repeat(ts.state[:1], seg + 1, 0),
            net_key=jnp.zeros((seg + 1, 2), jnp.uint32),
            action=jnp.zeros((seg, spec.num_agents), jnp.int32),
            reward=jnp.zeros((seg, spec.num_agents), jnp.float32),
            done=jnp.zeros((seg,), bool),
            carry=None if memory is None else memory[0],
        )
        return QState(
            params=params,
            target_params=params,
            opt_state=tx.init(params),
            buffer=replay.init(example, qc.buffer_episodes),
            carry=memory,
            **start,
        )

    def rollout(state: QState) -> tuple[QState, Window, dict]:
        eps = epsilon(state.env_steps)

        def step(roll: Rollout, step_key):
            ts = roll.ts
            roll, acted, next_ts = rollout_step(
                setup, acting, state.params["agent"], roll, step_key, state.env_steps,
                state.noise_scale, epsilon=eps,
            )  # fmt: skip
            greedy = jnp.argmax(acted.scores, -1)  # (B, N) over the available actions
            out = (
                from_timestep(ts), ts.state, acted.net_key, acted.action, next_ts.reward,
                next_ts.done,
            )  # fmt: skip
            return roll, (out, next_ts.extras, greedy)

        key, roll_key, last_key = jax.random.split(state.key, 3)
        start = Rollout(state.env_state, state.ts, state.episode_keys, state.carry)
        (env_state, ts, episode_keys, memory), (seq, extras, greedy) = jax.lax.scan(
            step, start, jax.random.split(roll_key, seg)
        )
        obs, st, net_key, action, reward, done = seq  # time-major (L, B, ...)
        last_net_key = acting.net_key(episode_keys, last_key, b)
        append = lambda xs, x: jnp.concatenate([xs, x[None]], 0)  # noqa: E731
        window = Window(
            obs=jax.tree.map(append, obs, from_timestep(ts)),
            state=append(st, ts.state),
            net_key=append(net_key, last_net_key),  # raw uint32 keys throughout
            action=action,
            reward=reward,
            done=done,
        )
        window = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), window)  # (B, L(+1), ...)
        window = window._replace(carry=state.carry)  # (B, N, D): before the window
        state = state._replace(
            env_state=env_state, ts=ts, episode_keys=episode_keys, key=key, carry=memory
        )
        onehot = jax.nn.one_hot(greedy, spec.num_actions)  # (L, B, N, A)
        return state, window, {"extras": extras, "done": done, "greedy": onehot}

    def loss_fn(params, target_params, batch: Window, step, noise_scale):
        # batch: (M, L(+1), ...) -> Q for all L+1 observations
        q = window_q(params, batch, step, noise_scale)  # (M, L+1, N, A)
        q_tgt = window_q(target_params, batch, step, noise_scale)
        q_tgt = jax.lax.stop_gradient(q_tgt)
        avail = batch.obs.action_mask  # (M, L+1, N, A)
        chosen = jnp.take_along_axis(q[:, :-1], batch.action[..., None], -1)[..., 0]  # (M,L,N)
        select_from = jax.lax.stop_gradient(q) if qc.double_q else q_tgt
        best = jnp.argmax(mask_logits(select_from[:, 1:], avail[:, 1:]), -1)  # (M, L, N)
        next_q = jnp.take_along_axis(q_tgt[:, 1:], best[..., None], -1)[..., 0]  # (M, L, N)
        q_taken = mix(params, chosen, batch.state[:, :-1])  # (M, L) or (M, L, N)
        q_next = mix(target_params, next_q, batch.state[:, 1:])
        reward = batch.reward.mean(-1) if mixer is not None else batch.reward  # team or own
        done = batch.done if mixer is not None else batch.done[..., None]
        targets = jax.vmap(lambda r, v, d: td_lambda(r, v, d, qc.gamma, qc.td_lambda))(
            reward, q_next, done
        )
        td = q_taken - jax.lax.stop_gradient(targets)
        loss = jnp.mean(jnp.square(td))
        return loss, {"loss": loss, "q_taken": q_taken.mean(), "td_abs": jnp.abs(td).mean()}

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def batch_grads(params, target_params, batch: Window, step, noise_scale):
        """Gradient and stats of the whole batch, ``q.microbatches`` parts at a time.

        Every part has the same number of TD terms, so the mean of the parts' means is the
        batch's mean; only one part's activations are alive at once.
        """
        k = qc.microbatches
        if k == 1:
            return grad_fn(params, target_params, batch, step, noise_scale)
        parts = jax.tree.map(lambda x: x.reshape((k, x.shape[0] // k) + x.shape[1:]), batch)

        def add_part(total, part):
            out = grad_fn(params, target_params, part, step, noise_scale)
            return jax.tree.map(jnp.add, total, out), None

        first = jax.tree.map(lambda x: x[0], parts)
        shapes = jax.eval_shape(grad_fn, params, target_params, first, step, noise_scale)
        zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
        total, _ = jax.lax.scan(add_part, zeros, parts)
        return jax.tree.map(lambda x: x / k, total)

    def learn(state: QState, _: Any) -> tuple[QState, dict]:
        key, sample_key = jax.random.split(state.key)
        batch = replay.sample(state.buffer, sample_key, qc.batch_episodes)
        grads, stats = batch_grads(
            state.params, state.target_params, batch, state.env_steps, state.noise_scale
        )
        stats = stats | {"grad_norm": optax.global_norm(grads)}  # before clipping
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        ready = state.env_steps >= qc.learning_starts
        keep = lambda new, old: jax.tree.map(lambda a, c: jnp.where(ready, a, c), new, old)  # noqa: E731
        params = keep(optax.apply_updates(state.params, updates), state.params)
        opt_state = keep(opt_state, state.opt_state)
        return state._replace(params=params, opt_state=opt_state, key=key), stats

    def update(state: QState, _: Any) -> tuple[QState, dict]:
        state, window, info = rollout(state)
        state = state._replace(
            buffer=replay.add(state.buffer, window), env_steps=state.env_steps + seg * b
        )
        state, stats = jax.lax.scan(learn, state, None, length=qc.updates_per_rollout)
        n_update = state.update + 1
        if qc.tau >= 1.0:
            hard = (n_update % qc.target_update) == 0
            target = jax.tree.map(
                lambda p, t: jnp.where(hard, p, t), state.params, state.target_params
            )
        else:
            target = optax.incremental_update(state.params, state.target_params, qc.tau)
        diversity = setup.diversity(info["greedy"])
        noise_scale = setup.adapt(state.noise_scale, diversity) if adaptive else state.noise_scale
        state = state._replace(target_params=target, update=n_update, noise_scale=noise_scale)
        metrics = jax.tree.map(jnp.mean, stats)
        metrics |= setup.episode_metrics(info["extras"], info["done"])
        metrics |= {
            "diversity": diversity,
            "noise_scale": noise_scale,
            "sigma": net.sigma(
                state.params["agent"], state.env_steps, noise_scale if adaptive else None
            ),
            "epsilon": epsilon(state.env_steps),
        }
        return state, metrics

    def act_params(state: QState) -> Any:
        return (state.params["agent"], state.env_steps, state.noise_scale)

    return Algorithm(
        init=init,
        update=update,
        act=eval_act(acting),
        act_params=act_params,
        env_steps_per_update=seg * b,
        actor=acting,
    )
