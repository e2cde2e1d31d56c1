r"""Closed-form queueing results the router simulator is validated against.

Notation: arrival rate :math:`\lambda`, service rate :math:`\mu` per server (mean service
time :math:`E[S] = 1/\mu`), ``c`` servers, offered load :math:`a = \lambda/\mu` and
utilisation :math:`\rho = a/c < 1`. Waits are the mean time in queue :math:`W_q` (before
service starts); the mean time in system is :math:`W = W_q + 1/\mu`.

- M/M/1: :math:`W_q = \rho / (\mu - \lambda)`.
- M/M/c (Erlang C): the probability of waiting is
  :math:`C(c, a) = B / (1 - \rho (1 - B))` with :math:`B` the Erlang B blocking
  probability (computed by the stable recursion :math:`B_0 = 1`,
  :math:`B_k = a B_{k-1} / (k + a B_{k-1})`), and :math:`W_q = C(c, a) / (c\mu - \lambda)`.
- M/G/1 (Pollaczek–Khinchine): :math:`W_q = \rho\,E[S]\,(1 + c_s^2) / (2 (1 - \rho))`,
  with :math:`c_s` the coefficient of variation of the service time.
- M/D/1: the Pollaczek–Khinchine result with :math:`c_s = 0`, half the M/M/1 wait.
- Little's law: :math:`L = \lambda W` for any stable system (and :math:`L_q = \lambda W_q`).
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "erlang_b",
    "erlang_c",
    "erlang_c_wait",
    "littles_law",
    "md1_wait",
    "mg1_wait",
    "mm1_wait",
    "mmc_summary",
]


def _pos(x: float, name: str) -> float:
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a number, got bool")
    try:
        x = float(x)  # accepts numpy scalars too
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return x


def _servers(c: int) -> int:
    # any integer type (numpy's too, as simulate_mmc accepts), but not bool
    if isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 1:
        raise ValueError(f"c must be an int >= 1, got {c!r}")
    return int(c)


def _stable(rho: float) -> None:
    if rho >= 1:
        raise ValueError(f"the queue is unstable: utilisation rho = {rho:.6g} >= 1")


def erlang_b(c: int, offered_load: float) -> float:
    """Erlang B: probability that all ``c`` servers are busy in an M/M/c/c loss system.

    Parameters
    ----------
    c : int
        Servers (>= 1).
    offered_load : float
        ``a = arrival_rate / service_rate`` (> 0).

    Returns
    -------
    float

    Examples
    --------
    >>> round(erlang_b(1, 1.0), 6)
    0.5

    Notes
    -----
    O(c) by the recursion ``B_k = a B_{k-1} / (k + a B_{k-1})``, which never overflows.
    """
    c = _servers(c)
    a = _pos(offered_load, "offered_load")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, offered_load: float) -> float:
    """Erlang C: probability that an arrival waits in an M/M/c queue.

    Parameters
    ----------
    c : int
        Servers (>= 1).
    offered_load : float
        ``a = arrival_rate / service_rate``; must be below ``c``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``c < 1``, non-positive load, or ``a >= c`` (unstable).

    Examples
    --------
    >>> erlang_c(1, 0.5)  # M/M/1: P(wait) = rho
    0.5
    """
    c = _servers(c)
    a = _pos(offered_load, "offered_load")
    rho = a / c
    _stable(rho)
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


def erlang_c_wait(c: int, arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue of an M/M/c queue, ``W_q = C(c, a) / (c mu - lambda)``.

    Parameters
    ----------
    c : int
        Servers.
    arrival_rate, service_rate : float
        Poisson arrival rate and per-server exponential service rate (per second).

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    ValueError
        Bad argument or ``arrival_rate >= c * service_rate``.

    Examples
    --------
    >>> round(erlang_c_wait(1, 0.9, 1.0), 6)  # M/M/1: rho / (mu - lambda)
    9.0
    >>> round(erlang_c_wait(2, 1.0, 1.0), 6)
    0.333333
    """
    lam = _pos(arrival_rate, "arrival_rate")
    mu = _pos(service_rate, "service_rate")
    c = _servers(c)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mm1_wait(arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue of an M/M/1 queue, ``rho / (mu - lambda)``.

    Examples
    --------
    >>> mm1_wait(0.5, 1.0)
    1.0
    """
    lam = _pos(arrival_rate, "arrival_rate")
    mu = _pos(service_rate, "service_rate")
    _stable(lam / mu)
    return (lam / mu) / (mu - lam)


def mg1_wait(arrival_rate: float, service_rate: float, cv: float = 1.0) -> float:
    """Mean wait in queue of an M/G/1 queue (Pollaczek–Khinchine).

    ``W_q = rho * E[S] * (1 + cv**2) / (2 * (1 - rho))`` with ``E[S] = 1 / service_rate``.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate.
    service_rate : float
        One over the mean service time.
    cv : float
        Coefficient of variation (std / mean) of the service time: 0 deterministic,
        1 exponential.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    ValueError
        Bad argument or ``rho >= 1``.

    Examples
    --------
    >>> mg1_wait(0.5, 1.0, cv=1.0) == mm1_wait(0.5, 1.0)
    True
    >>> mg1_wait(0.5, 1.0, cv=0.0)  # M/D/1
    0.5
    """
    lam = _pos(arrival_rate, "arrival_rate")
    mu = _pos(service_rate, "service_rate")
    if isinstance(cv, bool) or not isinstance(cv, int | float) or not math.isfinite(cv) or cv < 0:
        raise ValueError(f"cv must be a finite number >= 0, got {cv!r}")
    rho = lam / mu
    _stable(rho)
    return rho * (1.0 / mu) * (1.0 + cv * cv) / (2.0 * (1.0 - rho))


def md1_wait(arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue of an M/D/1 queue: :func:`mg1_wait` with ``cv = 0``.

    Examples
    --------
    >>> md1_wait(0.5, 1.0)
    0.5
    """
    return mg1_wait(arrival_rate, service_rate, 0.0)


def littles_law(arrival_rate: float, mean_time_s: float) -> float:
    """Mean number in a stable system, ``L = lambda * W``.

    Examples
    --------
    >>> littles_law(10.0, 0.25)
    2.5
    """
    lam = _pos(arrival_rate, "arrival_rate")
    if not (math.isfinite(mean_time_s) and mean_time_s >= 0):
        raise ValueError(f"mean_time_s must be a finite number >= 0, got {mean_time_s!r}")
    return lam * mean_time_s


def mmc_summary(c: int, arrival_rate: float, service_rate: float) -> dict[str, float]:
    """Every M/M/c mean in one dict: rho, p_wait, wait, response time, L_q and L.

    Examples
    --------
    >>> s = mmc_summary(1, 0.5, 1.0)
    >>> s["rho"], s["mean_wait_s"], s["mean_response_s"], s["L"]
    (0.5, 1.0, 2.0, 1.0)
    """
    wq = erlang_c_wait(c, arrival_rate, service_rate)
    w = wq + 1.0 / service_rate
    return {
        "rho": arrival_rate / (c * service_rate),
        "p_wait": erlang_c(c, arrival_rate / service_rate),
        "mean_wait_s": wq,
        "mean_response_s": w,
        "L_q": arrival_rate * wq,
        "L": arrival_rate * w,
    }
