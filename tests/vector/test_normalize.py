import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vector import naive
from workbench.vector import normalize


def test_matches_numpy_on_random_rows():
    x = np.random.default_rng(0).standard_normal((500, 37))
    got = normalize(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, naive.normalize(x), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_zero_rows_stay_zero_not_nan():
    x = np.zeros((3, 4), dtype=np.float32)
    x[1] = [1, 2, 2, 0]
    got = normalize(x)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got[[0, 2]], 0.0)
    np.testing.assert_allclose(got[1], [1 / 3, 2 / 3, 2 / 3, 0], atol=1e-7)


def test_one_vector_and_tiny_and_huge_values():
    np.testing.assert_allclose(normalize([3.0, 4.0]), [0.6, 0.8])
    # squares of these under- and overflow float32: the float64 accumulation keeps them exact
    np.testing.assert_allclose(
        normalize(np.float32([[3e-30, 4e-30], [3e30, 4e30]])), [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rejected(bad):
    x = np.ones((4, 3))
    x[2, 1] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        normalize(x)


@pytest.mark.parametrize(
    ("x", "exc", "msg"),
    [
        (np.ones((2, 2), dtype=complex), TypeError, "x must hold real numbers"),
        (np.ones((2, 2), dtype=bool), TypeError, "x must hold real numbers"),
        (np.array([["a"]]), TypeError, "x must hold real numbers"),
        (np.ones((2, 2, 2)), ValueError, "x must be a 2-D array"),
        (np.ones((3, 0)), ValueError, "x has dimension 0"),
    ],
)
def test_bad_input(x, exc, msg):
    with pytest.raises(exc, match=msg):
        normalize(x)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 20), st.integers(1, 9)),
        elements=st.sampled_from([0.0, 1.0, -1.0, 0.5, 3.0, -2e5, 1e-3]),
    )
)
def test_property_unit_or_zero(x):
    got = normalize(x)
    norms = np.linalg.norm(got.astype(np.float64), axis=1)
    zero = ~x.any(axis=1)
    np.testing.assert_array_equal(got[zero], 0.0)
    np.testing.assert_allclose(norms[~zero], 1.0, atol=1e-6)
    np.testing.assert_allclose(got, naive.normalize(x), atol=1e-6)


def test_finite_value_too_large_for_float32_is_called_an_overflow():
    # 1e300 is finite: the error used to say "contains NaN or inf"
    with pytest.raises(ValueError, match="too large for float32"):
        normalize(np.array([[1e300, 1.0]]))
    with pytest.raises(ValueError, match="too large for float32"):
        normalize(np.array([1.0, -1e39]))
    with pytest.raises(ValueError, match="NaN or inf"):
        normalize(np.array([[1e300, np.nan]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        normalize(np.array([[np.inf, 1.0]], dtype=np.float32))
