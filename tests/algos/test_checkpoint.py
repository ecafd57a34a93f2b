"""Checkpoint files: two generations, streamed writes, restoring into a traced structure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.algos import checkpoint


def _state(value: float) -> dict:
    return {"w": jnp.full((3, 4), value, jnp.float32), "n": jnp.asarray(int(value), jnp.int32)}


def test_latest_and_previous_are_separate_generations(tmp_path):
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, _state(step), {"chunk": step})
    template = jax.eval_shape(lambda: _state(0))  # structure only, as the runner resumes
    latest, meta = checkpoint.load(tmp_path, template)
    previous, prev_meta = checkpoint.load(tmp_path, template, "previous")
    assert meta["chunk"] == 3 and prev_meta["chunk"] == 2
    np.testing.assert_array_equal(latest["w"], np.full((3, 4), 3.0))
    np.testing.assert_array_equal(previous["w"], np.full((3, 4), 2.0))
    assert int(latest["n"]) == 3 and latest["n"].dtype == jnp.int32
    # previous is its own file: writing a new latest did not change it
    assert (tmp_path / "previous.npz").stat().st_ino != (tmp_path / "latest.npz").stat().st_ino
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_load_rejects_another_structure(tmp_path):
    checkpoint.save(tmp_path, _state(1), {"chunk": 0})
    with pytest.raises(ValueError, match="has 2 arrays, the run's state has 3"):
        checkpoint.load(tmp_path, {**_state(0), "extra": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"shape \(3, 4\) != expected \(4, 3\)"):
        checkpoint.load(tmp_path, {"n": jnp.zeros((), jnp.int32), "w": jnp.zeros((4, 3))})
