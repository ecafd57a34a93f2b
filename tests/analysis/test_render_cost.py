"""Episode renderings (SMAX, RWARE) from our own env state, and parsing the cost benchmark."""

from __future__ import annotations

import jax
import pytest

from diamond_marl.analysis.cost import cost_table, parse_overhead
from diamond_marl.analysis.render import action_labels, can_render, frame_strip, snapshot_fn
from diamond_marl.envs import make
from diamond_marl.errors import ConfigError


@pytest.mark.parametrize("name", ["smax:3m", "rware:tiny-2ag"])
def test_frame_strip_draws_a_few_steps(tmp_path, name):
    env = make(name)
    assert can_render(env) and len(action_labels(env)) == env.spec.num_actions
    snap = snapshot_fn(env)
    # three episode starts, one compile: drawing is what is tested here
    frames = jax.jit(jax.vmap(lambda k: snap(env.reset(k)[0])))(
        jax.random.split(jax.random.PRNGKey(0), 3)
    )
    stacked = frames
    path = frame_strip(env, stacked, [0, 1, 2], tmp_path / "strip.png", title=name)
    assert path.exists() and path.stat().st_size > 1000


def test_parse_overhead(tmp_path):
    out = tmp_path / "overhead.txt"
    out.write_text(
        "# attention_overhead: batch=256\n"
        "overhead rank smax:5m_vs_6m 0.991   (fwd 0.939; none: fwd 39.8 ms, fwd+bwd 152.0 ms)\n"
        "overhead dice rware:large-8ag 1.116\n"
    )
    rows = parse_overhead(out)
    assert rows[0] == {
        "breaker": "rank",
        "env": "smax:5m_vs_6m",
        "fwd_bwd": 0.991,
        "fwd": 0.939,
        "none_fwd_ms": 39.8,
        "none_fwd_bwd_ms": 152.0,
    }
    assert rows[1]["fwd"] is None and "| dice | rware:large-8ag | 1.116 |" in cost_table(rows)
    with pytest.raises(ConfigError):
        parse_overhead(tmp_path / "missing.txt")


def test_attention_maps_label_the_dice_token(tmp_path):
    """The dice breaker appends one token: attention is (E+1)^2 against E entity kinds."""
    import numpy as np

    from diamond_marl.analysis.plots import attention_maps
    from diamond_marl.envs.types import EntityKind

    n, e = 2, 4
    kinds = np.full((n, e), int(EntityKind.PEER))
    kinds[:, 0] = int(EntityKind.SELF)
    attention = np.full((n, e + 1, e + 1), 1.0 / (e + 1))
    path = attention_maps(attention, kinds, np.ones((n, e), bool), tmp_path / "att.png")
    assert path.exists() and path.stat().st_size > 1000
