"""POGEMA, multi-agent pathfinding on grids, as a ``pz:`` name (worker side).

``pz:diamond_marl.envs.host.pogema_env,num_agents=64,size=32,density=0.3,obs_radius=5,
max_episode_steps=128,success=terminated,python=<venv>/bin/python``: the keyword arguments
are POGEMA's ``GridConfig`` fields, and the env is POGEMA's own PettingZoo ``ParallelEnv``
(``pogema.integrations.pettingzoo``). Each agent sees a (3, 2r + 1, 2r + 1) egocentric view
(obstacles, other agents, its target), which becomes one token per cell. POGEMA's PyPI release
(1.4.0) pins numpy <= 1.26.4, pydantic <= 1.9.1 and gymnasium 0.28.1, so it runs in its own
venv (``pip install pogema==1.4.0 pettingzoo==1.24.3``) named by ``python=``; this file
imports nothing but POGEMA and numpy, so that venv needs nothing else.

``pz:diamond_marl.envs.host.pogema_env:named_env,...``: the same env, whose infos also say
which agent stands in each cell of each view (``infos[agent]["view_agents"]``, read from
POGEMA's positions), so those cells become PEER tokens naming the agent and the rank mask can
hide lower-ranked peers. Without it every cell is a TASK token and the rank mask hides
nothing. Costs one pass over the map and one (2r + 1)^2 slice per agent per step.
"""

import numpy as np


def parallel_env(**config):
    """POGEMA's ParallelEnv on ``GridConfig(**config)``."""
    from pogema import GridConfig
    from pogema.integrations.pettingzoo import parallel_env as pogema_parallel_env

    return pogema_parallel_env(GridConfig(**config))


def named_env(**config):
    """``parallel_env(**config)`` whose infos name the agent in each view cell."""
    return NamedViews(parallel_env(**config))


class NamedViews:
    """A POGEMA ParallelEnv whose ``infos[agent]["view_agents"]`` is an int array over the
    agent's view: the index (in ``possible_agents``) of the active agent in each cell, or -1."""

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):  # possible_agents, agents, spaces, state, close, ...
        return getattr(self.env, name)

    def reset(self, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, self._name(infos)

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        return obs, rewards, terminated, truncated, self._name(infos)

    def _name(self, infos):
        grid = self.env.pogema.grid
        r = grid.config.obs_radius
        who = np.full(np.shape(grid.positions), -1, np.int64)  # the padded map: who stands where
        for i, (x, y) in enumerate(grid.positions_xy):
            if grid.is_active[i]:
                who[x, y] = i
        out = {}
        for agent, info in infos.items():
            x, y = grid.positions_xy[self.env.agent_name_mapping[agent]]
            view = who[x - r : x + r + 1, y - r : y + r + 1].copy()  # as POGEMA slices its views
            out[agent] = dict(info, view_agents=view)
        return out
