import time

import pytest

from workbench.measure import git_commit, library_versions, machine_info, time_call


def test_first_call_is_reported_apart_from_the_repeats():
    calls = []

    def slow_first():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.05)  # stands in for a JIT compile

    t = time_call(slow_first, warmup=2, repeat=4)
    assert len(calls) == 1 + 2 + 4
    assert t.n == 4
    # the sleep happened in the first call only, so it cannot be in any repeat
    assert t.first_call_s >= 0.05 > t.max


def test_budget_keeps_repeating_beyond_the_minimum():
    t = time_call(time.sleep, 0.002, repeat=2, budget_s=0.03)
    assert t.n > 2
    assert sum(t.times_s) >= 0.03


def test_statistics_are_consistent():
    t = time_call(sum, range(10_000), repeat=7)
    assert t.min <= t.median <= t.max
    assert t.result == sum(range(10_000))


def test_memory_peak_sees_an_allocation():
    t = time_call(bytearray, 5_000_000, repeat=1, memory=True)
    assert t.peak_bytes >= 5_000_000


@pytest.mark.parametrize("kw", [{"repeat": 0}, {"warmup": -1}, {"budget_s": -1.0}])
def test_invalid_arguments(kw):
    with pytest.raises(ValueError):
        time_call(sum, [], **kw)


def test_machine_and_versions_describe_this_machine():
    info = machine_info()
    assert info["logical_cores"] >= 1 and info["memory_gb"] > 0
    assert isinstance(info["blas"], list)
    versions = library_versions()
    assert "numpy" in versions and "numba" in versions
    assert isinstance(git_commit(), str)
