"""Robust training: teach the net to ignore small changes of its input, so that its gradients draw objects.

A net trained only on clean scenes answers to pixel patterns no person would call a castle, and the dream,
which follows the net's gradient, draws those patterns (speckle along edges). A net trained to keep its
answer under small worst-case changes of the picture (adversarial training) and under the changes a
photograph goes through (scale, shift, mirror, blur, noise) has input gradients that look like the objects
it knows: "perceptually aligned gradients" (Tsipras et al. 2019; Santurkar et al. 2019; Engstrom et al.
2019). Two pieces, both on a batch x (N, 3, H, W) of the net's input:

    transform   random scale, shift, blur and noise (the mirror is train.py's own)
    attack      PGD on the training loss: delta <- delta + alpha * g / |g|, then back into the ball
                |delta| <= eps; this is the dream's step (slide 35: i_mn <- i_mn + eta dL/di_mn) with the
                cross-entropy as L, the gradient normalised per picture, and a bound on how far it goes

eps and alpha are in the 0..1 pixel scale (one grey level is 1/255), whatever the net's preprocessing.
L2: delta's Euclidean length over the whole picture (all pixels and channels) is at most eps; Linf:
each pixel moves at most eps.
"""

import numpy as np

# the recipe chosen by measurement (docs/toyworld.md, "Robust training"): L2, two steps from a random start
ROBUST = {"norm": "l2", "eps": 1.0, "steps": 2, "transform": True}


# ---- transformation robustness -------------------------------------------------------------------
def transform(rng, x, scale=(0.8, 1.2), shift=0.12, blur=0.3, noise=0.06, std=0.25):
    """x (N, 3, H, W) randomly rescaled about the centre (factor in `scale`), shifted (up to `shift` of
    the side), blurred (a 3x3 binomial, for a `blur` share of the pictures), plus Gaussian noise of up to
    `noise` (0..1 pixel scale, divided by the input's `std`). Mirrored at the borders; a new array."""
    N, _, H, W = x.shape
    s = rng.uniform(scale[0], scale[1], N)[:, None]
    ty, tx = (rng.uniform(-shift, shift, (N, 1)) * n for n in (H, W))
    rows = _reflect((np.arange(H) + 0.5 - H / 2) / s + H / 2 - 0.5 + ty, H)  # source row of each row (N, H)
    cols = _reflect((np.arange(W) + 0.5 - W / 2) / s + W / 2 - 0.5 + tx, W)
    out = _bilinear(x, rows, cols)
    soft = rng.random(N) < blur
    if soft.any():
        out[soft] = _binomial3(out[soft])
    sigma = rng.uniform(0, noise / std, (N, 1, 1, 1)).astype(x.dtype)
    out += sigma * rng.standard_normal(out.shape, dtype=x.dtype)
    return out


def _reflect(coord, n):
    """Coordinates mirrored back into 0..n-1 (the picture continued by its own mirror image)."""
    period = 2 * (n - 1)
    c = np.abs(coord) % period
    return np.where(c > n - 1, period - c, c)


def _bilinear(x, rows, cols):
    """x (N, C, H, W) sampled at rows (N, H) and cols (N, W), fractional pixel coordinates."""
    N = x.shape[0]
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, x.shape[2] - 1), np.minimum(c0 + 1, x.shape[3] - 1)
    fr, fc = (rows - r0)[:, None, :, None], (cols - c0)[:, None, None, :]
    n = np.arange(N)[:, None, None]

    def at(r, c):  # x[n, :, r[n, i], c[n, j]] -> (N, C, H, W)
        return x[n, :, r[:, :, None], c[:, None, :]].transpose(0, 3, 1, 2)

    top = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    bottom = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return (top * (1 - fr) + bottom * fr).astype(x.dtype)


def _binomial3(x):
    """A 3x3 blur with weights [1, 2, 1] / 4 along each axis, mirrored at the borders."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="symmetric")
    v = 0.25 * p[:, :, :-2] + 0.5 * p[:, :, 1:-1] + 0.25 * p[:, :, 2:]
    return 0.25 * v[..., :-2] + 0.5 * v[..., 1:-1] + 0.25 * v[..., 2:]


# ---- the attack: the dream's step, on the loss -------------------------------------------------------
def attack(net, x, y, loss_fn, rng, norm="l2", eps=1.0, steps=2, alpha=None, std=None, lo=None, hi=None):
    """PGD: x (N, 3, H, W) moved within `eps` (0..1 pixel scale, `norm` "l2" or "linf") to raise the loss.

    A random start inside the ball, then `steps` ascent steps of size alpha (default 2.5 eps / steps) on
    loss_fn(logits, y) -> (L, dL/dlogits), each projected back into the ball and the valid pixel range
    [lo, hi] (the net's input units). std (1, 3, 1, 1): the net's input std, to measure in pixels."""
    alpha = 2.5 * eps / steps if alpha is None else alpha
    delta = _random_start(rng, x.shape, norm, eps).astype(x.dtype)  # in 0..1 pixel units
    for _ in range(steps):
        _, dz = loss_fn(net.forward(x + delta / std, upto="fc"), y)
        g = net.backward(dz) / std  # dL/d(pixel): the chain rule, one factor more
        delta += alpha * _unit(g, norm)  # the dream's step, on the loss
        delta = _project(delta, norm, eps)
        delta = np.clip(x + delta / std, lo, hi) * std - x * std  # stay a picture
    return (x + delta / std).astype(x.dtype)


def _unit(g, norm):
    """The steepest step of unit size: g / |g|_2 per picture (L2), or sign(g) (Linf)."""
    if norm == "linf":
        return np.sign(g)
    size = np.sqrt((g.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True))
    return (g / np.maximum(size, 1e-12)).astype(g.dtype)


def _project(delta, norm, eps):
    """delta back into the ball of radius eps."""
    if norm == "linf":
        return np.clip(delta, -eps, eps)
    size = np.sqrt((delta.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True))
    return (delta * np.minimum(1.0, eps / np.maximum(size, 1e-12))).astype(delta.dtype)


def _random_start(rng, shape, norm, eps):
    """A random point inside the ball: uniform in the cube for Linf; for L2 a random direction at a radius
    drawn uniformly from 0..eps (nearer the centre than a uniform draw over the ball; the step moves it)."""
    if norm == "linf":
        return rng.uniform(-eps, eps, shape)
    d = rng.standard_normal(shape)
    d /= np.sqrt((d**2).sum(axis=(1, 2, 3), keepdims=True))
    return d * rng.uniform(0, eps, (shape[0], 1, 1, 1))
