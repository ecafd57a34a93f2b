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
    RunState,
    TrainSetup,
    collect,
    eval_act,
    finish_update,
    network_config,
    start_run_state,
)
from diamond_marl.algos.config import segment_len
from diamond_marl.algos.returns import td_lambda
from diamond_marl.networks.acting import Actor, ActParams
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import AgentObs, from_timestep
from diamond_marl.networks.mixers import make_mixer
from diamond_marl.networks.network import AgentNetwork, make_network


class QState(NamedTuple):
    params: Any  # {"agent": ..., "mixer": ...}
    target_params: Any
    opt_state: Any
    buffer: replay.Buffer
    run: RunState  # environments, key, counters, the breaker's state


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
    cfg, spec = setup.config, setup.env.spec
    qc = cfg.q
    b, seg = cfg.num_envs, segment_len(cfg, setup.env)
    net, mixer = make_q_modules(setup)
    acting = Actor(net, epsilon_final=qc.eps_finish)
    recurrent = net.config.recurrent
    tx = optax.chain(optax.clip_by_global_norm(qc.max_grad_norm), optax.adam(cfg.lr, eps=1e-5))

    def window_q(params, batch: Window, act: ActParams):
        """Q-values ``(M, L+1, N, A)`` of stored windows (unmasked); a recurrent network runs
        along each window from its stored start state, zeroed where an episode starts. The
        breaker reads ``act``'s step and state (``params`` are the ones evaluated)."""
        if not recurrent:
            return net.apply(
                params["agent"], batch.obs, batch.net_key, act.step, "train", state=act.breaker
            ).q
        first = jnp.zeros_like(batch.done[:, :1])
        resets = jnp.concatenate([first, batch.done], axis=1)  # (M, L+1) new episode
        return net.apply_sequence(
            params["agent"], batch.obs, batch.net_key, act.step, "train", batch.carry, resets,
            state=act.breaker,
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
        run = start_run_state(setup, acting, key)
        ts, memory = run.roll.ts, run.roll.memory  # memory: (B, N, D) or None
        params = {"agent": net.init(net_key, from_timestep(ts))}
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
            run=run,
        )

    def rollout(state: QState) -> tuple[QState, Window, dict]:
        run = state.run
        eps = epsilon(run.env_steps)

        def record(ts, acted, next_ts):
            greedy = jnp.argmax(acted.scores, -1)  # (B, N) over the available actions
            out = (
                from_timestep(ts), ts.state, acted.net_key, acted.action, next_ts.reward,
                next_ts.done,
            )  # fmt: skip
            return out, next_ts.extras, greedy

        key, roll_key, last_key = jax.random.split(run.key, 3)
        roll, (seq, extras, greedy) = collect(
            setup, acting, run, state.params["agent"], roll_key, seg, record, epsilon=eps
        )
        obs, st, net_key, action, reward, done = seq  # time-major (L, B, ...)
        last_net_key = acting.net_key(roll.episode_keys, last_key, b)
        append = lambda xs, x: jnp.concatenate([xs, x[None]], 0)  # noqa: E731
        window = Window(
            obs=jax.tree.map(append, obs, from_timestep(roll.ts)),
            state=append(st, roll.ts.state),
            net_key=append(net_key, last_net_key),  # raw uint32 keys throughout
            action=action,
            reward=reward,
            done=done,
        )
        window = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), window)  # (B, L(+1), ...)
        window = window._replace(carry=run.roll.memory)  # (B, N, D): before the window
        state = state._replace(run=run._replace(roll=roll, key=key))
        onehot = jax.nn.one_hot(greedy, spec.num_actions)  # (L, B, N, A)
        return state, window, {"extras": extras, "done": done, "greedy": onehot}

    def loss_fn(params, target_params, batch: Window, act: ActParams):
        # batch: (M, L(+1), ...) -> Q for all L+1 observations
        q = window_q(params, batch, act)  # (M, L+1, N, A)
        q_tgt = window_q(target_params, batch, act)
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

    def batch_grads(params, target_params, batch: Window, act: ActParams):
        """Gradient and stats of the whole batch, ``q.microbatches`` parts at a time.

        Every part has the same number of TD terms, so the mean of the parts' means is the
        batch's mean; only one part's activations are alive at once.
        """
        k = qc.microbatches
        if k == 1:
            return grad_fn(params, target_params, batch, act)
        parts = jax.tree.map(lambda x: x.reshape((k, x.shape[0] // k) + x.shape[1:]), batch)

        def add_part(total, part):
            out = grad_fn(params, target_params, part, act)
            return jax.tree.map(jnp.add, total, out), None

        first = jax.tree.map(lambda x: x[0], parts)
        shapes = jax.eval_shape(grad_fn, params, target_params, first, act)
        zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
        total, _ = jax.lax.scan(add_part, zeros, parts)
        return jax.tree.map(lambda x: x / k, total)

    def learn(state: QState, _: Any) -> tuple[QState, dict]:
        run = state.run
        key, sample_key = jax.random.split(run.key)
        batch = replay.sample(state.buffer, sample_key, qc.batch_episodes)
        act = run.act_params(None)  # the step and breaker state the loss's network reads
        grads, stats = batch_grads(state.params, state.target_params, batch, act)
        stats = stats | {"grad_norm": optax.tree.norm(grads)}  # before clipping
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        ready = run.env_steps >= qc.learning_starts
        keep = lambda new, old: jax.tree.map(lambda a, c: jnp.where(ready, a, c), new, old)  # noqa: E731
        params = keep(optax.apply_updates(state.params, updates), state.params)
        opt_state = keep(opt_state, state.opt_state)
        state = state._replace(params=params, opt_state=opt_state, run=run._replace(key=key))
        return state, stats

    def update(state: QState, _: Any) -> tuple[QState, dict]:
        state, window, info = rollout(state)
        run = state.run._replace(env_steps=state.run.env_steps + seg * b)
        state = state._replace(buffer=replay.add(state.buffer, window), run=run)
        state, stats = jax.lax.scan(learn, state, None, length=qc.updates_per_rollout)
        n_update = state.run.update + 1
        if qc.tau >= 1.0:
            hard = (n_update % qc.target_update) == 0
            target = jax.tree.map(
                lambda p, t: jnp.where(hard, p, t), state.params, state.target_params
            )
        else:
            target = optax.incremental_update(state.params, state.target_params, qc.tau)
        run, metrics = finish_update(
            setup, net, state.run, state.params["agent"], stats, info, info["greedy"]
        )
        metrics["epsilon"] = epsilon(run.env_steps)
        return state._replace(target_params=target, run=run), metrics

    def act_params(state: QState) -> ActParams:
        return state.run.act_params(state.params["agent"])

    return Algorithm(
        init=init,
        update=update,
        act=eval_act(acting),
        act_params=act_params,
        env_steps_per_update=seg * b,
        actor=acting,
    )
