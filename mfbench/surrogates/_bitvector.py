"""Compiled kernel of ``fast.BitvectorTrees`` (numba); imported only when a surrogate predicts.

Kept apart so that a machine without numba still imports ``fast`` and falls back to the
numpy and scikit-learn paths.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

#: rows evaluated together per tree: their masks stay in L1 and the inner loop vectorizes
BLOCK = 256
#: batches of fewer rows are walked one row at a time
SMALL = 16


@intrinsic
def _cttz(typingctx, x):  # noqa: ARG001  (numba's intrinsic signature)
    """Index of the lowest set bit (LLVM's cttz): the exit leaf of a tree's mask."""

    def codegen(context, builder, sig, args):  # noqa: ARG001
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return x(x), codegen


@numba.njit(nogil=True, cache=True)
def predict(XT, X32T, feat, f32, thr, mask, node_start, leaf_start, leaf_value, owner, base, out):  # pragma: no cover
    """``out[r, k] = base[k] + sum of model k's trees at row r``; ``XT`` is feature-major.

    Per tree, every internal node whose test fails (``x > thr``: the row goes right) clears
    the bits of the leaves of its left subtree; the exit leaf is the lowest bit left. The tests
    are independent of each other (no pointer chasing) and run over a block of rows at once.
    """
    n = XT.shape[1]
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    if n < SMALL:  # the block loops' set-up (alias checks, vector prologues) outweighs one row
        for r in range(n):
            for k in range(base.shape[0]):
                out[r, k] = base[k]
            for t in range(owner.shape[0]):
                mr = full
                for i in range(node_start[t], node_start[t + 1]):
                    x = X32T[feat[i], r] if f32[i] else XT[feat[i], r]
                    mr &= mask[i] if x > thr[i] else full
                out[r, owner[t]] += leaf_value[leaf_start[t] + _cttz(mr)]
        return
    m = np.empty(BLOCK, np.uint64)
    acc = np.empty((base.shape[0], BLOCK))  # model-major: the leaf sums run along contiguous rows
    for r0 in range(0, n, BLOCK):
        b = min(n, r0 + BLOCK) - r0
        for k in range(base.shape[0]):
            for r in range(b):
                acc[k, r] = base[k]
        for t in range(owner.shape[0]):
            for r in range(b):
                m[r] = full
            for i in range(node_start[t], node_start[t + 1]):
                f = feat[i]
                th = thr[i]
                mk = mask[i]
                if f32[i]:  # two loops: choosing the array per node would count references per node
                    for r in range(b):
                        m[r] &= mk if X32T[f, r0 + r] > th else full
                else:
                    for r in range(b):
                        m[r] &= mk if XT[f, r0 + r] > th else full
            lo = leaf_start[t]
            k = owner[t]
            for r in range(b):
                acc[k, r] += leaf_value[lo + _cttz(m[r])]
        for r in range(b):
            for k in range(base.shape[0]):
                out[r0 + r, k] = acc[k, r]
