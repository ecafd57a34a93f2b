"""The original RobotWarehouse game (the default ``rware:`` rules) side by side with ``rware``
2.0.0 itself, and the collision rule (``resolve_moves``) against a transcription of it.

Side by side: each episode starts both games in the same state (robot cells, directions,
loads, shelves, request queue), steps the original (``rware.warehouse.Warehouse``, individual
rewards) for 500 steps and records it, then replays the same actions through our step (one
jitted scan per env, shared by its episodes) and compares every step: robot cells,
directions, loads, every shelf's cell and the team reward. Two things are synchronised, and
only these:

- Random numbers. Which shelf replaces a delivered one is drawn by each game's own generator,
  so after every step the original's request queue is copied into our state.
- Ties. When two equally long queues of robots head for one free cell, the original moves the
  one networkx lists first (the order cells entered its graph, or Python's set order), ours
  the lowest robot index. ``watch_ties`` wraps networkx's ``dag_longest_path`` to flag the
  steps on which the original had such a choice; those steps are not compared, the original's
  whole state is copied into ours, and the tests bound how often that happens.
"""

from __future__ import annotations

import contextlib
import dataclasses

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from rware.warehouse import Direction, RewardType, Warehouse

from diamond_marl.envs import make
from diamond_marl.envs.rware_rules import resolve_moves

RESOLVE = jax.jit(resolve_moves, static_argnums=2)  # (start, target, width) -> moved
NOOP, FORWARD, LEFT, RIGHT, TOGGLE = range(5)
UP, RIGHT_DIR, DOWN, LEFT_DIR = range(4)  # Jumanji's direction order
TO_OURS = np.array([UP, DOWN, LEFT_DIR, RIGHT_DIR])  # original Direction value -> ours
TO_ORIGINAL = np.argsort(TO_OURS)  # ours -> original Direction value
MOVE = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # (4, 2) (row, col) step per direction
STEPS = 500  # the original's episode length
SEEDS = (0, 1, 2, 3)
FIELDS = ("pos", "direction", "carry", "shelves")


# The original game ------------------------------------------------------------------------------


def original_env(n: int, requests: int) -> Warehouse:
    """``rware-tiny-<n>ag-v2``'s settings (rware/__init__.py), ``requests`` requested shelves."""
    return Warehouse(
        shelf_columns=3,
        column_height=8,
        shelf_rows=1,
        n_agents=n,
        msg_bits=0,
        sensor_range=1,
        request_queue_size=requests,
        max_inactivity_steps=None,
        max_steps=STEPS,
        reward_type=RewardType.INDIVIDUAL,
    )


def snapshot(wh: Warehouse) -> dict[str, np.ndarray]:
    """The original's state in our terms: (row, col) cells, our direction codes, shelf indices."""
    return {
        "pos": np.array([[a.y, a.x] for a in wh.agents], np.int32),  # (N, 2)
        "direction": TO_OURS[[a.dir.value for a in wh.agents]].astype(np.int32),  # (N,)
        "carry": np.array([a.carrying_shelf is not None for a in wh.agents], np.int32),  # (N,)
        "shelves": np.array([[s.y, s.x] for s in wh.shelfs], np.int32),  # (S, 2)
        "queue": np.array([s.id - 1 for s in wh.request_queue], np.int32),  # (R,)
    }


def restore(wh: Warehouse, snap: dict[str, np.ndarray]) -> None:
    """Put a snapshot into the original (a loaded robot carries the shelf in its cell)."""
    for shelf, (row, col) in zip(wh.shelfs, snap["shelves"], strict=True):
        shelf.y, shelf.x = int(row), int(col)
    at = {(s.y, s.x): s for s in wh.shelfs}
    for agent, (row, col), d, c in zip(
        wh.agents, snap["pos"], snap["direction"], snap["carry"], strict=True
    ):
        agent.y, agent.x = int(row), int(col)
        agent.dir = Direction(int(TO_ORIGINAL[d]))
        agent.carrying_shelf = at[(agent.y, agent.x)] if c else None
    wh.request_queue = [wh.shelfs[i] for i in snap["queue"]]
    wh._recalc_grid()


@contextlib.contextmanager
def watch_ties():
    """Flags (appended to the yielded list) whether each longest-path choice was a tie."""
    longest = nx.algorithms.dag_longest_path
    flags: list[bool] = []

    def watched(graph, *args, **kwargs):
        path = longest(graph, *args, **kwargs)
        dist: dict = {}
        for v in nx.topological_sort(graph):
            dist[v] = max((dist[u] + 1 for u in graph.pred[v]), default=0)
        flags.append(any(sum(dist[u] == dist[v] - 1 for u in graph.pred[v]) > 1 for v in path))
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nx.algorithms, "dag_longest_path", watched)
        yield flags


@dataclasses.dataclass
class Episode:
    start: dict[str, np.ndarray]  # snapshot before the first step
    actions: np.ndarray  # (T, N)
    after: dict[str, np.ndarray]  # snapshots after each step, (T, ...)
    reward: np.ndarray  # (T,) team reward: the sum of the individual rewards
    tie: np.ndarray  # (T,) bool: the original's networkx rule had a choice


def play_original(wh, seed, ties, start=None, first=None) -> Episode:
    """One whole episode of the original under uniform random actions (``first`` scripted)."""
    wh.reset(seed=seed)
    if start is not None:
        restore(wh, start)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 5, size=(STEPS, wh.n_agents)).astype(np.int32)
    if first is not None:
        actions[0] = first
    begin, after, reward, tie = snapshot(wh), [], [], []
    for t in range(STEPS):
        ties.clear()
        _, rewards, done, _, _ = wh.step([int(a) for a in actions[t]])
        assert done == (t == STEPS - 1)
        after.append(snapshot(wh))
        reward.append(sum(rewards))
        tie.append(any(ties))
    stacked = {k: np.stack([a[k] for a in after]) for k in after[0]}
    return Episode(begin, actions, stacked, np.asarray(reward, np.float32), np.asarray(tie))


# Ours, replayed ----------------------------------------------------------------------------------


def transplant(js, pos, direction, carry, shelves, queue):
    """Jumanji's state (ours) holding the given robots, shelves and request queue."""
    from jumanji.environments.routing.robot_warehouse.types import Position

    grid = jnp.zeros_like(js.grid)  # (2, H, W): shelf ids, robot ids (1-based)
    grid = grid.at[0, shelves[:, 0], shelves[:, 1]].set(jnp.arange(1, shelves.shape[0] + 1))
    grid = grid.at[1, pos[:, 0], pos[:, 1]].set(jnp.arange(1, pos.shape[0] + 1))
    dtype = js.agents.position.x.dtype
    agents = js.agents._replace(
        position=Position(x=pos[:, 0].astype(dtype), y=pos[:, 1].astype(dtype)),
        direction=direction.astype(js.agents.direction.dtype),
        is_carrying=carry.astype(js.agents.is_carrying.dtype),
    )
    requested = jnp.zeros_like(js.shelves.is_requested).at[queue].set(1)
    shelf_cells = Position(x=shelves[:, 0].astype(dtype), y=shelves[:, 1].astype(dtype))
    return js.replace(
        grid=grid,
        agents=agents,
        shelves=js.shelves._replace(position=shelf_cells, is_requested=requested),
        request_queue=queue.astype(js.request_queue.dtype),
    )


def make_replay(env):
    """Jitted: (template, start, actions, after, tie) of one episode -> our trajectory.

    ``template``: a state of ``env`` the start is written into (its key, step count and mask
    are kept), so only the step is compiled, not the reset.
    """

    def one(template, start, actions, after, tie):
        state = template.replace(env=transplant(template.env, **start))

        def body(state, x):
            act, post, tied = x
            state, ts = env.step(state, act)
            js = state.env
            ours = {
                "pos": jnp.stack([js.agents.position.x, js.agents.position.y], -1),
                "direction": js.agents.direction,
                "carry": js.agents.is_carrying,
                "shelves": jnp.stack([js.shelves.position.x, js.shelves.position.y], -1),
            }
            out = {
                **ours,
                "reward": ts.reward,
                "mask": ts.action_mask,
                "ended": ts.terminated | ts.truncated,
                "terminated": ts.terminated,
                "deliveries": ts.extras["deliveries"],
                "won": ts.extras["won"],
            }
            # The original's new requests always; on a tie step its whole state.
            synced = transplant(js, **ours, queue=post["queue"])
            synced = jax.tree.map(
                lambda a, b: jnp.where(tied, a, b), transplant(js, **post), synced
            )
            return state.replace(env=synced), out

        return jax.lax.scan(body, state, (actions, after, tie))[1]

    return jax.jit(one)


def replay(name: str, episodes: list[Episode]) -> dict:
    """Our game through every episode (one compiled scan, run episode by episode), stacked."""
    env = make(name)
    assert env.spec.max_steps == STEPS and env.collisions == "resolve"
    shapes = jax.eval_shape(env.reset, jax.random.PRNGKey(0))[0]  # traced, not compiled
    template = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), shapes)
    template = template.replace(
        env=template.env.replace(
            key=np.asarray(jax.random.PRNGKey(0)),
            action_mask=np.ones_like(template.env.action_mask),
        )
    )
    run = make_replay(env)
    outs = [jax.device_get(run(template, e.start, e.actions, e.after, e.tie)) for e in episodes]
    return jax.tree.map(lambda *a: np.stack(a), *outs)


def case_start(n: int, robots, queue) -> dict[str, np.ndarray]:
    """A hand-built tiny start: robots (row, col, direction, carried shelf index or None)."""
    wh = original_env(n, len(queue))
    wh.reset(seed=0)
    snap = snapshot(wh)
    for i, (row, col, d, shelf) in enumerate(robots):
        snap["pos"][i], snap["direction"][i], snap["carry"][i] = (row, col), d, shelf is not None
        if shelf is not None:
            snap["shelves"][shelf] = (row, col)
    snap["queue"] = np.asarray(queue, np.int32)
    assert len({tuple(c) for c in snap["shelves"]}) == len(snap["shelves"]), "one shelf a cell"
    return snap


# Hand-built first steps: (start robots, queue, first actions, the original's cells and loads
# after it). Shelf k of tiny sits at row 1 + k // 4, column (1, 2, 7, 8)[k % 4]; aisles are the
# rows 0 and 9, the columns 0, 3, 4, 5, 6, 9; the goals are (10, 4) and (10, 5).
CASES = {
    # Jumanji masks the follower (a shelf is ahead); the original lets the queue move.
    "a loaded robot follows a loaded robot": (
        [(9, 2, RIGHT_DIR, 0), (9, 1, RIGHT_DIR, 1), (0, 0, UP, None), (0, 9, UP, None)],
        [10, 11, 12, 13],
        [FORWARD, FORWARD, NOOP, NOOP],
        [[9, 3], [9, 2], [0, 0], [0, 9]],
        [1, 1, 0, 0],
    ),
    # A loaded robot cannot enter a standing shelf's cell; an empty robot goes under it.
    "a loaded robot stops before a shelf": (
        [(0, 1, DOWN, 2), (0, 2, DOWN, None), (0, 0, UP, None), (0, 9, UP, None)],
        [10, 11, 12, 13],
        [FORWARD, FORWARD, NOOP, NOOP],
        [[0, 1], [1, 2], [0, 0], [0, 9]],
        [1, 0, 0, 0],
    ),
    # Noop keeps a load (Jumanji unloads off the aisles); toggle unloads only off the aisles.
    "noop keeps the load, toggle loads and unloads": (
        [(1, 1, UP, 0), (2, 1, UP, 4), (9, 4, UP, 2), (3, 2, UP, None)],
        [10, 11, 12, 13],
        [NOOP, TOGGLE, TOGGLE, TOGGLE],
        [[1, 1], [2, 1], [9, 4], [3, 2]],
        [1, 0, 1, 1],
    ),
    "two deliveries at once": (
        [(9, 4, DOWN, 0), (9, 5, DOWN, 1), (0, 0, UP, None), (0, 9, UP, None)],
        [0, 1, 12, 13],
        [FORWARD, FORWARD, NOOP, NOOP],
        [[10, 4], [10, 5], [0, 0], [0, 9]],
        [1, 1, 0, 0],
    ),
    "a rotation of four robots moves": (
        [(5, 4, RIGHT_DIR, None), (5, 5, DOWN, None), (6, 5, LEFT_DIR, None), (6, 4, UP, None)],
        [10, 11, 12, 13],
        [FORWARD, FORWARD, FORWARD, FORWARD],
        [[5, 5], [6, 5], [6, 4], [5, 4]],
        [0, 0, 0, 0],
    ),
}


@pytest.fixture(scope="module")
def games():
    """Every episode played by the original and replayed by ours; one compile per env."""
    runs = {}
    with watch_ties() as ties:
        wh = original_env(4, 4)
        plain = [play_original(wh, seed, ties) for seed in SEEDS]
        cases = [
            play_original(wh, 0, ties, case_start(4, robots, queue), first)
            for robots, queue, first, _, _ in CASES.values()
        ]
        runs["rware:tiny-4ag"] = (plain + cases, len(plain))
        crowded = [play_original(original_env(8, 16), seed, ties) for seed in SEEDS]
        runs["rware:tiny-8ag-easy"] = (crowded, len(crowded))
    return {
        name: (episodes, replay(name, episodes), n_random)
        for name, (episodes, n_random) in runs.items()
    }


def compare(episode: Episode, ours: dict, b: int) -> None:
    """Every step of episode ``b`` except the original's tie steps: equal cells, loads, reward."""
    keep = ~episode.tie  # (T,)
    for field in FIELDS:
        np.testing.assert_array_equal(ours[field][b][keep], episode.after[field][keep], field)
    team = ours["reward"][b]  # (T, N) the team reward, replicated
    np.testing.assert_array_equal(
        team[keep], np.repeat(episode.reward[keep, None], team.shape[1], 1)
    )


@pytest.mark.slow  # the shared fixture plays 13 whole episodes of the original (~10-20 s)
@pytest.mark.parametrize("name", ["rware:tiny-4ag", "rware:tiny-8ag-easy"])
def test_random_episodes_match_the_original(games, name):
    episodes, ours, n_random = games[name]
    n = episodes[0].actions.shape[1]
    for b in range(n_random):
        compare(episodes[b], ours, b)
    ep = episodes[:n_random]
    steps = len(ep) * STEPS
    deliveries = sum(e.reward.sum() for e in ep)
    ties = sum(e.tie.sum() for e in ep)
    # Forward moves that went nowhere although the cell ahead is on the grid: robots blocking
    # robots (or a loaded robot facing a shelf).
    blocked = 0
    for e in ep:
        before = np.concatenate([e.start["pos"][None], e.after["pos"][:-1]])  # (T, N, 2)
        facing = np.concatenate([e.start["direction"][None], e.after["direction"][:-1]])
        ahead = before + MOVE[facing]
        on_grid = np.all((ahead >= 0) & (ahead < [11, 10]), -1)
        stuck = np.all(e.after["pos"] == before, -1)
        blocked += int(((e.actions == FORWARD) & on_grid & stuck).sum())
    assert deliveries >= 1, "the rewards compared must not all be zero"
    assert ties <= 0.01 * steps, f"{ties} tie steps in {steps}"
    if n == 8:  # crowded: collisions are everyday events
        assert blocked >= 0.02 * steps * n, blocked
    # Our own bookkeeping: the episode ends (truncated) at step 500 only, never terminated;
    # deliveries add up the rewards; success is N deliveries; no action is ever masked.
    assert not ours["terminated"].any()
    assert ours["ended"][:, -1].all() and not ours["ended"][:, :-1].any()
    total = ours["reward"][:, :, 0].sum(1)  # (B,)
    np.testing.assert_array_equal(ours["deliveries"][:, -1], total)
    np.testing.assert_array_equal(ours["won"][:, -1], (total >= n).astype(np.float32))
    assert ours["mask"].all()


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_rule_cases_match_the_original(games, case):
    episodes, ours, n_random = games["rware:tiny-4ag"]
    b = n_random + list(CASES).index(case)
    _, _, _, cells, loads = CASES[case]
    episode = episodes[b]
    assert episode.after["pos"][0].tolist() == cells  # what the original did on the first step
    assert episode.after["carry"][0].tolist() == loads
    assert not episode.tie[0]
    compare(episode, ours, b)
    if case == "two deliveries at once":
        assert episode.reward[0] == 2 and ours["reward"][b][0].tolist() == [2.0] * 4


# Collision resolution (the original rule) --------------------------------------------------------


def _queue_length(v, preds) -> int:
    """Longest chain of robots queued into cell ``v`` (networkx's dag_longest_path distance)."""
    return 1 + max(_queue_length(u, preds) for u in preds[v]) if preds[v] else 0


def reference_moves(starts, targets):
    """Transcription of rware 2.0.0 ``Warehouse.step``'s rule; ties -> lowest robot index.

    Checked (outside the suite, with rware and networkx installed) to agree with the original
    on 1562 random dense configurations without ties; with ties networkx's node order decides.
    """
    succ = dict(zip(starts, targets, strict=True))
    nodes = set(starts) | set(targets)
    parent = {v: v for v in nodes}

    def find(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for s, t in zip(starts, targets, strict=True):
        parent[find(s)] = find(t)
    comps: dict = {}
    for v in nodes:
        comps.setdefault(find(v), set()).add(v)
    agent_at = {s: i for i, s in enumerate(starts)}
    committed = set()
    for comp in comps.values():
        cycle = None
        for v in comp:
            seen, x = [], v
            while x in succ and x not in seen:
                seen.append(x)
                x = succ[x]
            if x in seen:
                cycle = seen[seen.index(x) :]
                break
        if cycle is not None:  # swaps (2-cycles) never move; stationary robots block
            if len(cycle) != 2:
                committed |= {agent_at[v] for v in cycle}
            continue
        preds = {v: [u for u in comp if u in succ and succ[u] == v and u != v] for v in comp}
        (v,) = [v for v in comp if v not in succ]  # the free cell the tree ends in
        while preds[v]:
            best = max(_queue_length(u, preds) for u in preds[v])
            v = min(
                (u for u in preds[v] if _queue_length(u, preds) == best), key=agent_at.__getitem__
            )
            committed.add(agent_at[v])
    return [i in committed and starts[i] != targets[i] for i in range(len(starts))]


@pytest.mark.parametrize(
    ("starts", "targets", "moved"),
    [
        ([(0, 0), (0, 1)], [(0, 1), (0, 0)], [False, False]),  # swap
        ([(0, 0), (0, 1)], [(0, 1), (0, 2)], [True, True]),  # follow a leader (lower index)
        ([(0, 2), (0, 1)], [(0, 3), (0, 2)], [True, True]),  # follow a leader (higher index)
        ([(0, 0), (0, 1)], [(0, 1), (0, 1)], [False, False]),  # into a robot that stays
        ([(0, 0), (0, 2)], [(0, 1), (0, 1)], [True, False]),  # same free cell: lowest index
        ([(0, 0), (0, 2), (0, 3)], [(0, 1), (0, 1), (0, 2)], [False, True, True]),  # longer chain
        (
            [(0, 0), (0, 1), (1, 1), (1, 0)],
            [(0, 1), (1, 1), (1, 0), (0, 0)],
            [True, True, True, True],
        ),  # rotation of four
        (
            [(0, 0), (0, 1), (1, 1), (1, 0), (2, 0)],
            [(0, 1), (1, 1), (1, 0), (0, 0), (1, 0)],
            [True, True, True, True, False],
        ),  # rotation, with a robot queued into it
    ],
)
def test_resolve_moves_hand_cases(starts, targets, moved):
    got = RESOLVE(jnp.asarray(starts), jnp.asarray(targets), 10)
    assert np.asarray(got).tolist() == moved
    assert reference_moves(starts, targets) == moved


def test_resolve_moves_matches_the_reference_on_random_crowds():
    rng = np.random.default_rng(0)
    steps = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
    for n in (3, 6, 9):
        for _ in range(60):
            cells = rng.choice(16, size=n, replace=False)
            start = np.stack([cells // 4, cells % 4], -1)  # a crowded 4 x 4 corner
            move = rng.random(n) < 0.8
            target = np.clip(start + move[:, None] * steps[rng.integers(4, size=n)], 0, 10)
            got = np.asarray(RESOLVE(jnp.asarray(start), jnp.asarray(target), 10)).tolist()
            want = reference_moves(list(map(tuple, start)), list(map(tuple, target)))
            assert got == want, (start.tolist(), target.tolist())


def tie_statistics(episodes: int) -> None:
    """Print, per env, how often the original's rule had a tie and whether ours agreed there."""
    for name, n, requests in (("rware:tiny-4ag", 4, 4), ("rware:tiny-8ag", 8, 8)):
        with watch_ties() as ties:
            wh = original_env(n, requests)
            played = [play_original(wh, seed, ties) for seed in range(episodes)]
        ours = replay(name, played)
        tie = np.stack([e.tie for e in played])  # (B, T)
        same = np.ones_like(tie)
        for field in FIELDS:
            theirs = np.stack([e.after[field] for e in played])
            same &= (ours[field] == theirs).reshape(*tie.shape, -1).all(-1)
        print(
            f"{name}: {tie.size} steps, {tie.sum()} tie steps, ours moved differently on "
            f"{(tie & ~same).sum()} of them; {(~tie & ~same).sum()} other steps differ"
        )


if __name__ == "__main__":  # PYTHONPATH=src python tests/envs/test_rware_rules.py [EPISODES]
    import sys

    tie_statistics(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
