"""A tiny PettingZoo ParallelEnv for tests and docs: a coordination game whose agents come and go.

``parallel_env(agents=3, actions=3, horizon=8, leave=0.15, late=0)``: every step each present
agent picks one of ``actions`` actions; each gets reward 1 when all present agents picked the
same one, else 0. After each step a present agent leaves (terminates) with probability
``leave``; the last ``late`` agents are absent at reset and arrive after the first step. The
episode ends when every agent has left (terminated) or after ``horizon`` steps (truncated).

- Observation, Box (N * actions + N + 1,): one-hot of every agent's previous action (zeros
  for absent agents and at the start), one-hot of the agent's own index, and t / horizon.
- ``infos[agent]["action_mask"]``: the last action is unavailable on odd steps;
  ``infos[agent]["metrics"]["coordinated"]``: the fraction of steps so far on which all
  present agents agreed (``success=metrics.coordinated``). No ``state()``.
- ``dict_obs=True``: observations as ``{"observation", "action_mask"}`` (Dict space).

``grid_env(view=3, channels=2, channels_last=False, ...)``: the same game seen as a (C, H, W)
grid ((H, W, C) with ``channels_last``): channel 0 is 1 on the centre cell, the others hold
values drawn each step from the env's seeded generator; it has a ``state()`` of 3 values.
``name_cells=True``: ``infos[agent]["view_agents"]`` names the agent itself at the centre
and the next agent (index i + 1 mod N) in the top-left cell, -1 elsewhere.

For tests of the host machinery: ``crash_at=k`` raises at step k, ``exit_at=k`` ends the
process at step k, ``sleep=s`` sleeps s seconds per step, ``bad="continuous" | "sizes" |
"obs"`` gives spaces the adapter must refuse. Steps cost O(N * actions).
"""

from __future__ import annotations

import os
import time

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class CoordinationEnv(ParallelEnv):
    metadata = {"name": "toy_coordination_v0", "render_modes": []}

    def __init__(
        self,
        agents=3,
        actions=3,
        horizon=8,
        leave=0.15,
        late=0,
        dict_obs=False,
        crash_at=None,
        exit_at=None,
        sleep=0.0,
        bad=None,
    ):
        self.possible_agents = [f"agent_{i}" for i in range(agents)]
        self.agents = []
        self.n, self.k, self.max_steps = agents, actions, horizon
        self.leave, self.late, self.dict_obs = leave, late, dict_obs
        self.crash_at, self.exit_at, self.sleep, self.bad = crash_at, exit_at, sleep, bad
        self._rng = np.random.default_rng(0)
        self._t, self._agreed = 0, 0
        self._prev = np.full(agents, -1)

    def observation_space(self, agent):
        if self.bad == "obs":
            return spaces.Box(0.0, 1.0, (2, self._obs_size()), np.float32)  # neither flat nor grid
        box = self._view_space()
        if self.dict_obs:
            return spaces.Dict({"observation": box, "action_mask": spaces.MultiBinary(self.k)})
        return box

    def action_space(self, agent):
        if self.bad == "continuous":
            return spaces.Box(-1.0, 1.0, (2,), np.float32)
        extra = self.bad == "sizes" and agent == self.possible_agents[-1]
        return spaces.Discrete(self.k + extra)

    def _obs_size(self):
        return self.n * self.k + self.n + 1

    def _view_space(self):
        return spaces.Box(0.0, 1.0, (self._obs_size(),), np.float32)

    def _view(self, i):
        prev = np.zeros((self.n, self.k), np.float32)
        for j, a in enumerate(self._prev):
            if a >= 0:
                prev[j, a] = 1.0
        t = np.asarray([self._t / self.max_steps], np.float32)
        return np.concatenate([prev.reshape(-1), np.eye(self.n, dtype=np.float32)[i], t])

    def _mask(self):
        mask = np.ones(self.k, np.int8)
        mask[-1] = self._t % 2 == 0
        return mask

    def _obs_of(self, agent):
        view = self._view(self.possible_agents.index(agent))
        return {"observation": view, "action_mask": self._mask()} if self.dict_obs else view

    def _observe(self):
        obs, infos = {}, {}
        rate = self._agreed / max(self._t, 1)
        for agent in self.agents:
            obs[agent] = self._obs_of(agent)
            infos[agent] = {"action_mask": self._mask(), "metrics": {"coordinated": rate}}
        return obs, infos

    def reset(self, seed=None, options=None):
        self._rng = np.random.default_rng(seed)
        self._t, self._agreed = 0, 0
        self._prev = np.full(self.n, -1)
        self.agents = self.possible_agents[: self.n - self.late]
        return self._observe()

    def step(self, actions):
        if self.sleep:
            time.sleep(self.sleep)
        if self.crash_at is not None and self._t + 1 >= self.crash_at:
            raise RuntimeError(f"toy env crashed at step {self._t + 1}")
        if self.exit_at is not None and self._t + 1 >= self.exit_at:
            os._exit(3)
        present = list(self.agents)
        self._prev = np.full(self.n, -1)
        for agent in present:
            self._prev[self.possible_agents.index(agent)] = int(actions[agent])
        chosen = {int(actions[a]) for a in present}
        agree = float(len(chosen) == 1)
        self._t += 1
        self._agreed += int(agree)
        rewards = {a: agree for a in present}
        leaving = {a: bool(self._rng.random() < self.leave) for a in present}
        truncations = {a: self._t >= self.max_steps for a in present}
        stay = [a for a in present if not leaving[a] and not truncations[a]]
        arrive = [a for a in self.possible_agents[self.n - self.late :] if self._t == 1]
        self.agents = sorted(
            set(stay) | set(arrive if stay else []), key=self.possible_agents.index
        )
        obs, infos = self._observe()
        for a in present:  # agents that just left still report their last step
            obs.setdefault(a, self._obs_of(a))
            infos.setdefault(a, {"metrics": {"coordinated": self._agreed / self._t}})
        return obs, rewards, leaving, truncations, infos


class GridEnv(CoordinationEnv):
    def __init__(self, view=3, channels=2, channels_last=False, name_cells=False, **kwargs):
        self.view, self.channels, self.channels_last = view, channels, channels_last
        self.name_cells = name_cells
        super().__init__(**kwargs)
        self.state_space = spaces.Box(0.0, 1.0, (3,), np.float32)

    def _view_space(self):
        c, v = self.channels, self.view
        shape = (v, v, c) if self.channels_last else (c, v, v)
        return spaces.Box(0.0, 1.0, shape, np.float32)

    def _view(self, i):
        grid = np.zeros((self.channels, self.view, self.view), np.float32)
        grid[0, self.view // 2, self.view // 2] = 1.0
        grid[1:] = self._rng.random((self.channels - 1, self.view, self.view))
        return grid.transpose(1, 2, 0) if self.channels_last else grid

    def _observe(self):
        obs, infos = super()._observe()
        for agent in infos if self.name_cells else ():
            i, v = self.possible_agents.index(agent), self.view
            named = np.full((v, v), -1, np.int64)
            named[v // 2, v // 2], named[0, 0] = i, (i + 1) % self.n
            infos[agent]["view_agents"] = named
        return obs, infos

    def state(self):
        return np.asarray([self._t / self.max_steps, len(self.agents) / self.n, 1.0], np.float32)


def parallel_env(**kwargs):
    """The flat-observation coordination game (keyword arguments: see the module docstring)."""
    return CoordinationEnv(**kwargs)


def grid_env(**kwargs):
    """The grid-observation variant (``view``, ``channels``, ``channels_last``, the game's own)."""
    return GridEnv(**kwargs)
