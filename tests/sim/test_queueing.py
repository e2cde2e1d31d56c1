"""Closed forms against independent computations (direct sums, textbook values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.sim import queueing as q


def _erlang_c_direct(c: int, a: float) -> float:
    # textbook formula with factorials: fine for the small c used here
    top = a**c / math.factorial(c) * c / (c - a)
    bottom = sum(a**k / math.factorial(k) for k in range(c)) + top
    return top / bottom


@pytest.mark.parametrize("c", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_erlang_c_matches_factorial_formula(c, rho):
    a = rho * c
    assert q.erlang_c(c, a) == pytest.approx(_erlang_c_direct(c, a), rel=1e-10)


def test_erlang_c_large_c_does_not_overflow():
    p = q.erlang_c(2000, 1900.0)
    assert 0.0 < p < 1.0


def test_textbook_values():
    # M/M/2, lambda = 1, mu = 1 (a = 1): P(wait) = 1/3, Wq = 1/3
    assert q.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert q.erlang_c_wait(2, 1.0, 1.0) == pytest.approx(1 / 3)
    # M/M/1 at rho 0.9: Wq = 9 / mu
    assert q.erlang_c_wait(1, 0.9, 1.0) == pytest.approx(q.mm1_wait(0.9, 1.0)) == pytest.approx(9)


def test_pollaczek_khinchine_special_cases():
    lam, mu = 0.7, 1.0
    assert q.mg1_wait(lam, mu, 1.0) == pytest.approx(q.mm1_wait(lam, mu))
    assert q.md1_wait(lam, mu) == pytest.approx(q.mm1_wait(lam, mu) / 2)
    # scales with (1 + cv^2)
    assert q.mg1_wait(lam, mu, 2.0) == pytest.approx(q.mm1_wait(lam, mu) * 5 / 2)


def test_mmc_summary_is_consistent_with_littles_law():
    s = q.mmc_summary(4, 3.6, 1.0)
    assert s["L"] == pytest.approx(q.littles_law(3.6, s["mean_response_s"]))
    assert s["L"] - s["L_q"] == pytest.approx(3.6)  # mean busy servers = a


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: q.erlang_c_wait(0, 1.0, 1.0), "c must"),
        (lambda: q.erlang_c_wait(2, 2.0, 1.0), "unstable"),
        (lambda: q.erlang_c_wait(2, -1.0, 1.0), "arrival_rate"),
        (lambda: q.mg1_wait(0.5, 0.0), "service_rate"),
        (lambda: q.mg1_wait(0.5, 1.0, cv=-1), "cv"),
        (lambda: q.mm1_wait(1.0, 1.0), "unstable"),
        (lambda: q.littles_law(1.0, math.inf), "mean_time_s"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("c", [np.int64(2), np.int32(2), np.uint8(2)])
def test_numpy_integer_server_counts_accepted(c):
    # used to raise "c must be an int >= 1, got np.int64(2)" although simulate_mmc accepts it
    assert q.erlang_c_wait(c, 1.0, 1.0) == pytest.approx(q.erlang_c_wait(2, 1.0, 1.0))
    assert q.erlang_b(c, 1.0) == pytest.approx(q.erlang_b(2, 1.0))
    assert isinstance(q.mmc_summary(c, 1.0, 1.0)["L"], float)


@pytest.mark.parametrize("c", [True, 2.0, np.float64(2.0), "2"])
def test_non_integer_server_counts_rejected(c):
    with pytest.raises(ValueError, match="c must"):
        q.erlang_c_wait(c, 1.0, 1.0)
