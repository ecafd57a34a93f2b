"""PPO's policy terms: dead agents masked out, the logged KL and living-agent entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

from diamond_marl.algos.config import PPOConfig, resolve
from diamond_marl.algos.ppo import clip_each, policy_terms
from diamond_marl.algos.runner import train

A = 6  # actions


def _batch(seed: int = 0):
    """8 steps x 3 agents; agent 2 is dead (only action 4, "stop") in the first 5 steps."""
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(size=(8, 3, A)), jnp.float32)
    mask = np.ones((8, 3, A), bool)
    mask[:5, 2] = False
    mask[:5, 2, 4] = True
    action = jnp.asarray(rng.integers(0, A, size=(8, 3)))
    action = jnp.where(jnp.asarray(mask[..., 4] & ~mask[..., 0]), 4, action)
    old = jnp.asarray(rng.normal(size=(8, 3)) - 1.5, jnp.float32)
    adv = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    return logits, action, old, adv, jnp.asarray(mask)


def _loss(pc, logits, action, old, adv, mask):
    pg, ent, stats = policy_terms(logits, action, old, adv, mask, pc)
    return pg - pc.ent_coef * ent, stats


def _perturb_dead(logits, old, adv, mask):
    """Other logits, old log-probs and advantages for the dead agent-steps only."""
    dead = mask.sum(-1) == 1  # (8, 3)
    logits = jnp.where(dead[..., None], logits * 5.0 + 3.0, logits)
    return logits, jnp.where(dead, old - 2.0, old), jnp.where(dead, adv + 10.0, adv)


def test_a_dead_agent_does_not_change_the_masked_loss_or_its_gradient():
    logits, action, old, adv, mask = _batch()
    pc = PPOConfig(mask_dead=True)
    logits2, old2, adv2 = _perturb_dead(logits, old, adv, mask)
    l1, s1 = _loss(pc, logits, action, old, adv, mask)
    l2, s2 = _loss(pc, logits2, action, old2, adv2, mask)
    assert float(l1) == pytest.approx(float(l2), abs=1e-6)
    for key in ("entropy_alive", "clip_frac", "approx_kl"):
        assert float(s1[key]) == pytest.approx(float(s2[key]), abs=1e-6), key
    grad = jax.grad(lambda lg: _loss(pc, lg, action, old, adv, mask)[0])(logits)
    dead = np.asarray(mask.sum(-1) == 1)
    assert np.all(np.asarray(grad)[dead] == 0.0)
    assert np.any(np.asarray(grad)[~dead] != 0.0)


def test_without_masking_a_dead_agent_dilutes_the_loss():
    logits, action, old, adv, mask = _batch()
    pc = PPOConfig(mask_dead=False)
    logits2, old2, adv2 = _perturb_dead(logits, old, adv, mask)
    l1, _ = _loss(pc, logits, action, old, adv, mask)
    l2, _ = _loss(pc, logits2, action, old2, adv2, mask)
    assert abs(float(l1) - float(l2)) > 1e-3


def test_living_entropy_and_kl_values():
    logits, action, _, adv, mask = _batch()
    masked = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    logp = jax.nn.log_softmax(masked)
    old = jnp.take_along_axis(logp, action[..., None], -1)[..., 0]
    _, _, stats = policy_terms(masked, action, old, adv, mask, PPOConfig())
    assert float(stats["approx_kl"]) == pytest.approx(0.0, abs=1e-7)  # same policy
    assert float(stats["clip_frac"]) == 0.0
    p = np.exp(np.asarray(logp, np.float64))
    ent = -np.sum(np.where(p > 0, p * np.asarray(logp, np.float64), 0.0), -1)  # (8, 3)
    alive = np.asarray(mask.sum(-1) > 1)
    assert float(stats["entropy_alive"]) == pytest.approx(ent[alive].mean(), rel=1e-5)
    assert float(stats["entropy"]) == pytest.approx(ent.mean(), rel=1e-5)  # dead ones are 0
    # another policy: KL(old || new) >= 0, k3 matches exp(-r) - 1 + r per sample
    _, _, other = policy_terms(masked, action, old - 0.3, adv, mask, PPOConfig())
    r = 0.3
    assert float(other["approx_kl"]) == pytest.approx(np.exp(-r) - 1 + r, rel=1e-5)


def test_separate_clipping_clips_each_network_on_its_own():
    grads = {"actor": {"w": jnp.full((4,), 0.1)}, "critic": {"w": jnp.full((4,), 100.0)}}
    tx = clip_each(0.5)
    out, _ = tx.update(grads, tx.init(grads))
    assert float(optax.tree.norm(out["actor"])) == pytest.approx(0.2)  # untouched
    assert float(optax.tree.norm(out["critic"])) == pytest.approx(0.5)
    joint, _ = optax.clip_by_global_norm(0.5).update(grads, optax.EmptyState())
    assert float(optax.tree.norm(joint["actor"])) < 1e-3  # shrunk by the critic's norm


def test_ppo_logs_approx_kl_and_living_entropy(tmp_path):
    """A short MAPPO run with the off-by-default options on (and the team critic): it
    trains, and logs the KL and the living agents' entropy."""
    cfg = resolve(
        {
            "algo": "mappo",
            "env": "xor:n=2,k=2",
            "seeds": "1",
            "steps": "512",
            "num_envs": "8",
            "net.hidden": "16",
            "net.heads": "2",
            "net.blocks": "1",
            "eval_episodes": "8",
            "chunks": "1",
            "ppo.mask_dead": "true",
            "ppo.separate_clip": "true",
            "ppo.critic": "team",
            "out": str(tmp_path / "run"),
        }
    )
    train(cfg, progress=False)
    m = pd.read_csv(tmp_path / "run" / "metrics.csv")
    rows = {k: m[m.metric == k].value for k in ("approx_kl", "entropy_alive", "entropy")}
    assert all(len(v) for v in rows.values())
    assert (rows["approx_kl"] >= -1e-6).all()
    # every XOR agent has a choice: the living entropy is the entropy
    assert np.allclose(rows["entropy_alive"].to_numpy(), rows["entropy"].to_numpy(), atol=1e-6)
