"""The seed-level statistics against hand values, scipy and known distributions."""

import numpy as np
import pytest
from scipy.stats import trim_mean

from diamond_marl.bench.stats import (
    bootstrap_ci,
    compare,
    difference_ci,
    iqm,
    mean_band,
    prob_improvement,
    sign_test,
)


def test_iqm_of_one_to_eight_is_the_mean_of_the_middle_half():
    x = np.arange(1, 9)
    assert iqm(x) == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert iqm(x) == pytest.approx(trim_mean(x, 0.25))


@pytest.mark.parametrize(
    ("x", "hand"),
    [
        ([100.0, 1, 2, 3, 4], (2 + 3 + 4) / 3),  # n=5: 0.25*5 = 1.25 -> one cut per end
        ([1.0, 2, 3, 4, 5, 100], (2 + 3 + 4 + 5) / 4),  # n=6: 1.5 -> one cut per end
        ([7.0, 1, 2], (1 + 2 + 7) / 3),  # n=3: nothing cut
        ([5.0], 5.0),
    ],
)
def test_iqm_with_fractional_quarter_matches_scipy(x, hand):
    assert iqm(x) == pytest.approx(hand)
    assert iqm(x) == pytest.approx(trim_mean(x, 0.25))


def test_iqm_along_an_axis_matches_scipy():
    a = np.random.default_rng(1).normal(size=(7, 11))
    np.testing.assert_allclose(iqm(a, axis=1), trim_mean(a, 0.25, axis=1))
    assert iqm(a) == pytest.approx(trim_mean(a, 0.25, axis=None))


def test_bootstrap_interval_of_a_normal_mean_covers_the_truth_with_the_right_width():
    x = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=2000)
    est = bootstrap_ci(x, stat=np.mean, reps=1000, seed=0)
    assert est.value == pytest.approx(x.mean())
    assert est.low < 3.0 < est.high
    expected_width = 2 * 1.96 * 2.0 / np.sqrt(2000)  # ~0.175
    assert est.high - est.low == pytest.approx(expected_width, rel=0.15)


def test_bootstrap_is_deterministic_and_stratified():
    tasks = [np.arange(5.0), 10 + np.arange(3.0)]
    a = bootstrap_ci(tasks, reps=300, seed=3)
    assert a == bootstrap_ci(tasks, reps=300, seed=3)
    # stratified: every resample keeps 5 low and 3 high scores, so the pooled IQM
    # stays within what that split allows
    assert a.low >= iqm([0, 0, 0, 0, 0, 10, 10, 10]) - 1e-9
    assert a.value == pytest.approx(iqm(np.concatenate(tasks)))
    # the rliable (runs, tasks) layout is read column by column
    grid = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    assert bootstrap_ci(grid, reps=200) == bootstrap_ci([[0.0, 1, 2], [10.0, 11, 12]], reps=200)


def test_ci_of_a_constant_sample_is_degenerate():
    est = bootstrap_ci([0.7] * 5, reps=200)
    assert est.low == est.high == pytest.approx(0.7)
    assert est.value == pytest.approx(0.7)
    diff = difference_ci([0.5] * 4, [0.5] * 3, reps=200)
    assert (diff.value, diff.low, diff.high, diff.seeds) == (0.0, 0.0, 0.0, 4)
    assert est.seeds == 5 and est.scaled(100.0).value == pytest.approx(70.0)


def test_prob_improvement_of_identical_and_dominating_samples():
    x = np.array([0.1, 0.5, 0.9, 0.3])
    same = prob_improvement(x, x.copy(), reps=300)
    assert same.value == pytest.approx(0.5)
    assert same.low <= 0.5 <= same.high
    dom = prob_improvement(x + 1.0, x, reps=300)
    assert (dom.value, dom.low, dom.high) == (1.0, 1.0, 1.0)
    assert prob_improvement(x, x + 1.0, reps=300).value == 0.0


def test_prob_improvement_is_averaged_over_tasks():
    # task 1: x always wins; task 2: x always loses -> 0.5 overall
    est = prob_improvement([[2.0, 3.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 2.0, 3.0]], reps=100)
    assert est.value == pytest.approx(0.5)


def test_difference_ci_of_clearly_separated_samples_excludes_zero():
    rng = np.random.default_rng(2)
    x, y = rng.normal(1.0, 0.1, 10), rng.normal(0.0, 0.1, 10)
    d = difference_ci(x, y, reps=500)
    assert d.value == pytest.approx(iqm(x) - iqm(y))
    assert 0 < d.low < d.value < d.high


def test_mean_band_brackets_the_mean():
    v = np.random.default_rng(4).normal(size=(5, 6))
    mean, low, high = mean_band(v, reps=200)
    np.testing.assert_allclose(mean, v.mean(axis=0))
    assert np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12)


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_sign_test_against_hand_computed_binomials():
    assert sign_test(5, 0) == pytest.approx(2 / 32)  # all five one way: 2 x 0.5^5
    assert sign_test(0, 3) == pytest.approx(2 / 8)
    assert sign_test(4, 1) == pytest.approx(2 * 6 / 32)  # P(<= 1 of 5) = 6/32
    assert sign_test(2, 2) == 1.0 and sign_test(0, 0) == 1.0


def test_compare_pairs_by_seed_and_ignores_unshared_seeds():
    x = {0: 0.8, 1: 0.0, 2: 0.7, 3: 0.9, 9: 1.0}
    y = {0: 0.6, 1: 0.0, 2: 0.5, 3: 0.4, 4: 0.0}
    p = compare(x, y)
    assert p.seeds == (0, 1, 2, 3)
    np.testing.assert_allclose(p.diffs, [0.2, 0.0, 0.2, 0.5])
    assert p.mean.value == pytest.approx(0.225)
    assert p.mean.contains(0.225) and p.mean.low >= 0.0  # every resample mean is >= 0
    assert (p.better, p.worse) == (3, 0) and p.sign_p == pytest.approx(0.25)  # the tie is dropped
    # the pairing removes a spread both share: unpaired, these samples overlap completely
    shared = {s: float(s) for s in range(5)}
    shifted = {s: v + 0.1 for s, v in shared.items()}
    paired = compare(shifted, shared)
    assert paired.mean.low == pytest.approx(0.1) and paired.mean.high == pytest.approx(0.1)
    unpaired = difference_ci(np.array(list(shifted.values())), np.array(list(shared.values())))
    assert unpaired.low < 0 < unpaired.high
    one = compare({0: 1.0}, {0: 0.0, 1: 0.0})  # one shared seed: no paired mean
    assert one.mean is None and one.seeds == (0,) and one.iqm.value == pytest.approx(1.0)
    # the unpaired parts are the stats module's own estimates
    assert p.iqm == difference_ci([0.8, 0.0, 0.7, 0.9, 1.0], [0.6, 0.0, 0.5, 0.4, 0.0])
    assert p.p_improvement == prob_improvement([0.8, 0.0, 0.7, 0.9, 1.0], [0.6, 0.0, 0.5, 0.4, 0.0])
