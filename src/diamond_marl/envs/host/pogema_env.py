"""POGEMA, multi-agent pathfinding on grids, as a ``pz:`` name (worker side).

``pz:diamond_marl.envs.host.pogema_env,num_agents=64,size=32,density=0.3,obs_radius=5,
max_episode_steps=128,success=metrics.ISR,python=<venv>/bin/python``: the keyword arguments
are POGEMA's ``GridConfig`` fields, and the env is POGEMA's own PettingZoo ``ParallelEnv``
(``pogema.integrations.pettingzoo``). Each agent sees a (3, 2r + 1, 2r + 1) egocentric view
(obstacles, other agents, its target), which becomes one token per cell. POGEMA's PyPI release
(1.4.0) pins numpy <= 1.26.4, pydantic <= 1.9.1 and gymnasium 0.28.1, so it runs in its own
venv (``pip install pogema==1.4.0 pettingzoo==1.24.3``) named by ``python=``; this file
imports nothing but POGEMA, so that venv needs nothing else.
"""


def parallel_env(**config):
    """POGEMA's ParallelEnv on ``GridConfig(**config)``."""
    from pogema import GridConfig
    from pogema.integrations.pettingzoo import parallel_env as pogema_parallel_env

    return pogema_parallel_env(GridConfig(**config))
