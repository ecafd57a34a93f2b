"""PettingZoo ParallelEnvs stepped on the host, in worker processes, for JAX policies.

``HostPool("pz:mpe2.simple_spread_v3,N=3", num_envs=8)`` runs env copies in worker processes
(optionally under another Python) and returns numpy batches; ``host_spec`` and
``to_timestep`` give the library's ``EnvSpec`` and batched ``TimeStep``. Worker side:
``adapter`` (one env as arrays) and ``worker`` (wire format, loop), numpy and stdlib only;
``toy`` is a tiny ParallelEnv for tests and docs (needs pettingzoo, so it is not imported here).
"""

from diamond_marl.envs.host.names import FactorySpec, parse_pz_name
from diamond_marl.envs.host.pool import HostEnvError, HostInfo, HostPool
from diamond_marl.envs.host.tokenise import host_spec, timestep_fn, to_timestep, token_shape

__all__ = [
    "FactorySpec",
    "HostEnvError",
    "HostInfo",
    "HostPool",
    "host_spec",
    "parse_pz_name",
    "timestep_fn",
    "to_timestep",
    "token_shape",
]
