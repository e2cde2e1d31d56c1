"""A stable sort written out for numba.

numba's own ``np.sort``/``np.argsort`` are generic and cost seconds of compile time for each
new array type; this merge sort compiles in a fraction of a second and is stable, which
the CSR build (duplicate edges keep their input order) and the ranking in
``local_search`` (ties by vertex id) rely on.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE

__all__ = ["merge_sort_pairs"]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def merge_sort_pairs(keys, vals, has_w):
    """Stable bottom-up merge sort of ``keys``, permuting ``vals`` alongside if ``has_w``.

    Sorts by ping-ponging between the inputs and one buffer each (both inputs are
    overwritten); returns the pair of arrays that holds the result.
    """
    length = keys.shape[0]
    a_k = keys
    a_v = vals
    b_k = np.empty_like(keys)
    b_v = np.empty_like(vals)
    width = 1
    while width < length:
        lo = 0
        while lo < length:
            mid = min(lo + width, length)
            hi = min(lo + 2 * width, length)
            i = lo
            j = mid
            for k in range(lo, hi):
                if j >= hi or (i < mid and a_k[i] <= a_k[j]):
                    b_k[k] = a_k[i]
                    if has_w:
                        b_v[k] = a_v[i]
                    i += 1
                else:
                    b_k[k] = a_k[j]
                    if has_w:
                        b_v[k] = a_v[j]
                    j += 1
            lo += 2 * width
        t_k = a_k
        a_k = b_k
        b_k = t_k
        t_v = a_v
        a_v = b_v
        b_v = t_v
        width *= 2
    return a_k, a_v
