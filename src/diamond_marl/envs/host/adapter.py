"""One PettingZoo ``ParallelEnv`` as fixed-size numpy arrays (worker side: numpy and stdlib only).

``Adapter(env)`` checks the env once and then turns every ``reset``/``step`` into a dict of
arrays over the fixed agent order ``env.possible_agents`` (N agents, A actions):

- ``obs`` (N, *obs_shape) float32: a flat (O,) view (agents with shorter views zero-padded to
  the longest, ``obs_sizes`` their true lengths) or a grid (C, H, W) (an (H, W, C) view is
  transposed); ``action_mask`` (N, A) bool; ``alive`` (N,) bool; ``reward`` (N,) float32;
  ``terminated``, ``truncated`` () bool; ``state`` (S,) float32; ``won`` () float32.
- An absent agent (not in ``env.agents``: not arrived yet, or gone) has zero obs,
  ``alive=False`` and only action 0 available, so a masked policy still has one action; its
  action is not sent to the env. Its reward is what the env reported for it this step (the
  reward of the step it leaves counts), else 0.
- The episode is over when ``env.agents`` is empty or every agent that acted is terminated or
  truncated (or ``steps`` steps have passed): ``terminated`` if an agent terminated and none
  truncated, else ``truncated``.
- ``state``: ``env.state()`` when it returns a numeric array, else every agent's obs flattened
  and concatenated (N * prod(obs_shape)).
- ``view_agents`` (N, H, W) int32, grid views only: which agent (an index into
  ``possible_agents``) stands in each cell of each agent's view, -1 for none, as the env
  says in ``infos[agent]["view_agents"]`` (an (H, W) array of indices; all -1 when the env
  does not say). Attention breakers that act on peers (the rank mask) need it.
- ``won``: with ``success="metrics.ISR"``, the mean over agents of ``infos[agent]["metrics"]
  ["ISR"]`` on the final step (agents that do not report it are left out); with
  ``success="terminated"``, the share of all N agents that terminated during the episode (an
  agent truncated on the same step counts too: it reached a terminal state); else 0.

Worker processes may run another Python with numpy 1.x: keep this module free of JAX,
pettingzoo and ``diamond_marl`` imports, and of syntax newer than Python 3.8.
"""

from __future__ import annotations

import sys

import numpy as np

LAYOUTS = ("auto", "chw", "hwc")
TERMINATED = "terminated"  # success=terminated: the share of agents that terminated
# attributes that name the episode limit, looked up on the env and its unwrapped env
LIMIT_ATTRS = ("max_cycles", "max_steps", "max_episode_steps", "max_num_steps", "episode_limit")
PARALLEL_API = ("possible_agents", "reset", "step", "observation_space", "action_space")
OBS_ALLOWED = (
    "a Box of shape (O,), (C, H, W) or (H, W, C), or a Dict with an 'observation' Box "
    "(and an 'action_mask')"
)


class AdapterError(ValueError):
    """An env the adapter cannot serve; one line naming the bad value and what is allowed."""


def _show(x: object, limit: int = 90) -> str:
    """``repr`` on one line, cut to ``limit`` characters."""
    text = " ".join(repr(x).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(space: object) -> str:
    return type(space).__name__  # duck typing: gym and gymnasium spaces alike


def check_parallel(env: object) -> None:
    """Raise ``AdapterError`` unless ``env`` looks like a PettingZoo ParallelEnv."""
    what = f"{type(env).__module__}.{type(env).__qualname__}"
    base = getattr(sys.modules.get("pettingzoo.utils.env"), "ParallelEnv", None)
    if base is not None and isinstance(env, base):
        return
    if hasattr(env, "agent_iter") or hasattr(env, "last"):
        reason = "an AEC env (it has agent_iter/last)"
    else:
        missing = [a for a in PARALLEL_API if not hasattr(env, a)]
        if not missing:
            return
        reason = "it lacks " + ", ".join(missing)
    raise AdapterError(
        f"pz: {what} is not a PettingZoo ParallelEnv: {reason}; allowed: a ParallelEnv "
        "(possible_agents, reset, step, observation_space, action_space), e.g. "
        "module.parallel_env(...) rather than module.env(...)"
    )


class Adapter:
    """One env behind fixed-size arrays. Construction checks the spaces (cheap; it may reset
    the env once to probe ``state()``); each call costs one env call plus O(N * obs) copying."""

    def __init__(self, env, success=None, steps=None, layout="auto"):
        check_parallel(env)
        if layout not in LAYOUTS:
            raise AdapterError(f"pz: layout={layout!r}; allowed: {', '.join(LAYOUTS)}")
        self.env = env
        self.agents = [a for a in env.possible_agents]
        if not self.agents:
            raise AdapterError("pz: env.possible_agents is empty; allowed: one agent or more")
        self.index = {a: i for i, a in enumerate(self.agents)}
        self.num_actions, self.start = self._check_actions()
        self._check_obs(layout)
        self.success = success.split(".") if success else None
        self._ended = set()  # agents that terminated this episode (success="terminated")
        self.steps = steps
        self.max_steps = steps or _episode_limit(env)
        self.state_from_env, self.state_dim = self._probe_state()
        self._t, self._done = 0, True

    # checks, once --------------------------------------------------------------------------

    def _check_actions(self):
        sizes, starts = [], []
        for a in self.agents:
            space = self.env.action_space(a)
            if _kind(space) != "Discrete" or not hasattr(space, "n"):
                raise AdapterError(
                    f"pz: agent {a!r} has action space {_show(space)}; allowed: Discrete(n) "
                    "(no continuous or multi-discrete actions; MPE: continuous_actions=False)"
                )
            sizes.append(int(space.n))
            starts.append(int(getattr(space, "start", 0)))
        for a, n in zip(self.agents, sizes):  # noqa: B905 (Python 3.8 workers)
            if n != sizes[0]:
                raise AdapterError(
                    f"pz: action spaces differ in size: {self.agents[0]!r} has Discrete"
                    f"({sizes[0]}), {a!r} has Discrete({n}); allowed: the same Discrete(n) "
                    "for every agent"
                )
        return sizes[0], starts

    def _check_obs(self, layout):
        shapes, self.from_dict = [], []
        for a in self.agents:
            space = self.env.observation_space(a)
            inner = space
            if _kind(space) == "Dict":
                inner = getattr(space, "spaces", {}).get("observation")
            if _kind(inner) != "Box" or len(inner.shape) not in (1, 3):
                raise AdapterError(
                    f"pz: agent {a!r} has observation space {_show(space)}; allowed: " + OBS_ALLOWED
                )
            shapes.append(tuple(int(d) for d in inner.shape))
            self.from_dict.append(inner is not space)
        ranks = set(len(s) for s in shapes)
        if ranks == {1}:
            self.tokens, self.hwc = "flat", False
            self.obs_sizes = [s[0] for s in shapes]
            self.obs_shape = (max(self.obs_sizes),)
            return
        if ranks != {3} or len(set(shapes)) > 1:
            raise AdapterError(
                f"pz: observation shapes {sorted(set(shapes))} differ between agents; "
                "allowed: flat (O,) views of any lengths, or one grid shape for every agent"
            )
        h, w, c = shapes[0]  # read as (H, W, C) for the "auto" rule
        self.hwc = layout == "hwc" or (layout == "auto" and c < h and c < w)
        self.tokens = "grid"
        self.obs_shape = (c, h, w) if self.hwc else shapes[0]
        self.obs_sizes = [int(np.prod(self.obs_shape))] * len(self.agents)

    def _probe_state(self):
        """(True, S) when ``env.state()`` gives a numeric array (trying again after one reset
        if it fails before any), else (False, N * prod(obs_shape))."""
        fallback = (False, len(self.agents) * int(np.prod(self.obs_shape)))
        fn = getattr(self.env, "state", None)
        if not callable(fn):
            return fallback
        try:
            s = fn()
        except NotImplementedError:  # ParallelEnv's own state()
            return fallback
        except Exception:  # some envs build their state at the first reset
            try:
                self.env.reset(seed=0)
                s = fn()
            except Exception:
                return fallback
        if isinstance(s, np.ndarray) and s.dtype.kind in "biuf" and s.size > 0:
            return True, int(s.size)
        return fallback

    def info(self):
        """The facts the main process builds its spec from (plain values only)."""
        return {
            "agents": [str(a) for a in self.agents],
            "num_actions": self.num_actions,
            "obs_shape": list(self.obs_shape),
            "obs_sizes": list(self.obs_sizes),
            "tokens": self.tokens,
            "state_dim": self.state_dim,
            "state_source": "state()" if self.state_from_env else "obs",
            "max_steps": int(self.max_steps or 0),
            "success": ".".join(self.success) if self.success else None,
            "env_type": f"{type(self.env).__module__}.{type(self.env).__qualname__}",
            "python": sys.version.split()[0],
            "numpy": np.__version__,
        }

    # episodes ------------------------------------------------------------------------------

    def reset(self, seed=None):
        """The first step of an episode (reward 0, not over). Costs one ``env.reset``."""
        out = self.env.reset(seed=seed)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
            obs, infos = out
        else:  # PettingZoo < 1.23 returned the observations alone
            obs, infos = out, {}
        live = list(self.env.agents or [])
        if not live:
            raise RuntimeError("env.reset() left env.agents empty: no agent can act")
        self._t, self._done = 0, False
        self._ended = set()
        return self._pack(obs, infos, {}, live, False, False)

    def step(self, actions):
        """Send ``actions`` (N,) ints (those of absent agents are dropped); one ``env.step``."""
        if self._done:
            raise RuntimeError("step() on an episode that is over; reset() first")
        acting = list(self.env.agents)
        sent = {a: int(actions[self.index[a]]) + self.start[self.index[a]] for a in acting}
        out = self.env.step(sent)
        if len(out) == 5:
            obs, rewards, term, trunc, infos = out
        else:  # (obs, rewards, dones, infos) of PettingZoo < 1.23
            obs, rewards, term, infos = out
            trunc = {}
        self._t += 1
        live = list(self.env.agents or [])
        ended = [a for a in acting if term.get(a, False)]
        self._ended.update(ended)
        cut = [a for a in acting if trunc.get(a, False)]
        terminated = truncated = False
        if not live or len(set(ended) | set(cut)) == len(acting):
            terminated = bool(ended) and not cut
            truncated = not terminated
        elif self.steps is not None and self._t >= self.steps:
            truncated = True
        self._done = terminated or truncated
        return self._pack(obs, infos or {}, rewards or {}, live, terminated, truncated)

    def _pack(self, obs, infos, rewards, live, terminated, truncated):
        n, a = len(self.agents), self.num_actions
        o = np.zeros((n,) + tuple(self.obs_shape), np.float32)
        mask = np.zeros((n, a), bool)
        mask[:, 0] = True
        alive = np.zeros(n, bool)
        reward = np.zeros(n, np.float32)
        grid = self.tokens == "grid"
        named = np.full((n,) + tuple(self.obs_shape[1:]), -1, np.int32) if grid else None
        for agent, r in rewards.items():
            if agent in self.index:
                reward[self.index[agent]] = float(r)
        for agent in live:
            i = self.index[agent]
            alive[i] = True
            view, m = obs.get(agent), None
            if self.from_dict[i] and view is not None:
                view, m = view["observation"], view.get("action_mask")
            if view is not None:
                o[i] = self._view(view, i)
            info = infos.get(agent)
            if m is None and isinstance(info, dict):
                m = info.get("action_mask")
            if grid and isinstance(info, dict) and info.get("view_agents") is not None:
                named[i] = self._named(info["view_agents"], agent)
            m = np.ones(a, bool) if m is None else np.asarray(m).astype(bool).reshape(-1)
            if m.size != a:
                raise RuntimeError(f"{agent!r}'s action_mask has {m.size} entries, not {a}")
            mask[i] = m
        if self.state_from_env:
            state = np.asarray(self.env.state(), np.float32).reshape(-1)
            if state.size != self.state_dim:
                raise RuntimeError(f"env.state() has {state.size} values, before {self.state_dim}")
        else:
            state = o.reshape(-1)
        over = terminated or truncated
        extra = {"view_agents": named} if grid else {}
        return {
            **extra,
            "obs": o,
            "action_mask": mask,
            "alive": alive,
            "reward": reward,
            "terminated": np.asarray(terminated),
            "truncated": np.asarray(truncated),
            "state": state,
            "won": np.asarray(self._won(infos) if over else 0.0, np.float32),
        }

    def _view(self, view, i):
        x = np.asarray(view, np.float32)
        if self.tokens == "grid":
            x = x.transpose(2, 0, 1) if self.hwc else x
            if x.shape != tuple(self.obs_shape):
                raise RuntimeError(f"observation of shape {x.shape}, expected {self.obs_shape}")
            return x
        x = x.reshape(-1)
        if x.size != self.obs_sizes[i]:
            want = self.obs_sizes[i]
            raise RuntimeError(f"{self.agents[i]!r} observed {x.size} values, not {want}")
        row = np.zeros(self.obs_shape, np.float32)
        row[: x.size] = x
        return row

    def _named(self, view_agents, agent):
        x = np.asarray(view_agents)
        if x.shape != tuple(self.obs_shape[1:]) or x.dtype.kind not in "iu":
            raise RuntimeError(
                f"{agent!r}'s view_agents is {x.dtype} {x.shape}; expected integers of shape "
                f"{tuple(self.obs_shape[1:])} (agent indices, -1 for none)"
            )
        if x.size and (x.min() < -1 or x.max() >= len(self.agents)):
            raise RuntimeError(f"{agent!r}'s view_agents holds indices outside -1..N-1")
        return x

    def _won(self, infos):
        if self.success == [TERMINATED]:
            return len(self._ended) / len(self.agents)
        values = []
        for info in infos.values() if self.success else ():
            for key in self.success:
                info = info.get(key) if isinstance(info, dict) else None
            if isinstance(info, (bool, int, float, np.number, np.bool_)):
                values.append(float(info))
        return sum(values) / len(values) if values else 0.0

    def close(self):
        close = getattr(self.env, "close", None)
        if callable(close):
            close()


def _episode_limit(env):
    """The env's own episode limit (first positive int among ``LIMIT_ATTRS``), or None."""
    for obj in (env, getattr(env, "unwrapped", None), getattr(env, "aec_env", None)):
        for attr in LIMIT_ATTRS:
            try:
                value = getattr(obj, attr, None)
            except Exception:
                continue
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
                return int(value)
    return None
