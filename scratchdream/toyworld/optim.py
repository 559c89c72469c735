"""Hand-written optimisers: SGD with momentum, and Adam, updating a parameter dict in place.

Parameters and gradients are the Net's nested dicts {layer: {"weight": w, "bias": b}}. The update rules
are PyTorch's, so that a test can hold one step against torch.optim with the same weights and batch:
    SGD:  g <- g + wd*p;   v <- mu*v + g;            p <- p - lr*v                (v starts at g)
    Adam: g <- g + wd*p;   m <- b1*m + (1-b1)*g;    s <- b2*s + (1-b2)*g^2
          p <- p - lr * (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
Weight decay is the L2 kind (added to the gradient), as torch.optim.SGD and Adam do; bias and batchnorm
shift are decayed too unless `decay_bias=False`.
"""

import numpy as np


def _items(params):
    for layer in sorted(params):
        for key in sorted(params[layer]):
            yield layer, key, params[layer][key]


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay."""

    def __init__(self, lr=0.05, momentum=0.9, weight_decay=0.0, decay_bias=True):
        self.lr, self.momentum, self.weight_decay, self.decay_bias = lr, momentum, weight_decay, decay_bias
        self.velocity = {}

    def step(self, params, grads):
        for layer, key, p in _items(params):
            g = _decayed(grads[layer][key], p, key, self.weight_decay, self.decay_bias)
            v = self.velocity.get((layer, key))
            v = g.copy() if v is None else self.momentum * v + g
            self.velocity[(layer, key)] = v
            p -= self.lr * v  # in place: the net sees the new weights


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments."""

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decay_bias=True):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.decay_bias = weight_decay, decay_bias
        self.m, self.s, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.betas
        for layer, key, p in _items(params):
            g = _decayed(grads[layer][key], p, key, self.weight_decay, self.decay_bias)
            m = b1 * self.m.get((layer, key), 0.0) + (1 - b1) * g
            s = b2 * self.s.get((layer, key), 0.0) + (1 - b2) * g * g
            self.m[(layer, key)], self.s[(layer, key)] = m, s
            m_hat, s_hat = m / (1 - b1**self.t), s / (1 - b2**self.t)
            p -= (self.lr * m_hat / (np.sqrt(s_hat) + self.eps)).astype(p.dtype)


def _decayed(g, p, key, wd, decay_bias):
    g = np.asarray(g, p.dtype)
    if wd and (decay_bias or key == "weight"):
        return g + wd * p
    return g


def cosine_lr(base, step, total, warmup=0):
    """Linear warm-up for `warmup` steps, then a half cosine from `base` down to 0 at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return 0.5 * base * (1.0 + np.cos(np.pi * min(t, 1.0)))


OPTIMISERS = {"sgd": SGD, "adam": Adam}
