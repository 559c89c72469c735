"""The one home of the gradient-check helpers: relative error and central finite differences.

Every backward pass in scratchdream is held against these, in float64:
    rel_error(a, b) = max|a - b| / max(|a| + |b|, tiny)
    numerical_vjp(f, x, dy) ~ dy · df/dx, by (f(x + h e_k) - f(x - h e_k)) / 2h for every k
`dy` is a random upstream gradient (never all ones, which hides transposed indices).
"""

import numpy as np

TINY = 1e-300


def rel_error(a, b):
    """max|a - b| / max(|a| + |b|) over all elements: 0 for equal arrays, 1 for opposite ones."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), TINY)) if a.size else 0.0


def numerical_vjp(f, x, dy, h=1e-6):
    """Central differences of sum(f(x) * dy) with respect to x, in float64; x is never changed."""
    x = np.array(x, dtype=np.float64, copy=True)
    dy = np.asarray(dy, np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        plus = np.sum(np.asarray(f(x.copy()), np.float64) * dy)
        flat[k] = old - h
        minus = np.sum(np.asarray(f(x.copy()), np.float64) * dy)
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * h)
    return grad


def assert_close(name, mine, theirs, tol):
    """Assert rel_error(mine, theirs) < tol; on failure name the worst index and both values."""
    mine, theirs = np.asarray(mine, np.float64), np.asarray(theirs, np.float64)
    err = rel_error(mine, theirs)
    if not err < tol:
        idx = np.unravel_index(int(np.argmax(np.abs(mine - theirs))), mine.shape) if mine.size else ()
        raise AssertionError(
            f"{name}: rel error {err:.3e} >= {tol:.0e}; worst at {idx}: "
            f"mine {mine[idx]!r} vs theirs {theirs[idx]!r}"
        )
    return err
