"""What a breaker is: a frozen config whose hooks say everything it changes.

The network, the acting rule, the run's set-up and the adversarial evaluation never ask
which breaker they hold; they call its hooks, which do nothing here:

================== =========================================================================
hook               called by, and what a breaker may do there
================== =========================================================================
init_state         the algorithms: the breaker's own state at the run's start (carried
                   opaquely in the training state and in ``ActParams``; None: stateless)
update_state       the algorithms, after each update: the next state from ``Signals``
logged             the algorithms: metrics of the state to log after each update
needs_key(mode)    the network: whether ``apply`` reads the key in ``mode``
add_inputs         the network: add self-token features or tokens (agent id, dice token)
restrict           the network: hide tokens from the attention (rank mask, peer dropout)
logit_noise        the network: noise for the attention logits, ``(eps, scale)``
attention_noise    the attention layers: the config they build ``log_sigma`` from
execution          the acting rule: the execution its tables use (``greedy``/``sampled``)
temperature        the acting rule: softmax temperature of sampled policy logits
run_options        the run set-up: options that depend on the run (noise horizon, team size)
check_team         the run set-up and the network: can it run with N agents?
broadcasts_rank,   the adversarial evaluation: which attacks can act on it
has_logit_noise
================== =========================================================================

Hooks that draw write what they drew, per agent ``(..., N)``, into ``DrawContext.report``;
the network returns it as ``NetOut.draws``, so analysis reads the draws instead of
recomputing them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import chex

from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.draws import Draws
from diamond_marl.networks.inputs import AgentObs

RESAMPLE = ("step", "episode")


class Signals(NamedTuple):
    """What an algorithm tells its breaker after each update (``update_state``)."""

    env_steps: chex.Array  # () int32 env steps collected so far
    diversity: chex.Array  # () mean pairwise TV distance between agents' action distributions


@dataclasses.dataclass
class DrawContext:
    """What the hooks read while the network builds its inputs for one ``apply``."""

    mode: str  # "train" or "eval"
    env_keys: chex.PRNGKey | None  # (...) one key per env; None when no key is read
    agent_keys: chex.PRNGKey | None  # (..., N) ``fold_in(env_key, i)``
    fixed: Draws  # draws the caller fixes (adversarial evaluation, tests)
    step: chex.Numeric  # the counter noise schedules read
    state: Any  # the breaker's own state (``init_state``); None when the caller keeps none
    heads: int  # attention heads of the torso
    blocks: int  # transformer blocks of the torso
    report: dict[str, chex.Array] = dataclasses.field(default_factory=dict)

    def keys(self, breaker: str, what: str) -> chex.PRNGKey:
        """The agent keys, or a clear error naming what needed them."""
        if self.agent_keys is None:
            raise ValueError(f"breaker {breaker!r} in mode {self.mode!r} needs a key ({what})")
        return self.agent_keys


@dataclasses.dataclass(frozen=True)
class BreakerConfig:
    """Base of every breaker config; ``name`` is its registry name."""

    name: ClassVar[str] = "none"
    random: ClassVar[bool] = False  # True when the network itself consumes random draws
    broadcasts_rank: ClassVar[bool] = False  # has a broadcast rank draw (rank attacks)
    has_logit_noise: ClassVar[bool] = False  # adds attention-logit noise (noise attack)

    def needs_key(self, mode: str) -> bool:
        """Whether ``apply`` in ``mode`` reads the key (False: the key may be None)."""
        return False

    # the breaker's own state -------------------------------------------------------------

    def init_state(self) -> Any:
        """The state this breaker keeps across updates (a pytree; None: none)."""
        return None

    def update_state(self, state: Any, signals: Signals) -> Any:
        """The state after one update (pure and jittable)."""
        return state

    def logged(self, state: Any, step: chex.Numeric) -> dict[str, chex.Array]:
        """Metrics of the state the algorithms log after each update."""
        return {}

    # the network -------------------------------------------------------------------------

    def add_inputs(self, obs: AgentObs, ctx: DrawContext) -> AgentObs:
        """Inputs the breaker adds before the torso (features, tokens)."""
        return obs

    def restrict(
        self, obs: AgentObs, key_mask: chex.Array, ctx: DrawContext
    ) -> tuple[AgentObs, chex.Array]:
        """Tokens hidden from attention: ``key_mask (..., N, E)`` bool, True = visible."""
        return obs, key_mask

    def logit_noise(
        self, ctx: DrawContext, entities: int
    ) -> tuple[chex.Array | None, chex.Array | None]:
        """``eps (..., N, [L,] H, E, E)`` and ``scale (..., N)`` for the attention logits."""
        return None, None

    @property
    def attention_noise(self) -> Any:
        """The config the attention layers build ``log_sigma`` from (None: no noise)."""
        return None

    @property
    def rank_at_eval(self) -> bool:
        """Ranks are drawn in ``eval`` mode (rank attacks can act)."""
        return False

    @property
    def noise_at_eval(self) -> bool:
        """Logit noise stays on in ``eval`` mode."""
        return False

    # acting ------------------------------------------------------------------------------

    @property
    def execution(self) -> str:
        """The execution this breaker's tables use: ``greedy`` (arg-max) for all but
        stochastic execution."""
        return "greedy"

    @property
    def temperature(self) -> float:
        """Softmax temperature when a policy's logits are sampled at evaluation."""
        return 1.0

    # the run -----------------------------------------------------------------------------

    @classmethod
    def run_options(cls, options: dict[str, Any], env_steps: int, num_agents: int) -> dict:
        """The options a run passes, with defaults that depend on the run filled in."""
        return options

    def check_team(self, num_agents: int, env: str) -> None:
        """Raise ``ConfigError`` if the network cannot run with ``num_agents`` agents."""


@dataclasses.dataclass(frozen=True)
class KeyedConfig(BreakerConfig):
    """Breakers whose network reads random draws from the key."""

    random: ClassVar[bool] = True
    resample: str = "step"
    """Which key the algorithm passes: a fresh one every 'step' or one per 'episode'."""

    def __post_init__(self) -> None:
        if self.resample not in RESAMPLE:
            raise allowed(self.resample, f"{self.name} resample", RESAMPLE)


def positive(breaker: str, field: str, value: float) -> None:
    """Raise unless ``value`` > 0 (and finite)."""
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{breaker}: {field}={value}; allowed: > 0")
