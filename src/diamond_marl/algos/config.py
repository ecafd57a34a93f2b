"""Typed training configuration: dataclass defaults < algorithm file < environment file <
``key=value`` overrides from the command line (the convention of JaxMARL, Mava, BenchMARL).

Keys are flat for the common settings (``algo=mappo steps=1000000 lr=3e-4``) and dotted for
the sub-configs (``ppo.clip_eps=0.1``, ``q.eps_finish=0.05``, ``net.hidden=64``,
``breaker.init_sigma=0.5``). Defaults per algorithm live in ``configs/algos/<algo>.yaml``,
per environment family and name in ``configs/envs/<family>.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from importlib import resources
from typing import Any

import yaml

from diamond_marl._jax_setup import setup_jax
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.options import coerce

ALGOS = ("mappo", "ippo", "qmix", "vdn", "iql")
PPO_ALGOS = ("mappo", "ippo")
Q_ALGOS = ("qmix", "vdn", "iql")
PPO_CRITICS = ("auto", "state", "entity", "team")  # ppo.critic; see PPOConfig


@dataclasses.dataclass
class NetConfig:
    """The entity-attention torso shared by every algorithm."""

    hidden: int = 64  # token embedding width
    heads: int = 4  # attention heads
    blocks: int = 2  # transformer blocks
    critic_hidden: int = 128  # MLP width of the centralised (MAPPO) critic
    q_init_scale: float = 0.01  # init std multiplier of the Q head's score layers (Q-learning)
    recurrent: bool = False  # a GRU between the torso and the heads: agents remember


@dataclasses.dataclass
class PPOConfig:
    """MAPPO / IPPO (they differ only in the critic's input)."""

    rollout_len: int = 64  # env steps per environment per update
    epochs: int = 4  # passes over each rollout
    minibatches: int = 4  # minibatches per epoch
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    clip_eps: float = 0.2  # policy ratio clip
    value_clip_eps: float = 0.2  # value clip (<= 0 disables)
    ent_coef: float = 0.01  # entropy bonus
    vf_coef: float = 0.5  # value loss weight
    max_grad_norm: float = 0.5  # gradient clipping
    # the execution headline numbers use: the breaker's own (True: arg-max except for the
    # `sampled` breaker) or sampling for every breaker (False); both are recorded either way
    eval_greedy: bool = True
    anneal_lr: bool = True  # linear learning-rate decay to lr x lr_floor at the run's end
    lr_floor: float = 0.0  # anneal_lr's final learning rate, as a fraction of lr
    normalize_values: bool = False  # critic learns standardised returns (running mean / std)
    policy_init_scale: float = 1.0  # init std multiplier of the policy head (1 = LeCun)
    mask_dead: bool = False  # policy loss and entropy over agents with a choice of action only
    separate_clip: bool = False  # clip the actor's and the critic's gradient norms separately
    critic_layernorm: bool = False  # LayerNorm on the state critic's input and hidden layers
    # the critic: "auto" (MAPPO: "state", IPPO: "entity"), "state" (an MLP on the global
    # state), "entity" (each agent's own tokens) or "team" (each agent's own tokens and the
    # team's mean embedding: centralised, and it runs at any team size)
    critic: str = "auto"


@dataclasses.dataclass
class QConfig:
    """QMIX / VDN / IQL (they differ only in the mixer)."""

    segment_len: int = 0  # steps per stored trajectory window (0 = episode limit, max 100)
    buffer_episodes: int = 2000  # replay capacity, in windows (episodes)
    batch_episodes: int = 32  # episodes per update
    # split each update's batch into this many equal parts, one after another, and average
    # their gradients: the same update with about 1/microbatches of the activation memory
    microbatches: int = 1
    updates_per_rollout: int = 1  # gradient steps per collected batch of episodes
    gamma: float = 0.99
    td_lambda: float = 0.0  # 0 = one-step TD; > 0 = TD(lambda) targets
    double_q: bool = True  # double Q-learning targets
    target_update: int = 200  # hard target update period (updates); see tau
    tau: float = 1.0  # 1 = hard updates every target_update; < 1 = soft update each step
    eps_start: float = 1.0  # epsilon-greedy exploration schedule
    eps_finish: float = 0.05
    eps_anneal_steps: int = 100_000  # env steps to anneal epsilon over
    max_grad_norm: float = 10.0
    mixer_hidden: int = 32  # QMIX mixing embedding
    mixer_init_scale: float = 0.3  # QMIX weight hypernetworks' init std multiplier (see QMix)
    learning_starts: int = 1000  # env steps collected before the first update


@dataclasses.dataclass
class HostConfig:
    """Environments stepped on the host (``pz:`` names, ``algos.host_loop``)."""

    workers: int = 2  # worker processes stepping the env copies (at most one per copy)


@dataclasses.dataclass
class TrainConfig:
    """One training run: algorithm x environment x breaker x seeds."""

    algo: str = "mappo"  # mappo | ippo | qmix | vdn | iql
    env: str = "xor:n=2,k=2"  # registry name, e.g. smax:3m
    breaker: str = "none"  # symmetry breaker (see docs/breakers.md)
    seeds: int = 1  # seeds trained together (vmapped) in one program
    seed: int = 0  # first seed
    steps: int = 0  # env steps per seed (0 = the environment's default budget)
    num_envs: int = 16  # vmapped environments per seed
    lr: float = 5e-4  # learning rate (Adam)
    eval_interval: int = 0  # env steps between evaluations (0 = about 10 per run)
    eval_episodes: int = 32  # episodes per evaluation; the final one uses 10x
    chunks: int = 0  # lower bound on the number of chunks (checkpoints); 0 = one per eval
    out: str = ""  # run directory (default runs/<algo>-<env>-<breaker>)
    net: NetConfig = dataclasses.field(default_factory=NetConfig)
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig)
    q: QConfig = dataclasses.field(default_factory=QConfig)
    host: HostConfig = dataclasses.field(default_factory=HostConfig)
    breaker_args: dict[str, Any] = dataclasses.field(default_factory=dict)  # breaker.<key>=v

    @property
    def is_ppo(self) -> bool:
        return self.algo in PPO_ALGOS


_SECTIONS = {"net": NetConfig, "ppo": PPOConfig, "q": QConfig, "host": HostConfig}
# The sub-configs only one algorithm family reads: another family's would be ignored.
_FAMILY_SECTIONS = {"ppo": PPO_ALGOS, "q": Q_ALGOS}


def _set(cfg: TrainConfig, key: str, value: Any) -> None:
    if key.startswith("breaker."):
        cfg.breaker_args[key.split(".", 1)[1]] = value  # typed by resolve_breaker
        return
    section, _, field = key.rpartition(".")
    target: Any = cfg
    if section:
        if section not in _SECTIONS:
            raise allowed(section, "config section", [*_SECTIONS, "breaker"])
        target = getattr(cfg, section)
    hints = typing.get_type_hints(type(target))
    names = [
        f.name for f in dataclasses.fields(target) if f.name not in (*_SECTIONS, "breaker_args")
    ]
    if field not in names:
        where = f"{section}." if section else ""
        raise allowed(key, "config key", [where + n for n in names])
    setattr(target, field, coerce(value, hints[field], key))


def _load_yaml(*parts: str) -> dict[str, Any]:
    node = resources.files("diamond_marl").joinpath("configs", *parts)
    if not node.is_file():
        return {}
    data = yaml.safe_load(node.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file configs/{'/'.join(parts)} must hold a mapping")
    return data


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in (*_SECTIONS, "breaker"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_overrides(args: list[str]) -> dict[str, str]:
    """``["algo=mappo", "ppo.epochs=2"]`` -> dict; anything without '=' is an error."""
    out = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {arg!r} (e.g. algo=mappo env=smax:3m)")
        out[key.strip()] = value.strip()
    return out


def resolve(overrides: dict[str, Any]) -> TrainConfig:
    """Build the run's config from defaults, files and overrides, then validate it."""
    setup_jax()  # validation builds the environment: JAX may compute from here on
    cfg = TrainConfig()
    algo = str(overrides.get("algo", cfg.algo))
    if algo not in ALGOS:
        raise allowed(algo, "algorithm", ALGOS)
    _reject_other_families(algo, overrides)
    env = str(overrides.get("env", cfg.env))
    family = env.partition(":")[0]
    env_file = _load_yaml("envs", f"{family}.yaml")
    layers = [
        _load_yaml("algos", f"{algo}.yaml"),
        env_file.get("defaults", {}),
        (env_file.get("algos") or {}).get(algo, {}),
        (env_file.get("names") or {}).get(env, {}),
        overrides,
    ]
    for layer in layers:
        for key, value in _flatten(dict(layer)).items():
            _set(cfg, key, value)
    env = validate(cfg)
    cfg.breaker_args = resolve_breaker(cfg, env)
    return cfg


def resolve_breaker(cfg: TrainConfig, env: Any) -> dict[str, Any]:
    """Every option of the run's breaker, typed and with the run's defaults filled in (the
    noise horizon is the run's length, agent IDs its team size): what ``config.yaml`` records
    and ``build_setup`` builds the breaker from. Raises ``ConfigError`` for an unknown option,
    a bad value, or a team the breaker cannot run."""
    from diamond_marl.networks.breakers import breaker_options, config_class, make_breaker

    spec = env.spec
    total = Budget.of(cfg, env).env_steps_total
    args = config_class(cfg.breaker).run_options(dict(cfg.breaker_args), total, spec.num_agents)
    breaker = make_breaker(cfg.breaker, **args)
    breaker.check_team(spec.num_agents, spec.name)
    return breaker_options(breaker)


# Default env-step budget per seed, when neither the config files nor the user set one.
FALLBACK_STEPS = 200_000


def segment_len(cfg: TrainConfig, env: Any) -> int:
    """Length of the trajectory windows Q-learning stores (the episode limit, capped)."""
    return cfg.q.segment_len or min(env.spec.max_steps, 100)


def steps_per_update(cfg: TrainConfig, env: Any) -> int:
    if cfg.is_ppo:
        return cfg.ppo.rollout_len * cfg.num_envs
    return segment_len(cfg, env) * cfg.num_envs


@dataclasses.dataclass
class Budget:
    """How a run's env steps split into updates and chunks (a chunk ends with an evaluation
    and a checkpoint)."""

    steps_per_update: int
    updates_per_chunk: int
    chunks: int

    @property
    def updates_total(self) -> int:
        return self.updates_per_chunk * self.chunks

    @property
    def env_steps_total(self) -> int:
        return self.updates_total * self.steps_per_update

    @classmethod
    def of(cls, cfg: TrainConfig, env: Any) -> Budget:
        per_update = steps_per_update(cfg, env)
        total_steps = cfg.steps or FALLBACK_STEPS
        updates = max(1, math.ceil(total_steps / per_update))
        eval_interval = cfg.eval_interval or max(per_update, total_steps // 10)
        per_chunk = max(1, min(updates, eval_interval // per_update))
        chunks = max(math.ceil(updates / per_chunk), cfg.chunks)
        per_chunk = max(1, math.ceil(updates / chunks))
        return cls(per_update, per_chunk, chunks)


def _reject_other_families(algo: str, overrides: dict[str, Any]) -> None:
    """A user's ``q.*`` option with a PPO algorithm (or ``ppo.*`` with a Q-learning one)
    would change nothing: say so instead. The config files' per-algorithm sections are not
    checked here: they hold each family's own settings."""
    for key, value in _flatten(dict(overrides)).items():
        section, dot, _ = key.partition(".")
        readers = _FAMILY_SECTIONS.get(section) if dot else None
        if readers is not None and algo not in readers:
            raise ConfigError(
                f"{key}={value}: algo={algo} does not read {section}.* options (only "
                f"{', '.join(readers)} do); drop it or choose one of those algorithms"
            )


def validate(cfg: TrainConfig) -> Any:
    """Reject values no run can use, naming each one; returns the run's environment."""
    from diamond_marl.envs import make  # builds the env: catches unknown names early
    from diamond_marl.envs.host.names import is_pz_name

    if cfg.algo not in ALGOS:
        raise allowed(cfg.algo, "algorithm", ALGOS)
    env = make(cfg.env)
    if is_pz_name(env.spec.name) and not cfg.is_ppo:
        raise allowed(cfg.algo, f"algorithm for {cfg.env} (stepped on the host)", PPO_ALGOS)
    positive = {
        "host.workers": cfg.host.workers,
        "seeds": cfg.seeds,
        "num_envs": cfg.num_envs,
        "eval_episodes": cfg.eval_episodes,
        "net.hidden": cfg.net.hidden,
        "net.heads": cfg.net.heads,
        "net.blocks": cfg.net.blocks,
    }
    if cfg.is_ppo:
        positive |= {
            "ppo.rollout_len": cfg.ppo.rollout_len,
            "ppo.epochs": cfg.ppo.epochs,
            "ppo.minibatches": cfg.ppo.minibatches,
        }
    else:
        positive |= {
            "q.batch_episodes": cfg.q.batch_episodes,
            "q.microbatches": cfg.q.microbatches,
            "q.buffer_episodes": cfg.q.buffer_episodes,
            "q.target_update": cfg.q.target_update,
        }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key}={value} must be a positive integer")
    for key, value in {
        "steps": cfg.steps,
        "eval_interval": cfg.eval_interval,
        "chunks": cfg.chunks,
    }.items():
        if value < 0:
            raise ConfigError(f"{key}={value} must be >= 0 (0 = default)")
    prefix, sub = ("ppo", cfg.ppo) if cfg.is_ppo else ("q", cfg.q)
    lam_name = "gae_lambda" if cfg.is_ppo else "td_lambda"
    if not 0 < sub.gamma <= 1:
        raise ConfigError(f"{prefix}.gamma={sub.gamma}: a discount must lie in (0, 1]")
    lam = getattr(sub, lam_name)
    if not 0 <= lam <= 1:
        raise ConfigError(f"{prefix}.{lam_name}={lam}: a lambda must lie in [0, 1]")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ConfigError(f"lr={cfg.lr} must be a positive number")
    for key, value in {
        "q.mixer_init_scale": cfg.q.mixer_init_scale,
        "net.q_init_scale": cfg.net.q_init_scale,
        "ppo.policy_init_scale": cfg.ppo.policy_init_scale,
    }.items():
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{key}={value} must be a positive number")
    if cfg.net.hidden % cfg.net.heads:
        raise ConfigError(
            f"net.hidden={cfg.net.hidden} must be divisible by net.heads={cfg.net.heads}"
        )
    if not cfg.is_ppo and cfg.q.batch_episodes % cfg.q.microbatches:
        raise ConfigError(
            f"q.microbatches={cfg.q.microbatches} must divide q.batch_episodes "
            f"= {cfg.q.batch_episodes}"
        )
    if cfg.is_ppo and cfg.ppo.critic not in PPO_CRITICS:
        raise allowed(cfg.ppo.critic, "ppo.critic", PPO_CRITICS)
    if cfg.is_ppo and not 0 <= cfg.ppo.lr_floor <= 1:
        raise ConfigError(f"ppo.lr_floor={cfg.ppo.lr_floor}: a fraction of lr must lie in [0, 1]")
    if cfg.is_ppo and (cfg.num_envs * cfg.ppo.rollout_len) % cfg.ppo.minibatches:
        raise ConfigError(
            f"ppo.minibatches={cfg.ppo.minibatches} must divide num_envs x ppo.rollout_len "
            f"= {cfg.num_envs * cfg.ppo.rollout_len}"
        )
    return env


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with ``to_dict`` (e.g. ``config.yaml`` of a run directory)."""
    data = dict(data)
    sections = {name: cls(**data.pop(name, {})) for name, cls in _SECTIONS.items()}
    return TrainConfig(**data, **sections)
