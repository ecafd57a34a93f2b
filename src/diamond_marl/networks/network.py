"""The agent network every algorithm uses: entity torso + breaker + heads, shared by agents.

Algorithm writers need four calls::

    net = make_network(env.spec, "noise", NetworkConfig(outputs=("q",)))
    params = net.init(key, obs)                       # obs = from_timestep(timestep)
    out = net.apply(params, obs, key, step, "train")  # NetOut(logits, q, value, carry, ...)
    actions = select_actions(act_key, out.logits, net.breaker, "train")   # networks.acting

``apply(params, obs, key, step, mode, carry=None, *, draws=None, noise_scale=None)``:

- ``obs``: ``AgentObs`` batched over agents ``(..., N, ...)``, any extra leading dims.
- ``key``: one key, or one per env (shape ``...``, e.g. kept per episode); agent i draws from
  ``fold_in(env_key, i)``. ``None`` is allowed when the breaker reads no randomness in
  ``mode`` (``breaker.needs_key(mode)``).
- ``step``: the counter the noise schedule reads (ignored by other breakers).
- ``mode``: ``"train"`` or ``"eval"`` (static); each breaker's eval behaviour is in its config.
- ``carry``: ``(..., N, D)`` GRU state if ``config.recurrent`` (``None`` = zeros); the new one
  is ``out.carry``. Zero it at episode starts with ``reset_carry``.
- ``draws``: fix the rank draws or scale one agent's noise (adversarial evaluation, tests).
- ``noise_scale``: the adaptive-mode scale kept by the algorithm (replaces the schedule).

``attention(...)`` takes the same arguments and also returns every layer's attention weights.

The torso is written for one agent and broadcast over the agent axis (``vmap`` with shared
parameters), so the same parameters run with any team size and any number of entities; a
per-entity action head (``EnvSpec.action_entity``) lets them run on maps with other unit
counts too (``net.for_spec(other_spec)``). A value head may only sit on a network whose
breaker draws no randomness: critics never see the draws (see ``networks.critics``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from diamond_marl.envs.types import EntityKind, EnvSpec
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks import dice
from diamond_marl.networks.breakers import (
    AgentIdConfig,
    BreakerConfig,
    DiceConfig,
    NoiseConfig,
    RandomInputConfig,
    RankConfig,
    as_breaker,
)
from diamond_marl.networks.heads import ActionHead, ValueHead, mask_logits
from diamond_marl.networks.inputs import AgentObs, append_self_features, append_token
from diamond_marl.networks.schedules import schedule_value
from diamond_marl.networks.torso import EntityTorso

MODES = ("train", "eval")
OUTPUTS = ("policy", "q", "value")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Size and outputs of the agent network."""

    hidden: int = 64
    """Token width D."""
    heads: int = 4
    """Attention heads (must divide ``hidden``)."""
    blocks: int = 2
    """Transformer blocks."""
    mlp_ratio: int = 2
    """MLP width in a block, as a multiple of ``hidden``."""
    recurrent: bool = False
    """Add a GRU after the torso (carry passed in and out of ``apply``)."""
    outputs: tuple[str, ...] = ("policy",)
    """Heads to build: any of policy (masked logits), q (Q-values), value."""
    target_features: int = 32
    """Query/key width of the per-entity action scores."""
    value_hidden: int = 64
    """Hidden width of the value head."""
    q_init_scale: float = 0.01
    """Init std multiplier of the Q head's score layers (``ActionHead.init_scale``): agent Qs
    start near 0, so a mixer's Q_tot starts within the scale of the returns. The policy head
    keeps LeCun's scale."""

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} is not divisible by heads={self.heads}")
        for name in self.outputs:
            if name not in OUTPUTS:
                raise allowed(name, "network output", OUTPUTS)
        if not self.outputs:
            raise ConfigError(f"network needs at least one output; allowed: {', '.join(OUTPUTS)}")


class NetOut(NamedTuple):
    """What ``apply`` returns; heads that were not built are ``None``."""

    logits: chex.Array | None  # (..., N, A) policy logits, unavailable actions at dtype min
    q: chex.Array | None  # (..., N, A) Q-values, unmasked (use ``mask_logits`` before argmax)
    value: chex.Array | None  # (..., N) state value from the agent's own view
    carry: chex.Array | None  # (..., N, D) new GRU state, or None without GRU
    embedding: chex.Array  # (..., N, D) the agent's own vector fed to the heads


class AgentModule(nn.Module):
    """The flax module behind ``AgentNetwork``: arrays in, ``NetOut`` out."""

    config: NetworkConfig
    action_entity: tuple[int, ...]
    noise: NoiseConfig | None = None

    @nn.compact
    def __call__(
        self,
        entities: chex.Array,
        kinds: chex.Array,
        key_mask: chex.Array,
        action_mask: chex.Array,
        eps: chex.Array | None = None,
        scale: chex.Array | None = None,
        carry: chex.Array | None = None,
    ) -> NetOut:
        cfg = self.config
        tokens = EntityTorso(
            cfg.hidden, cfg.heads, cfg.blocks, cfg.mlp_ratio, self.noise, name="torso"
        )(entities, kinds, key_mask, eps, scale)  # (..., N, E, D)
        own = tokens[..., 0, :]  # (..., N, D) pooled on the agent's own token
        new_carry = None
        if cfg.recurrent:
            new_carry, own = nn.GRUCell(cfg.hidden, name="gru")(carry, own)  # (..., N, D)
        logits = q = value = None
        if "policy" in cfg.outputs:
            raw = ActionHead(self.action_entity, cfg.target_features, name="policy")(own, tokens)
            logits = mask_logits(raw, action_mask)  # (..., N, A)
        if "q" in cfg.outputs:
            q = ActionHead(self.action_entity, cfg.target_features, cfg.q_init_scale, name="q")(
                own, tokens
            )
        if "value" in cfg.outputs:
            value = ValueHead(cfg.value_hidden, name="value")(own)  # (..., N)
        return NetOut(logits, q, value, new_carry, own)


@dataclasses.dataclass(frozen=True)
class AgentNetwork:
    """A shared-parameter agent network with a symmetry breaker; see the module docstring."""

    config: NetworkConfig
    breaker: BreakerConfig
    action_entity: tuple[int, ...]  # (A,) as ``EnvSpec.action_entity``

    def __post_init__(self) -> None:
        if "value" in self.config.outputs and self.breaker.random:
            raise ConfigError(
                f"a value head cannot share the torso with breaker {self.breaker.name!r}: the "
                "critic must not see the draws; build it with networks.critics.make_critic"
            )

    @property
    def noise(self) -> NoiseConfig | None:
        return self.breaker if isinstance(self.breaker, NoiseConfig) else None

    @property
    def module(self) -> AgentModule:
        return AgentModule(self.config, tuple(self.action_entity), self.noise)

    def for_spec(self, spec: EnvSpec) -> AgentNetwork:
        """The same network (same parameters) for another map or team size."""
        return dataclasses.replace(self, action_entity=tuple(spec.action_entity))

    def init(self, key: chex.PRNGKey, obs: AgentObs) -> dict[str, Any]:
        """Parameters for inputs shaped like ``obs`` (any N, E, batch dims)."""
        params_key, draw_key = jax.random.split(dice.typed_key(key))
        args = self._inputs(obs, draw_key, 0, "train", None, None, None)
        return self.module.init(params_key, **args)

    def initial_carry(self, obs: AgentObs) -> chex.Array | None:
        """Zero GRU state ``(..., N, D)`` for inputs shaped like ``obs`` (None without GRU)."""
        if not self.config.recurrent:
            return None
        return jnp.zeros(obs.batch_shape + (obs.num_agents, self.config.hidden), jnp.float32)

    def sigma(
        self, params: dict[str, Any], step: chex.Numeric, noise_scale: chex.Numeric | None = None
    ) -> chex.Array:
        """The training-mode noise std, mean over layers and heads: ``exp(log_sigma) * scale``.

        ``noise_scale`` is the adaptive scale (None: the schedule at ``step``); 0 without noise.
        """
        cfg = self.noise
        if cfg is None:
            return jnp.zeros((), jnp.float32)
        if noise_scale is None:
            noise_scale = schedule_value(cfg.schedule, cfg.start, cfg.end, cfg.horizon, step)
        leaves = [
            jnp.exp(leaf).mean()
            for path, leaf in jax.tree_util.tree_leaves_with_path(params)
            if getattr(path[-1], "key", None) == "log_sigma"
        ]  # one per attention layer
        return jnp.stack(leaves).mean() * noise_scale

    def apply(
        self,
        params: dict[str, Any],
        obs: AgentObs,
        key: chex.PRNGKey | None = None,
        step: chex.Numeric = 0,
        mode: str = "train",
        carry: chex.Array | None = None,
        *,
        draws: dice.Draws | None = None,
        noise_scale: chex.Numeric | None = None,
    ) -> NetOut:
        """Run every agent's network; see the module docstring for the arguments."""
        args = self._inputs(obs, key, step, mode, carry, draws, noise_scale)
        return self.module.apply(params, **args)

    def attention(
        self,
        params: dict[str, Any],
        obs: AgentObs,
        key: chex.PRNGKey | None = None,
        step: chex.Numeric = 0,
        mode: str = "train",
        carry: chex.Array | None = None,
        *,
        draws: dice.Draws | None = None,
        noise_scale: chex.Numeric | None = None,
    ) -> tuple[NetOut, list[chex.Array]]:
        """``apply`` plus each layer's attention weights ``(..., N, H, E, E)``, first to last
        (query token x key token, after the entity, rank and noise masks); for analysis."""
        args = self._inputs(obs, key, step, mode, carry, draws, noise_scale)
        out, state = self.module.apply(params, **args, mutable=["intermediates"])
        torso = state["intermediates"]["torso"]
        layers = [torso[f"block{i}"]["attn"]["attention"][0] for i in range(self.config.blocks)]
        return out, layers

    def _inputs(
        self,
        obs: AgentObs,
        key: chex.PRNGKey | None,
        step: chex.Numeric,
        mode: str,
        carry: chex.Array | None,
        draws: dice.Draws | None,
        noise_scale: chex.Numeric | None,
    ) -> dict[str, Any]:
        """Turn ``obs`` and the breaker's draws into the module's array arguments."""
        if mode not in MODES:
            raise allowed(mode, "network mode", MODES)
        b, n = self.breaker, obs.num_agents
        draws = draws or dice.Draws()
        akeys = ekeys = None
        if b.needs_key(mode) and key is not None:
            ekeys = dice.env_keys(key, obs.batch_shape)  # (...)
            akeys = dice.agent_keys(ekeys, n)  # (..., N)

        def need_key(what: str) -> None:
            if akeys is None:
                raise ValueError(f"breaker {b.name!r} in mode {mode!r} needs a key ({what})")

        obs = obs._replace(entities=obs.entities.astype(jnp.float32))
        if b.needs_key(mode) and isinstance(b, (RandomInputConfig, DiceConfig)):
            need_key("input draws")
        obs = self._augment(obs, mode, ekeys, akeys)
        e = obs.num_entities
        key_mask = obs.entity_mask | (jnp.arange(e) == 0)  # (..., N, E), own token visible
        if isinstance(b, RankConfig) and (mode == "train" or b.eval_rank):
            rank = draws.rank
            if rank is None:
                need_key("rank draws")
                rank = dice.uniform(dice.stream(akeys, dice.RANK))  # (..., N)
            key_mask = key_mask & dice.rank_visible(rank, obs.entity_agent)  # (..., N, E)
        if isinstance(b, RankConfig) and b.count_feature:
            peers = key_mask & (obs.entity_kind == EntityKind.PEER)  # (..., N, E)
            obs = append_self_features(obs, peers.sum(-1, keepdims=True))  # F + 1
        eps = scale = None
        cfg = self.noise
        if cfg is not None and (mode == "train" or cfg.eval_noise):
            need_key("logit noise")
            shape = (self.config.heads, e, e)
            if cfg.per_layer_dice:
                shape = (self.config.blocks,) + shape
            eps = dice.fast_normal(dice.stream(akeys, dice.NOISE), shape)  # (..., N, [L,] H, E, E)
            if noise_scale is None:
                noise_scale = schedule_value(cfg.schedule, cfg.start, cfg.end, cfg.horizon, step)
            scale = jnp.broadcast_to(jnp.asarray(noise_scale, jnp.float32), akeys.shape)
            if draws.noise_gain is not None:
                scale = scale * draws.noise_gain  # (..., N)
        if self.config.recurrent and carry is None:
            carry = self.initial_carry(obs)
        return dict(
            entities=obs.entities,
            kinds=obs.entity_kind,
            key_mask=key_mask,
            action_mask=obs.action_mask,
            eps=eps,
            scale=scale,
            carry=carry,
        )

    def _augment(
        self,
        obs: AgentObs,
        mode: str,
        ekeys: chex.PRNGKey | None,
        akeys: chex.PRNGKey | None,
    ) -> AgentObs:
        """Add the input-side breakers: agent id, random scalar, dice token."""
        b, n = self.breaker, obs.num_agents
        if isinstance(b, AgentIdConfig):
            if n > b.max_agents:
                raise ConfigError(
                    f"agent_id breaker was built for at most max_agents={b.max_agents} agents, "
                    f"got {n}; allowed: N <= {b.max_agents} (agent IDs fix the team size)"
                )
            onehot = jax.nn.one_hot(jnp.arange(n), b.max_agents)  # (N, M)
            return append_self_features(
                obs, jnp.broadcast_to(onehot, obs.batch_shape + onehot.shape)
            )
        if isinstance(b, RandomInputConfig):
            if akeys is None:
                r = jnp.full(obs.batch_shape + (n, 1), 0.5)  # (..., N, 1)
            else:
                r = dice.uniform(dice.stream(akeys, dice.RANDOM_INPUT), (1,))  # (..., N, 1)
            return append_self_features(obs, r)
        if isinstance(b, DiceConfig):
            f = obs.entities.shape[-1]
            if akeys is None:
                token = jnp.zeros(obs.batch_shape + (n, f))  # (..., N, F)
            elif b.shared:
                shared = dice.normal(dice.stream(ekeys, dice.DICE), (f,))  # (..., F)
                token = jnp.broadcast_to(shared[..., None, :], obs.batch_shape + (n, f))
            else:
                token = dice.normal(dice.stream(akeys, dice.DICE), (f,))  # (..., N, F)
            return append_token(obs, b.scale * token, EntityKind.DICE)
        return obs


def make_network(
    spec: EnvSpec,
    breaker: str | BreakerConfig = "none",
    config: NetworkConfig | None = None,
) -> AgentNetwork:
    """The agent network for ``spec``'s actions with ``breaker`` (a name, spec string or config)."""
    return AgentNetwork(config or NetworkConfig(), as_breaker(breaker), tuple(spec.action_entity))


def reset_carry(carry: chex.Array | None, done: chex.Array) -> chex.Array | None:
    """Zero the GRU state ``(..., N, D)`` where ``done (...)`` marks a new episode."""
    if carry is None:
        return None
    return jnp.where(done[..., None, None], 0.0, carry)
