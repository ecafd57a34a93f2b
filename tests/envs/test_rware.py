"""RobotWarehouse adapter: Jumanji side by side (collisions=terminate), layouts, names, tokens,
success. The original game (the default) is checked against rware 2.0.0 in test_rware_rules.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import EntityKind, list_envs, make
from diamond_marl.envs.rware import ENTITY_DIM, OBS_DIM, RwareEnv
from diamond_marl.envs.rware_layout import LAYOUTS, layout
from diamond_marl.errors import ConfigError

STEPS = 50  # side-by-side rollout length
LIMIT = 30  # episode limit used in the side-by-side env, so truncations happen too
BATCH = 8
NOOP, FORWARD, LEFT, RIGHT, TOGGLE = range(5)
UP, RIGHT_DIR, DOWN, LEFT_DIR = range(4)  # Jumanji's direction order

# The original rware 2.0.0 (rware/__init__.py ``_sizes`` and Warehouse._make_layout_from_params,
# column_height 8): grid (rows, cols), number of shelves, goal cells (row, col).
ORIGINAL = {
    "tiny": ((11, 10), 32, [(10, 4), (10, 5)]),
    "small": ((20, 10), 80, [(19, 4), (19, 5)]),
    "medium": ((20, 16), 144, [(19, 7), (19, 8)]),
    "large": ((29, 16), 224, [(28, 7), (28, 8)]),
}


def random_valid(key: jax.Array, action_mask: jax.Array) -> jax.Array:
    """Uniform over available actions; (..., N, A) bool -> (..., N) int32."""
    return jax.random.categorical(key, jnp.where(action_mask, 0.0, -jnp.inf)).astype(jnp.int32)


def raw_robot_warehouse(num_agents: int, requests: int, time_limit: int):
    """Jumanji's RobotWarehouse on the tiny layout, built the standard way (its own generator)."""
    from jumanji.environments.routing.robot_warehouse import RobotWarehouse
    from jumanji.environments.routing.robot_warehouse.generator import RandomGenerator

    gen = RandomGenerator(
        shelf_rows=1,
        shelf_columns=3,
        column_height=8,
        num_agents=num_agents,
        sensor_range=1,
        request_queue_size=requests,
    )
    return RobotWarehouse(generator=gen, time_limit=time_limit)


def leaves_equal(a, b) -> jax.Array:
    """() bool: two pytrees of arrays are equal leaf by leaf."""
    eq = jax.tree.map(lambda x, y: jnp.all(x == y), a, b)
    return jnp.all(jnp.stack(jax.tree.leaves(eq)))


# Fixtures (shared compiled functions) ---------------------------------------------------------


@pytest.fixture(scope="module")
def raw_env():
    return raw_robot_warehouse(4, 4, LIMIT)


@pytest.fixture(scope="module")
def env():
    """Jumanji's game, compared with the raw Jumanji env."""
    return make(f"rware:tiny-4ag,steps={LIMIT},collisions=terminate")


@pytest.fixture(scope="module")
def resolve_env():
    """The original game (the default)."""
    return make(f"rware:tiny-4ag,steps={LIMIT}")


@pytest.fixture(scope="module")
def side_by_side(env, raw_env):
    """Adapter and raw Jumanji from identical keys under identical random valid actions."""

    def run(key):
        state, ts = env.reset(key)
        raw_state, raw_ts = raw_env.reset(key)

        def body(carry, act_key):
            state, raw_state, raw_ts = carry
            actions = random_valid(act_key, raw_ts.observation.action_mask)  # (N,)
            state, ts = env.step(state, actions)
            raw_state, raw_ts = raw_env.step(raw_state, actions)
            out = {
                "ts": ts,
                "env_state": state.env,
                "same_state": leaves_equal(state.env, raw_state),
                "raw_reward": raw_ts.reward,
                "raw_last": raw_ts.last(),
                "raw_view": raw_ts.observation.agents_view,
                "raw_mask": raw_ts.observation.action_mask,
            }
            return (state, raw_state, raw_ts), out

        keys = jax.random.split(jax.random.fold_in(key, 1), STEPS)
        _, traj = jax.lax.scan(body, (state, raw_state, raw_ts), keys)
        first = {"ts": ts, "same": leaves_equal(state.env, raw_state)}
        return first, traj

    keys = jax.random.split(jax.random.PRNGKey(7), BATCH)
    return jax.device_get(jax.jit(jax.vmap(run))(keys))


@pytest.fixture(scope="module")
def steps(env, resolve_env, raw_env):
    """Jitted single steps: adapter (terminate), adapter (resolve), raw Jumanji."""
    return {
        "terminate": jax.jit(env.step),
        "resolve": jax.jit(resolve_env.step),
        "raw": jax.jit(raw_env.step),
        "reset": jax.jit(env.reset),
    }


# Hand-built states -----------------------------------------------------------------------------


def place(env_state, positions, directions, carrying):
    """Put the robots at (row, col) cells with directions and load flags (grid kept in sync)."""
    from jumanji.environments.routing.robot_warehouse.types import Position
    from jumanji.environments.routing.robot_warehouse.utils import compute_action_mask

    pos = jnp.asarray(positions, jnp.int32)
    agents = env_state.agents._replace(
        position=Position(x=pos[:, 0], y=pos[:, 1]),
        direction=jnp.asarray(directions, jnp.int32),
        is_carrying=jnp.asarray(carrying, jnp.int32),
    )
    ids = jnp.arange(1, len(positions) + 1, dtype=jnp.int32)
    grid = env_state.grid.at[1].set(0).at[1, pos[:, 0], pos[:, 1]].set(ids)
    return env_state.replace(
        grid=grid, agents=agents, action_mask=compute_action_mask(grid, agents)
    )


def move_shelf(env_state, shelf: int, cell: tuple[int, int]):
    """Move shelf ``shelf`` (0-based) to an empty (row, col) cell."""
    shelves = env_state.shelves
    old = (int(shelves.position.x[shelf]), int(shelves.position.y[shelf]))
    grid = env_state.grid.at[0, old[0], old[1]].set(0).at[0, cell[0], cell[1]].set(shelf + 1)
    position = shelves.position._replace(
        x=shelves.position.x.at[shelf].set(cell[0]), y=shelves.position.y.at[shelf].set(cell[1])
    )
    return env_state.replace(grid=grid, shelves=shelves._replace(position=position))


def delivery_state(state, step_count: int, deliveries: float, crash: bool = False):
    """Robot 0 stands above goal (10, 4) facing down, loaded with requested shelf queue[0].

    Robots 1-3 stand far away; with ``crash`` robot 2 faces robot 3's cell (a collision when it
    moves forward). Actions ``[FORWARD, NOOP, FORWARD or NOOP, NOOP]``.
    """
    js = state.env
    shelf = int(js.request_queue[0])
    js = move_shelf(js, shelf, (9, 4))
    js = place(js, [(9, 4), (0, 9), (0, 0), (0, 1)], [DOWN, UP, RIGHT_DIR, UP], [1, 0, 0, 0])
    js = js.replace(step_count=jnp.asarray(step_count, js.step_count.dtype))
    actions = jnp.asarray([FORWARD, NOOP, FORWARD if crash else NOOP, NOOP], jnp.int32)
    return state.replace(env=js, deliveries=jnp.float32(deliveries)), actions, shelf


# Names, layouts, construction ------------------------------------------------------------------


def test_listed_names_build_with_the_right_sizes():
    names = [n for n in list_envs() if n.startswith("rware:")]
    for name in ["rware:tiny-2ag", "rware:tiny-4ag", "rware:small-4ag", "rware:medium-4ag"]:
        assert name in names
    assert "rware:large-8ag" in names
    e = make("rware:large-8ag")
    assert e.spec.name == "rware:large-8ag" and e.collisions == "resolve"  # the original game
    assert (e.spec.num_agents, e.requests, e.spec.max_steps) == (8, 8, 500)
    assert "jumanji_env" not in e.__dict__, "construction must not build (or trace) Jumanji"
    assert make("rware:small-2ag-easy").requests == 4
    assert make("rware:medium-6ag-hard").requests == 3
    r = make("rware:tiny-4ag,requests=2,steps=100,collisions=terminate,success=3")
    assert (r.requests, r.spec.max_steps, r.collisions, r.success) == (2, 100, "terminate", 3)
    assert r.spec.name == "rware:tiny-4ag,requests=2,steps=100,collisions=terminate,success=3"
    # A name says collisions=terminate when it ran Jumanji's game, and omits every default.
    assert make("rware:large-8ag,collisions=terminate").spec.name == (
        "rware:large-8ag,collisions=terminate"
    )
    for same in ("rware:tiny-04ag", "rware:tiny-4ag,collisions=resolve,steps=500,success=4"):
        assert make(same).spec.name == "rware:tiny-4ag"
    assert make("rware:small-2ag-easy,success=2").spec.name == "rware:small-2ag-easy"
    assert RwareEnv("tiny", 4, collisions="terminate").spec.name == (
        "rware:tiny-4ag,collisions=terminate"
    )


@pytest.mark.parametrize("name", list(ORIGINAL))
def test_layouts_match_the_original_rware(name):
    (rows, cols), shelves, goals = ORIGINAL[name]
    plan = layout(*LAYOUTS[name])
    assert (plan["height"], plan["width"]) == (rows, cols)
    assert plan["num_shelves"] == shelves
    assert plan["goals"].tolist() == [list(g) for g in goals]
    e = make(f"rware:{name}-3ag")
    assert (e.height, e.width, e.num_shelves) == (rows, cols, shelves)


def test_layout_generator_matches_jumanji(raw_env, env):
    theirs, ours = raw_env._generator, env.jumanji_env._generator
    assert tuple(ours.grid_size) == tuple(theirs.grid_size)
    np.testing.assert_array_equal(np.asarray(ours.highways), np.asarray(theirs.highways))
    np.testing.assert_array_equal(np.asarray(ours.goals), np.asarray(theirs.goals))
    np.testing.assert_array_equal(np.asarray(ours._shelf_positions), theirs._shelf_positions)
    np.testing.assert_array_equal(np.asarray(ours.shelf_ids), np.asarray(theirs.shelf_ids))
    assert int(ours.not_in_queue_size) == int(theirs.not_in_queue_size)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("rware:huge-4ag", "'huge'"),
        ("rware:tiny", "'tiny'"),
        ("rware:tiny-4", "'tiny-4'"),
        ("rware:tiny-xag", "'tiny-xag'"),
        ("rware:tiny-0ag", "N=0"),
        ("rware:tiny-4ag-extreme", "'tiny-4ag-extreme'"),
        ("rware:", "tiny"),
        ("rware:tiny-4ag,foo=1", "foo"),
        ("rware:tiny-4ag,requests=0", "requests=0"),
        ("rware:tiny-4ag,requests=32", "requests=32"),
        ("rware:tiny-4ag,requests=two", "'two'"),
        ("rware:tiny-4ag,steps=0", "steps=0"),
        ("rware:tiny-4ag,success=0", "success=0"),
        ("rware:tiny-4ag,collisions=bounce", "'bounce'"),
        ("rware:tiny-1ag-hard", "-hard"),
        ("rware:tiny-4ag-easy,requests=3", "-easy"),
        ("rware:tiny-999ag", "N=999"),
    ],
)
def test_bad_names_raise_config_errors_naming_the_value(name, needle):
    with pytest.raises(ConfigError) as err:
        make(name)
    assert needle in str(err.value)
    if "huge" in name or name == "rware:":
        assert "tiny" in str(err.value) and "large" in str(err.value)  # the allowed layouts


# Side by side with Jumanji -----------------------------------------------------------------------


def test_reproduces_jumanji_rewards_and_episode_ends(side_by_side):
    first, traj = side_by_side
    ts = traj["ts"]
    assert first["same"].all() and traj["same_state"].all()
    assert np.all(first["ts"].reward == 0) and not first["ts"].done.any()
    np.testing.assert_array_equal(ts.reward, np.repeat(traj["raw_reward"][..., None], 4, -1))
    np.testing.assert_array_equal(ts.obs, traj["raw_view"].astype(np.float32))
    np.testing.assert_array_equal(ts.action_mask, traj["raw_mask"])
    done = ts.terminated | ts.truncated
    np.testing.assert_array_equal(done, traj["raw_last"])
    assert not np.any(ts.terminated & ts.truncated)
    # truncated exactly at the limit without a collision; terminated = a collision
    step_count = traj["env_state"].step_count
    np.testing.assert_array_equal(ts.truncated, (step_count >= LIMIT) & ~ts.terminated)
    first_end = np.argmax(done, axis=1)  # (B,) first episode end per env
    ended_by = ts.terminated[np.arange(BATCH), first_end]
    assert ended_by.any() and (~ended_by).any(), "the sample must hold both kinds of ends"
    assert np.all(ts.extras["won"] == 0)  # random robots deliver nothing in 30 steps
    assert ts.extras["deliveries"].dtype == np.float32


def test_state_types_are_stable(env, resolve_env):
    """Reset and step return identically typed states (auto-reset selects and scans need it)."""
    for e in (env, resolve_env):
        s0, ts0 = jax.eval_shape(e.reset, jax.random.PRNGKey(0))
        s1, ts1 = jax.eval_shape(e.step, s0, jnp.zeros(4, jnp.int32))
        assert jax.tree.structure(s0) == jax.tree.structure(s1)
        for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1), strict=True):
            assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
        assert jax.tree.map(lambda x: (x.shape, x.dtype), ts0) == jax.tree.map(
            lambda x: (x.shape, x.dtype), ts1
        )


# Tokens and global state -------------------------------------------------------------------------


def expected_tokens(e: RwareEnv, js) -> np.ndarray:
    """Entity tokens (N, E, F) rebuilt from a Jumanji state, one loop per observer."""
    n, r = e.spec.num_agents, e.requests
    scale = np.array([e.height - 1, e.width - 1], np.float32)
    hw = layout(*LAYOUTS[e.layout_name])["highways"]
    pos = np.stack([js.agents.position.x, js.agents.position.y], -1)
    carry = np.asarray(js.agents.is_carrying) > 0
    queue = np.asarray(js.request_queue)
    shelf_pos = np.stack([js.shelves.position.x[queue], js.shelves.position.y[queue]], -1)
    goals = np.array([[e.height - 1, e.width // 2 - 1], [e.height - 1, e.width // 2]])
    out = np.zeros((n, n + r + 2, ENTITY_DIM), np.float32)
    for i in range(n):
        order = [i] + [j for j in range(n) if j != i]
        rows = []
        for j in order:
            f = np.zeros(ENTITY_DIM, np.float32)
            f[4 + int(js.agents.direction[j])] = 1
            f[8] = carry[j]
            sid = int(js.grid[0, pos[j, 0], pos[j, 1]])
            f[9] = carry[j] and sid > 0 and js.shelves.is_requested[sid - 1] > 0
            rows.append((pos[j], f))
        for q in range(r):
            f = np.zeros(ENTITY_DIM, np.float32)
            f[8] = any(carry[j] and (pos[j] == shelf_pos[q]).all() for j in range(n))
            f[9] = f[11] = 1
            rows.append((shelf_pos[q], f))
        for g in goals:
            f = np.zeros(ENTITY_DIM, np.float32)
            f[12] = 1
            rows.append((g, f))
        for k, (p, f) in enumerate(rows):
            f[0:2] = p / scale
            f[2:4] = (p - pos[i]) / scale
            f[10] = hw[p[0], p[1]]
            f[13] = np.abs(p - pos[i]).max() <= 1
            out[i, k] = f
    return out


def test_tokens_match_the_state(side_by_side, env):
    _, traj = side_by_side
    ts, js_all = traj["ts"], traj["env_state"]
    n, e = 4, 10
    assert ts.entities.shape == (BATCH, STEPS, n, e, ENTITY_DIM)
    assert ts.entity_mask.all()
    kinds = [EntityKind.SELF] + [EntityKind.PEER] * 3 + [EntityKind.TASK] * 6
    np.testing.assert_array_equal(ts.entity_kind[0, 0], np.tile(kinds, (n, 1)))
    agents = [[0, 1, 2, 3], [1, 0, 2, 3], [2, 0, 1, 3], [3, 0, 1, 2]]
    np.testing.assert_array_equal(ts.entity_agent[0, 0], [a + [-1] * 6 for a in agents])
    assert env.spec.action_entity == (-1,) * 5
    assert ts.extras["deliveries"].dtype == np.float32
    checked = 0
    for t in range(0, STEPS, 7):
        for b in range(0, BATCH, 3):
            js = jax.tree.map(lambda x, t=t, b=b: x[b, t], js_all)
            np.testing.assert_allclose(ts.entities[b, t], expected_tokens(env, js), atol=1e-6)
            checked += 1
            # global state: normalised views, requested shelves, time
            scale = np.array([10.0, 9.0], np.float32)
            state = ts.state[b, t]
            views = state[: OBS_DIM * n].reshape(n, OBS_DIM)
            np.testing.assert_allclose(views[:, :2] * scale, ts.obs[b, t, :, :2], atol=1e-5)
            np.testing.assert_array_equal(views[:, 2:], ts.obs[b, t, :, 2:])
            shelves = state[OBS_DIM * n : -1].reshape(4, 3)
            np.testing.assert_allclose(shelves[:, :2], ts.entities[b, t, 0, 4:8, 0:2])
            np.testing.assert_allclose(shelves[:, 2], ts.entities[b, t, 0, 4:8, 8])
            assert state[-1] == pytest.approx(int(js.step_count) / LIMIT)
    assert checked > 10


def test_token_width_does_not_depend_on_team_size_or_layout():
    small, large = make("rware:tiny-2ag"), make("rware:large-8ag")
    s_small = jax.eval_shape(small.reset, jax.random.PRNGKey(0))[1]
    s_large = jax.eval_shape(large.reset, jax.random.PRNGKey(0))[1]
    assert s_small.entities.shape == (2, 2 + 2 + 2, ENTITY_DIM)
    assert s_large.entities.shape == (8, 8 + 8 + 2, ENTITY_DIM)
    assert small.spec.entity_dim == large.spec.entity_dim == ENTITY_DIM
    assert s_large.state.shape == (large.spec.state_dim,) == (OBS_DIM * 8 + 3 * 8 + 1,)
    assert s_large.obs.shape == (8, OBS_DIM)


def test_large_reset_tokens():
    large = make("rware:large-8ag")
    state, ts = jax.jit(large.reset)(jax.random.PRNGKey(3))
    np.testing.assert_allclose(ts.entities, expected_tokens(large, state.env), atol=1e-6)
    assert np.all(np.abs(np.asarray(ts.entities)) <= 1.0)
    assert np.asarray(ts.entity_agent)[5].tolist()[:8] == [5, 0, 1, 2, 3, 4, 6, 7]


# Deliveries, success, collisions (hand-built) ----------------------------------------------------


@pytest.mark.parametrize("mode", ["terminate", "resolve"])
def test_delivery_matches_jumanji(steps, mode):
    state, _ = steps["reset"](jax.random.PRNGKey(1))
    state, actions, shelf = delivery_state(state, step_count=5, deliveries=0.0)
    new, ts = steps[mode](state, actions)
    raw_state, raw_ts = steps["raw"](state.env, actions)
    assert float(raw_ts.reward) == 1.0
    np.testing.assert_array_equal(ts.reward, [1.0] * 4)
    if mode == "resolve":  # the original game has no action mask; the rest is the same here
        assert bool(np.all(ts.action_mask)) and bool(np.all(new.env.action_mask))
        raw_state = raw_state.replace(action_mask=new.env.action_mask)
    assert bool(leaves_equal(new.env, raw_state))
    assert float(ts.extras["deliveries"]) == 1.0
    assert shelf not in np.asarray(new.env.request_queue).tolist()  # replaced in the queue
    assert float(new.env.shelves.is_requested[shelf]) == 0.0
    assert not bool(ts.done) and float(ts.extras["won"]) == 0.0


def test_success_is_enough_deliveries_on_a_crash_free_final_step(steps):
    state, _ = steps["reset"](jax.random.PRNGKey(1))
    step = steps["terminate"]
    # success threshold = N = 4 deliveries; the delivery happens on the last step (30)
    s, a, _ = delivery_state(state, step_count=LIMIT - 1, deliveries=3.0)
    _, ts = step(s, a)
    assert bool(ts.truncated) and not bool(ts.terminated)
    assert float(ts.extras["deliveries"]) == 4.0 and float(ts.extras["won"]) == 1.0
    # one delivery short
    s, a, _ = delivery_state(state, step_count=LIMIT - 1, deliveries=2.0)
    _, ts = step(s, a)
    assert bool(ts.truncated) and float(ts.extras["won"]) == 0.0
    # enough deliveries but not the final step
    s, a, _ = delivery_state(state, step_count=10, deliveries=3.0)
    _, ts = step(s, a)
    assert not bool(ts.done) and float(ts.extras["won"]) == 0.0
    # enough deliveries, but the episode ends in a collision
    s, a, _ = delivery_state(state, step_count=LIMIT - 1, deliveries=3.0, crash=True)
    _, ts = step(s, a)
    assert bool(ts.terminated) and not bool(ts.truncated)
    assert float(ts.extras["won"]) == 0.0
    # the same collision mid-episode: terminated, and the raw Jumanji env ends too
    s, a, _ = delivery_state(state, step_count=3, deliveries=0.0, crash=True)
    _, ts = step(s, a)
    _, raw_ts = steps["raw"](s.env, a)
    assert bool(ts.terminated) and bool(raw_ts.last())


def test_resolve_mode_blocks_the_move_instead_of_ending(steps):
    state, _ = steps["reset"](jax.random.PRNGKey(1))
    s, a, _ = delivery_state(state, step_count=LIMIT - 1, deliveries=3.0, crash=True)
    new, ts = steps["resolve"](s, a)
    assert not bool(ts.terminated) and bool(ts.truncated)
    assert float(ts.extras["won"]) == 1.0
    pos = np.stack([new.env.agents.position.x, new.env.agents.position.y], -1)
    assert pos.tolist() == [[10, 4], [0, 9], [0, 0], [0, 1]]  # robot 2 stayed put
