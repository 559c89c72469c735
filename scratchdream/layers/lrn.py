"""Local response normalisation across channels (AlexNet, bvlc_googlenet): neighbouring channels compete.

    forward   scale[c] = k + α/n · Σ_{c' = c-⌊n/2⌋}^{c+⌊(n-1)/2⌋} x[c']²  (channels outside 0..C-1 count as 0)
              y[c] = x[c] · scale[c]^-β                        x, y, scale (N, C, H, W); n, α, β, k scalars
    backward  dx[c] = dy[c] · scale[c]^-β
                      - (2αβ/n) · x[c] · Σ_{c' whose window holds c} dy[c'] x[c'] scale[c']^(-β-1)
This is Caffe's ACROSS_CHANNELS formula (α is divided by the window size n) and PyTorch's
local_response_norm; for odd n (Caffe requires it) the window is centred. The cache is x and the
denominator `scale` computed in forward, so backward does not recompute the window sums.
"""

import numpy as np

from ..errors import UserError


def check_size(size):
    """The window n must hold at least one channel (n = 0 would divide α by zero)."""
    if int(size) < 1:
        raise UserError(f"lrn: window size {size} must be >= 1; the architecture is damaged")
    return int(size)


def _window_sum(a, before, after):
    """s[:, c] = Σ_{c' = c-before}^{c+after} a[:, c'] with zero channels outside."""
    C = a.shape[1]
    padded = np.concatenate([np.zeros_like(a[:, :before]), a, np.zeros_like(a[:, :after])], axis=1)
    return sum(padded[:, o : o + C] for o in range(before + after + 1))


# ---- math: scale = k + α/n Σ_window x²,  y = x scale^-β ---------------------------------------------
def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x (N, C, H, W) -> (y same shape, cache = (x, scale, (size, alpha, beta)))."""
    x, size = np.asarray(x), check_size(size)
    scale = k + alpha / size * _window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale**-beta, (x, scale, (size, alpha, beta))


def lrn_backward(dy, cache):
    """dy (N, C, H, W) -> dx (N, C, H, W)."""
    x, scale, (size, alpha, beta) = cache
    t = dy * x * scale ** (-beta - 1)
    # c lies in the window of c' exactly when c' runs from c - (size-1)//2 to c + size//2: the window reversed
    return dy * scale**-beta - (2 * alpha * beta / size) * x * _window_sum(t, (size - 1) // 2, size // 2)
