"""Diamond Attention's noise form (the write-up's mechanism): learned attention-logit noise.

In every attention layer agent i computes
``logits + exp(log_sigma) * scale(step) * eps_i`` with private ``eps_i ~ N(0, 1)`` of the
logits' shape (``networks.attention`` adds it; ``log_sigma`` is a parameter of each layer,
so the loss's gradient trains it). ``scale`` follows a schedule or, in ``adaptive`` mode, is
the breaker's own state, which the algorithm carries and updates after each update from the
agents' measured diversity (``init_state``, ``update_state``; ``networks.schedules``).
Noise on logits only re-weights value vectors: it cannot separate agents whose tokens are all
identical.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import chex
import jax.numpy as jnp

import diamond_marl.networks.draws as draws
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.breakers.base import DrawContext, KeyedConfig, Signals, positive
from diamond_marl.networks.schedules import SCHEDULES, adapt_sigma, schedule_value


@dataclasses.dataclass(frozen=True)
class NoiseConfig(KeyedConfig):
    """Noise form: ``logits + exp(log_sigma) * scale(step) * eps_i`` in every attention layer."""

    name: ClassVar[str] = "noise"
    has_logit_noise: ClassVar[bool] = True
    init_sigma: float = 1.0
    """Initial ``exp(log_sigma)`` (per head, per layer)."""
    learn_sigma: bool = True
    """Let the loss's gradient train ``log_sigma`` (False: it stays at ``init_sigma``)."""
    per_head: bool = True
    """One ``log_sigma`` per head (False: one per layer)."""
    per_layer_dice: bool = False
    """Fresh ``eps_i`` for every layer (False: one draw per forward reused by all layers)."""
    schedule: str = "linear"
    """Scale schedule: constant, linear, exponential, cosine or adaptive."""
    start: float = 1.0
    """Scale at step 0 (and the initial scale in adaptive mode)."""
    end: float = 0.1
    """Scale at and after ``horizon``."""
    horizon: int = 1_000_000
    """Steps (as counted by the algorithm's ``step``) to go from ``start`` to ``end``."""
    target_diversity: float = 0.3
    """Adaptive mode: wanted mean pairwise TV distance between agents' policies."""
    adapt_rate: float = 0.5
    """Adaptive mode: log-scale change per unit of diversity error per update."""
    eval_noise: bool = False
    """Keep the noise at evaluation (False: deterministic evaluation, no key needed)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schedule not in SCHEDULES:
            raise allowed(self.schedule, "noise schedule", SCHEDULES)
        positive(self.name, "init_sigma", self.init_sigma)
        if self.start < 0 or self.end < 0:
            raise ConfigError(f"{self.name}: start/end must be >= 0, got {self.start}/{self.end}")
        if self.schedule == "exponential" and (self.start <= 0 or self.end <= 0):
            raise ConfigError(f"{self.name}: exponential schedule needs start > 0 and end > 0")
        if self.horizon < 1:
            raise ConfigError(f"{self.name}: horizon={self.horizon}; allowed: >= 1")

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_noise

    @classmethod
    def run_options(cls, options: dict[str, Any], env_steps: int, num_agents: int) -> dict:
        return {"horizon": env_steps} | options  # anneal over the whole run, unless given

    @property
    def attention_noise(self) -> NoiseConfig:
        return self

    @property
    def adaptive(self) -> bool:
        return self.schedule == "adaptive"

    def init_state(self) -> chex.Array | None:
        """Adaptive mode: the scale, starting at ``start``; a fixed schedule keeps none."""
        return jnp.asarray(self.start, jnp.float32) if self.adaptive else None

    def update_state(self, state: Any, signals: Signals) -> Any:
        if not self.adaptive:
            return state
        return adapt_sigma(state, signals.diversity, self.target_diversity, self.adapt_rate)

    def logged(self, state: Any, step: chex.Numeric) -> dict[str, chex.Array]:
        return {"noise_scale": self.scale_at(step, state)}

    @property
    def noise_at_eval(self) -> bool:
        return self.eval_noise

    def scale_at(self, step: chex.Numeric, state: Any) -> chex.Array:
        """The multiplier of ``exp(log_sigma)``: the adaptive scale kept in ``state``, else
        the schedule's value at ``step`` (``start`` in adaptive mode without a state)."""
        if state is None or not self.adaptive:
            return schedule_value(self.schedule, self.start, self.end, self.horizon, step)
        return jnp.asarray(state, jnp.float32)

    def logit_noise(
        self, ctx: DrawContext, entities: int
    ) -> tuple[chex.Array | None, chex.Array | None]:
        if not (ctx.mode == "train" or self.eval_noise):
            return None, None
        keys = ctx.keys(self.name, "logit noise")  # (..., N)
        shape = (ctx.heads, entities, entities)
        if self.per_layer_dice:
            shape = (ctx.blocks,) + shape
        eps = draws.fast_normal(draws.stream(keys, draws.NOISE), shape)  # (..., N, [L,] H, E, E)
        scale = self.scale_at(ctx.step, ctx.state)
        scale = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), keys.shape)  # (..., N)
        if ctx.fixed.noise_gain is not None:
            scale = scale * ctx.fixed.noise_gain  # (..., N)
        ctx.report["noise_scale"] = scale
        flat = eps.reshape(keys.shape + (-1,))
        ctx.report["noise_rms"] = jnp.sqrt(jnp.mean(jnp.square(flat), axis=-1))
        return eps, scale
