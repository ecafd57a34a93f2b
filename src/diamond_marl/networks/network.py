"""The agent network every algorithm uses: entity torso + breaker + heads, shared by agents.

Algorithm writers need four calls::

    net = make_network(env.spec, "noise", NetworkConfig(outputs=("q",)))
    params = net.init(key, obs)                       # obs = from_timestep(timestep)
    out = net.apply(params, obs, key, step, "train")  # NetOut(logits, q, value, carry, ...)
    actions = select_actions(act_key, out.logits, net.breaker, "train")   # networks.acting

``apply(params, obs, key, step, mode, carry=None, *, draws=None, state=None)``:

- ``obs``: ``AgentObs`` batched over agents ``(..., N, ...)``, any extra leading dims.
- ``key``: one key, or one per env (shape ``...``, e.g. kept per episode); agent i draws from
  ``fold_in(env_key, i)``. ``None`` is allowed when the breaker reads no randomness in
  ``mode`` (``breaker.needs_key(mode)``).
- ``step``: the counter the noise schedule reads (ignored by other breakers).
- ``mode``: ``"train"`` or ``"eval"`` (static); each breaker's eval behaviour is in its config.
- ``carry``: ``(..., N, D)`` GRU state if ``config.recurrent`` (``None`` = zeros); the new one
  is ``out.carry``. Zero it at episode starts with ``reset_carry``.
- ``draws``: fix the rank draws or scale one agent's noise (adversarial evaluation, tests).
  Whatever the breaker drew comes back per agent in ``out.draws`` (``rank``,
  ``random_input``, ``noise_scale``, ``noise_rms``, ``dice_norm``, ``peers_seen``).
- ``state``: the breaker's own state (``breaker.init_state()``, kept by the algorithm; e.g.
  the adaptive noise scale); None where the caller keeps none.

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

from diamond_marl.envs.types import EnvSpec
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.breakers import BreakerConfig, DrawContext, NoiseConfig, as_breaker
from diamond_marl.networks.draws import Draws, agent_keys, env_keys, typed_key
from diamond_marl.networks.heads import ActionHead, ValueHead, mask_logits
from diamond_marl.networks.inputs import AgentObs
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
    start near 0, so a mixer's Q_tot starts within the scale of the returns."""
    team_value: bool = False
    """The value head reads the agent's own vector beside the team's mean vector (the mean
    over the N agents): a centralised critic whose size does not depend on N."""
    policy_init_scale: float = 1.0
    """The same for the policy head: 1 = LeCun's scale; a small value (0.01, as MAPPO's and
    JaxMARL's output layers) starts the policy near uniform over the available actions."""

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
    draws: dict[str, chex.Array] | None = None  # the breaker's draws per agent, (..., N) each


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
            raw = ActionHead(
                self.action_entity, cfg.target_features, cfg.policy_init_scale, name="policy"
            )(own, tokens)
            logits = mask_logits(raw, action_mask)  # (..., N, A)
        if "q" in cfg.outputs:
            q = ActionHead(self.action_entity, cfg.target_features, cfg.q_init_scale, name="q")(
                own, tokens
            )
        if "value" in cfg.outputs:
            seen = own
            if cfg.team_value:  # own vector and the team's mean, (..., N, 2D)
                team = jnp.broadcast_to(jnp.mean(own, axis=-2, keepdims=True), own.shape)
                seen = jnp.concatenate([own, team], axis=-1)
            value = ValueHead(cfg.value_hidden, name="value")(seen)  # (..., N)
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
        return self.breaker.attention_noise

    @property
    def module(self) -> AgentModule:
        return AgentModule(self.config, tuple(self.action_entity), self.noise)

    def for_spec(self, spec: EnvSpec) -> AgentNetwork:
        """The same network (same parameters) for another map or team size."""
        return dataclasses.replace(self, action_entity=tuple(spec.action_entity))

    def init(self, key: chex.PRNGKey, obs: AgentObs) -> dict[str, Any]:
        """Parameters for inputs shaped like ``obs`` (any N, E, batch dims)."""
        params_key, draw_key = jax.random.split(typed_key(key))
        args, _ = self._inputs(obs, draw_key, 0, "train", None, None, None)
        return self.module.init(params_key, **args)

    def initial_carry(self, obs: AgentObs) -> chex.Array | None:
        """Zero GRU state ``(..., N, D)`` for inputs shaped like ``obs`` (None without GRU)."""
        if not self.config.recurrent:
            return None
        return jnp.zeros(obs.batch_shape + (obs.num_agents, self.config.hidden), jnp.float32)

    def sigma(self, params: dict[str, Any], step: chex.Numeric, state: Any = None) -> chex.Array:
        """The training-mode noise std, mean over layers and heads: ``exp(log_sigma) * scale``.

        ``state`` is the breaker's own (the adaptive scale; None: the schedule at ``step``);
        0 without noise.
        """
        cfg = self.noise
        if cfg is None:
            return jnp.zeros((), jnp.float32)
        scale = cfg.scale_at(step, state)
        leaves = [
            jnp.exp(leaf).mean()
            for path, leaf in jax.tree_util.tree_leaves_with_path(params)
            if getattr(path[-1], "key", None) == "log_sigma"
        ]  # one per attention layer
        return jnp.stack(leaves).mean() * scale

    def apply(
        self,
        params: dict[str, Any],
        obs: AgentObs,
        key: chex.PRNGKey | None = None,
        step: chex.Numeric = 0,
        mode: str = "train",
        carry: chex.Array | None = None,
        *,
        draws: Draws | None = None,
        state: Any = None,
    ) -> NetOut:
        """Run every agent's network; see the module docstring for the arguments."""
        args, drawn = self._inputs(obs, key, step, mode, carry, draws, state)
        return self.module.apply(params, **args)._replace(draws=drawn)

    def apply_sequence(
        self,
        params: dict[str, Any],
        obs: AgentObs,
        key: chex.PRNGKey,
        step: chex.Numeric,
        mode: str,
        carry: chex.Array,
        resets: chex.Array,
        *,
        state: Any = None,
    ) -> NetOut:
        """``apply`` along a time axis, carrying the GRU state (a recurrent network).

        ``obs (..., T, N, ...)``, ``key (..., T)`` keys, ``carry (..., N, D)`` the state
        before step 0, ``resets (..., T)`` bool: an episode starts at step t (the state is
        zeroed before it). Returns ``NetOut`` with a T axis in the same place.
        """
        axis = resets.ndim - 1  # the time axis, counted from the front
        front = lambda x: jnp.moveaxis(x, axis, 0)  # noqa: E731

        def body(h: chex.Array, x: tuple) -> tuple[chex.Array, NetOut]:
            o, k, r = x
            out = self.apply(params, o, k, step, mode, reset_carry(h, r), state=state)
            return out.carry, out

        _, outs = jax.lax.scan(body, carry, jax.tree.map(front, (obs, key, resets)))
        return jax.tree.map(lambda x: jnp.moveaxis(x, 0, axis), outs)

    def attention(
        self,
        params: dict[str, Any],
        obs: AgentObs,
        key: chex.PRNGKey | None = None,
        step: chex.Numeric = 0,
        mode: str = "train",
        carry: chex.Array | None = None,
        *,
        draws: Draws | None = None,
        state: Any = None,
    ) -> tuple[NetOut, list[chex.Array]]:
        """``apply`` plus each layer's attention weights ``(..., N, H, E, E)``, first to last
        (query token x key token, after the entity, rank and noise masks); for analysis."""
        args, drawn = self._inputs(obs, key, step, mode, carry, draws, state)
        out, inter = self.module.apply(params, **args, mutable=["intermediates"])
        out = out._replace(draws=drawn)
        torso = inter["intermediates"]["torso"]
        layers = [torso[f"block{i}"]["attn"]["attention"][0] for i in range(self.config.blocks)]
        return out, layers

    def _inputs(
        self,
        obs: AgentObs,
        key: chex.PRNGKey | None,
        step: chex.Numeric,
        mode: str,
        carry: chex.Array | None,
        fixed: Draws | None,
        state: Any,
    ) -> tuple[dict[str, Any], dict[str, chex.Array]]:
        """The module's array arguments, and the breaker's draws per agent ``(..., N)``.

        The breaker's hooks add inputs, hide tokens and draw logit noise
        (``breakers.base``); this method only runs them in order.
        """
        if mode not in MODES:
            raise allowed(mode, "network mode", MODES)
        b, n = self.breaker, obs.num_agents
        ekeys = akeys = None
        if b.needs_key(mode) and key is not None:
            ekeys = env_keys(key, obs.batch_shape)  # (...)
            akeys = agent_keys(ekeys, n)  # (..., N)
        ctx = DrawContext(
            mode, ekeys, akeys, fixed or Draws(), step, state,
            self.config.heads, self.config.blocks,
        )  # fmt: skip
        obs = obs._replace(entities=obs.entities.astype(jnp.float32))
        obs = b.add_inputs(obs, ctx)
        key_mask = obs.entity_mask | (jnp.arange(obs.num_entities) == 0)  # own token visible
        obs, key_mask = b.restrict(obs, key_mask, ctx)  # (..., N, E)
        eps, scale = b.logit_noise(ctx, obs.num_entities)
        if self.config.recurrent and carry is None:
            carry = self.initial_carry(obs)
        args = dict(
            entities=obs.entities,
            kinds=obs.entity_kind,
            key_mask=key_mask,
            action_mask=obs.action_mask,
            eps=eps,
            scale=scale,
            carry=carry,
        )
        return args, ctx.report


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
