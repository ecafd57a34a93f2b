"""API conformance over every registered environment (the same checks for all of them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import list_envs, make
from diamond_marl.envs.check import check_timestep, make_rollout, random_actions, symmetric_share

NAMES = list_envs()
# The step-by-step checks compile a rollout per environment (20-30 s each on 2 cores), so they
# run on one or two names per family, chosen to cover each family's code paths: the games'
# two rules, every jaxmarl wrapper, SMAX with one and with several unit types, the smallest
# and the largest warehouse, our spread. Every registered name is still built below.
CONFORMANCE = [
    "xor:n=2,k=2",
    "xor:n=2,k=3",
    "role:n=4,k=4,t=10",
    "jaxmarl:MPE_simple_spread_v3",
    "jaxmarl:MPE_simple_reference_v3",
    "jaxmarl:MPE_simple_speaker_listener_v4",
    "jaxmarl:switch_riddle",
    "smax:3m",
    "smax:3s5z",
    "rware:tiny-2ag",
    "rware:large-8ag",
    "mpe:spread,n=3",
]


def test_registry_lists_the_headline_environments():
    for name in [
        "smax:3m",
        "smax:5m_vs_6m",
        "rware:tiny-4ag",
        "rware:large-8ag",
        "xor:n=2,k=2",
        "role:n=4,k=4,t=10",
        "jaxmarl:MPE_simple_spread_v3",
        "mpe:spread,n=3",
    ]:
        assert name in NAMES
    for name in NAMES:  # every registered environment builds and names itself
        assert make(name).spec.name == name
    assert set(CONFORMANCE) <= set(NAMES)
    families = [{n.split(":")[0] for n in names} for names in (NAMES, CONFORMANCE)]
    assert families[0] == families[1], "a family without a conformance test"


@pytest.mark.parametrize("name", CONFORMANCE)
def test_env_conforms_to_the_api(name):
    env = make(name)
    spec = env.spec
    traces = []

    def step(state, actions):
        traces.append(1)
        return env.step(state, actions)

    step = jax.jit(step)
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    assert check_timestep(env, ts) == []
    assert float(jnp.abs(ts.reward).sum()) == 0.0, "the first timestep carries no reward"
    for i in range(2):  # no retracing on the second call
        state, ts = step(state, random_actions(jax.random.PRNGKey(i), ts.action_mask))
    assert len(traces) == 1
    assert check_timestep(env, ts) == []

    # vmap over keys, long enough that every env ends at least one episode (auto-reset).
    num_envs, steps = 3, spec.max_steps + 2
    traj = make_rollout(env, num_envs, steps)(jax.random.PRNGKey(1))
    assert check_timestep(env, traj, (steps, num_envs)) == []
    done = np.asarray(traj.done)
    length = np.asarray(traj.extras["episode_length"])
    assert done.any(axis=0).all(), "every environment must end an episode within max_steps"
    assert length.max() <= spec.max_steps
    # after a done the next step starts a fresh episode (auto-reset)
    t, b = np.nonzero(done[:-1])
    assert np.all(length[t + 1, b] == 1)
    # truncation happens exactly at the time limit, termination never beyond it
    trunc = np.asarray(traj.truncated)
    assert np.all(length[trunc] == spec.max_steps)
    assert not np.any(trunc & np.asarray(traj.terminated))
    # won is in [0, 1] and non-zero only on a final step; only a graded metric (coverage)
    # takes values between 0 and 1
    won = np.asarray(traj.extras["won"])
    assert np.all((won == 0) | ((won > 0) & (won <= 1) & done))
    if spec.success_metric in ("win_rate", "success_rate"):
        assert np.all((won == 0) | (won == 1))


def test_listing_is_complete_even_after_one_family_was_imported_first():
    import subprocess
    import sys

    code = (
        "import diamond_marl.envs.reference\n"  # registers the games family first
        "from diamond_marl.envs import list_envs\n"
        "names = list_envs()\n"
        "assert any(n.startswith('smax:') for n in names), names\n"
        "assert any(n.startswith('rware:') for n in names), names\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_symmetric_share_counts_steps_where_two_choosing_agents_see_the_same():
    obs = np.array(
        [
            [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],  # agents 0 and 1 alike
            [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],  # all different
            [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]],  # 0 and 1 alike, but 1 has no choice
            [[2.0, 2.0], [1.0, 1.0], [2.0, 2.0]],  # agents 0 and 2 alike
        ]
    )  # (T=4, N=3, O=2)
    mask = np.ones((4, 3, 3), dtype=bool)
    mask[2, 1] = [True, False, False]  # a dead unit: no-op only
    assert symmetric_share(obs, mask) == pytest.approx(2 / 4)
    # the trap's own game shows it; a game whose observations are all zero is all symmetric
    for name, low in (("role:n=4,k=4,t=10", 0.5), ("xor:n=2,k=2", 1.0)):
        env = make(name)
        traj = make_rollout(env, 4, 20)(jax.random.PRNGKey(0))
        assert symmetric_share(traj.obs, traj.action_mask) >= low


def test_symmetric_share_is_the_pairwise_definition():
    """The sort-based count (fast at N = 1,000) agrees with comparing every pair of agents."""
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 2, size=(3, 50, 6, 2)).astype(np.float32)  # many repeats
    obs[0, :5, 2] = np.nan  # never equal, even to itself
    obs[1, 7, 3] = -0.0  # equal to 0.0
    mask = rng.random((3, 50, 6, 4)) < 0.4
    choice = mask.sum(-1) >= 2
    same = (obs[..., :, None, :] == obs[..., None, :, :]).all(-1)  # (3, 50, 6, 6)
    both = choice[..., :, None] & choice[..., None, :] & ~np.eye(6, dtype=bool)
    assert symmetric_share(obs, mask) == pytest.approx((same & both).any((-1, -2)).mean())
