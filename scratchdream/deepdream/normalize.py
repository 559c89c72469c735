"""Giving the raw gradient dL/dI a sensible size (and, optionally, smoothness) before the step.

The raw gradient's scale depends on the layer, the objective and the image: 1e-6 on one net, 1e3 on
another. Slide 35's update i_mn <- i_mn + dL/di_mn needs a step size that fits; the original Deep Dream
divides by the mean absolute value, so that `step_size` is the mean change of a pixel per step.
All three methods return a gradient of unit "typical size", so one step size fits all of them:
    mean       g / mean|g|                                  (the original notebook)
    std        g / std(g)
    laplacian  split g into a Laplacian pyramid (fine to coarse bands), scale every band to unit
               RMS, add them back and rescale to unit RMS: coarse structure gets as much say as fine
               detail (the TensorFlow Deep Dream tutorial's lap_normalize, in NumPy)
For a local objective (one neuron) the gradient is zero outside the neuron's receptive field; there the
sizes are taken over the pixels the gradient reaches (local=True), so that the receptive field, not
the whole picture, moves by `step_size` on average (measured over the whole picture, a neuron in one
corner of a large picture would get huge steps that overshoot).
Smoothing (a Gaussian blur of the gradient, sigma in pixels) is optional and comes first.
Each returns (g, size): size is the divisor, 0.0 for an all-zero gradient, inf/nan if it is not finite.
"""

import numpy as np

EPS = 1e-12
BINOMIAL = np.array([1, 4, 6, 4, 1], np.float64) / 16  # the Burt-Adelson 5-tap blur


def normalise(g, how="mean", local=False):
    """g (1, 3, H, W) -> (g / size, size), by `how` in {mean, std, laplacian}; see `local` above."""
    g, size = _normalise(g, how)
    if local and size > 0 and np.isfinite(size):
        reached = np.count_nonzero(g) / g.size  # the share of pixels the gradient reaches
        if 0 < reached < 1:
            g *= g.dtype.type(reached if how == "mean" else np.sqrt(reached))
    return g, size


def _normalise(g, how):
    if how == "mean":
        size = float(np.mean(np.abs(g), dtype=np.float64))
    elif how == "std":
        size = float(np.std(g, dtype=np.float64))
    elif how == "laplacian":
        return _laplacian_normalise(g)
    else:
        raise ValueError(f"unknown normalisation {how!r}")
    if not np.isfinite(size) or size <= EPS:
        return g, (size if not np.isfinite(size) else 0.0)
    return g * g.dtype.type(1.0 / size), size


# ---- smoothing -------------------------------------------------------------------------------------
def _filter(a, taps, axis):
    """Correlate `a` with the 1-D kernel `taps` along `axis`, reflecting at the borders (same size out)."""
    r = len(taps) // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="symmetric")
    n, axis = a.shape[axis], axis % a.ndim
    out = np.zeros_like(a)
    for k, w in enumerate(taps):
        window = (slice(None),) * axis + (slice(k, k + n),)  # a view: no copy per tap
        out += a.dtype.type(w) * p[window]
    return out


def smooth(g, sigma):
    """Gaussian blur of g (..., H, W) with standard deviation `sigma` pixels (0 = unchanged)."""
    if not sigma or sigma <= 0:
        return g
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    taps = np.exp(-0.5 * (t / sigma) ** 2)
    taps /= taps.sum()
    return _filter(_filter(g, taps, -1), taps, -2)


# ---- Laplacian pyramid ------------------------------------------------------------------------------
def _down(a):
    """Blur with the binomial kernel, keep every second row and column: (.., H, W) -> (.., ⌈H/2⌉, ⌈W/2⌉)."""
    return _filter(_filter(a, BINOMIAL, -1), BINOMIAL, -2)[..., ::2, ::2]


def _up(a, shape):
    """The inverse size change: `a` on every second pixel of zeros of `shape`, blurred with 2x the kernel."""
    z = np.zeros(a.shape[:-2] + tuple(shape), a.dtype)
    z[..., ::2, ::2] = a
    return _filter(_filter(z, 2 * BINOMIAL, -1), 2 * BINOMIAL, -2)


def laplacian_split(g, levels=4):
    """g -> [band_0 (finest), ..., band_{n-2}, lowpass]; adding them back with `laplacian_merge` gives g."""
    bands = []
    for _ in range(levels - 1):
        if min(g.shape[-2:]) < 8:  # too small to halve again
            break
        lo = _down(g)
        bands.append(g - _up(lo, g.shape[-2:]))
        g = lo
    return bands + [g]


def laplacian_merge(bands):
    g = bands[-1]
    for band in reversed(bands[:-1]):
        g = _up(g, band.shape[-2:]) + band
    return g


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64))))


def _laplacian_normalise(g, levels=4):
    size = _rms(g)
    if not np.isfinite(size) or size <= EPS:
        return g, (size if not np.isfinite(size) else 0.0)
    bands = [b * b.dtype.type(1.0 / max(_rms(b), EPS)) for b in laplacian_split(g, levels)]
    out = laplacian_merge(bands)
    return out * out.dtype.type(1.0 / max(_rms(out), EPS)), size
