"""What the dream maximises: the objective L(h) and its gradient dL/dh (slide 34).

Slide 34 splits the gradient in two: dL/di_mn = dL/dh_ij · dh_ij/di_mn. This module is the first factor.
Each function takes the activations h of one layer, (1, C, H, W) or (1, F) after a classifier, and
returns (L, dL_dh) with dL_dh shaped like h. The second factor is `Net.backward`'s job.

    neuron   L = h_cij²                     dL/dh_cij = 2 h_cij, 0 elsewhere   (the slide itself)
    channel  L = 1/n Σ_ij h_cij²            dL/dh_cij = 2 h_cij / n
    layer    L = 1/n Σ_cij h_cij²           dL/dh     = 2 h / n                 (the original Deep Dream's L2)
    logit    L = h_k                        dL/dh     = e_k                     (feature visualisation)
    belief   L = Σ_k w_k h_k                dL/dh     = w                       (w: what the net sees)
    guided   L = 1/n Σ_p max_q <h_p, g_q>   dL/dh_p   = g_q*(p) / n             (the notebook's guide)
n is the number of terms in the mean. When an image is dreamed in tiles, every tile divides by the n of
the whole image (`count`), so the tiles' gradients add up to the whole image's gradient.
`Objective` combines such terms over one or several layers, each with a weight.
"""

import numpy as np

from ..errors import SettingError
from ..image_io import resize


# ---- the terms, one per kind of objective --------------------------------------------------------
def neuron(h, c, i, j):
    """Slide 34: L = h_ij² for the neuron at channel c, row i, column j; dL/dh_ij = 2 h_ij."""
    h_ij = h[0, c, i, j]
    dL_dh = np.zeros_like(h)
    dL_dh[0, c, i, j] = 2 * h_ij
    return float(h_ij) ** 2, dL_dh


def channel(h, c, count=None):
    """L = mean over positions of h_c²: one feature map made stronger everywhere."""
    n = count or h[0, c].size
    dL_dh = np.zeros_like(h)
    dL_dh[0, c] = h[0, c] * h.dtype.type(2.0 / n)
    return float(np.sum(np.square(h[0, c], dtype=np.float64)) / n), dL_dh


def layer(h, count=None):
    """L = mean of h² over the whole layer: amplify whatever the layer already sees."""
    n = count or h.size
    return float(np.sum(np.square(h, dtype=np.float64)) / n), h * h.dtype.type(2.0 / n)


def logit(h, k):
    """L = h_k, one output of a classifier layer (N, F): the class the picture should become."""
    dL_dh = np.zeros_like(h)
    dL_dh[0, k] = 1
    return float(h[0, k]), dL_dh


def belief(h, w):
    """L = Σ_k w_k h_k over the classes of a classifier layer (N, K), with fixed weights w (K,): the classes
    the net believed it saw in the starting picture, each pushed as hard as it was believed
    (`belief_weights`). "Whatever you see there, more of it", at the level of classes: no class is chosen
    by the user, the net's own belief (and so its training data) chooses."""
    return float(np.dot(h[0].astype(np.float64), w)), w[None].astype(h.dtype)


# how much a belief must say before it is dreamed: below EVIDENCE[0] nats (the belief about the classes
# kept, prior-divided, against all of them alike) the net sees no particular object; above EVIDENCE[1], a
# full one (docs/toyworld.md, "Evidence, or the empty scene": the two ends measured on both nets)
EVIDENCE = (0.2, 0.35)


def belief_weights(h, leave_out=(), prior=None, empty=None):
    """w_k ∝ p_k / √q_k, p = softmax(h) for one classifier output h (K,), the classes `leave_out` (indices)
    at 0 and the rest scaled to sum to 1: the net's belief about a picture, fixed once for the whole dream.

    q (K,) is the net's belief on empty scenes in general (its weights file's `belief_prior`; None: q = 1,
    w = p). Dividing by it takes out part of what the net expects everywhere: a net with a favourite class
    no longer draws it on every background, and a class the scene makes likelier than usual gains. The
    square root stops halfway to the evidence ratio p_k / q_k, which inflates the classes the net almost
    never names (docs/toyworld.md, "What was tried (the objective)", has both measured).

    empty (an index, or None): the class that names an empty scene (the toy world's *nothing*). A belief
    that says little beyond the prior (`evidence` below EVIDENCE[1]) hands its weight to that class, all of
    it below EVIDENCE[0]: a net that sees no object there more than anywhere dreams the empty scene, more of
    it, instead of its favourite object at full strength."""
    z = np.asarray(h, np.float64)
    p = np.exp(z - z.max())
    if prior is not None:
        p = p / np.sqrt(np.asarray(prior, np.float64))
    kept = np.ones(len(p), bool)
    kept[list(leave_out)] = False
    p[~kept] = 0.0
    total = p.sum()
    if not total > 0:
        raise SettingError("{belief} leaves out every class the net believes in; leave out fewer")
    w = p / total
    if empty is None or kept.sum() < 2:  # one class kept: the user chose it, no belief to weigh
        return w
    a = evidence_share(evidence(w, kept))
    w = a * w
    w[empty] += 1.0 - a
    return w


def evidence(w, kept):
    """KL(w || uniform) over the classes kept, in nats: Σ_k w_k log(n w_k), 0 for a flat belief, log n for
    a certain one."""
    wk = w[kept]
    wk = wk[wk > 0]
    return float(np.sum(wk * np.log(wk * kept.sum())))


def evidence_share(kl, ends=EVIDENCE):
    """The share of the dream the belief gets: 0 up to ends[0] nats, 1 from ends[1], linear between."""
    return float(np.clip((kl - ends[0]) / (ends[1] - ends[0]), 0.0, 1.0))


def guided(h, g, count=None):
    """L = mean over positions p of max_q <h_p, g_q>: every position moves towards its best-matching
    feature vector of the guide image. h (1, C, H, W), g (C, Q) the guide's features."""
    C, H, W = h.shape[1:]
    x = h[0].reshape(C, H * W)  # (C, P) one column per position p
    A = x.T @ g  # (P, Q) <h_p, g_q>
    best = np.argmax(A, axis=1)  # q*(p)
    n = count or H * W
    value = float(np.sum(A[np.arange(H * W), best], dtype=np.float64) / n)
    dL_dh = (g[:, best] * g.dtype.type(1.0 / n)).reshape(1, C, H, W).astype(h.dtype, copy=False)
    return value, dL_dh


def guide_features(net, guide_img, layer_name, max_side=None):
    """The guide image's features at a layer, (C, Q): one column per position of the guide."""
    x = net.preprocess(guide_img)
    side = max_side or max(net.spec["input"].get("size", [224, 224]))
    H, W = x.shape[2:]
    if max(H, W) > side:  # a guide needs the net's view of it, not every pixel
        k = side / max(H, W)
        x = resize(x, (max(1, round(H * k)), max(1, round(W * k))))
    g = net.forward(x, upto=layer_name, keep=False)
    if g.ndim != 4:
        raise SettingError(
            "{guide} needs a layer with a spatial output; {name} gives shape {shape}",
            name=layer_name,
            shape=g.shape[1:],
        )
    return np.ascontiguousarray(g[0].reshape(g.shape[1], -1))


# ---- several terms over several layers -----------------------------------------------------------
class Objective:
    """L(I) = Σ_l w_l · L_l(h_l) over layers l; called on the activations of one forward pass.

    `terms` is a list of (layer, weight, kind, arg): kind one of "neuron", "channel", "layer", "logit",
    "belief", "guided"; arg the channel, (c, fy, fx) for a neuron, the class index, the class weights w,
    or the guide's features.
    A neuron is stored at a fractional position (fy, fx) in [0, 1) of the picture, so that it follows
    the picture through octaves (other sizes) and jitter (a shift by `shift`, in fractions of the size).
    """

    def __init__(self, terms):
        self.terms = list(terms)
        self.layers = list(dict.fromkeys(t[0] for t in self.terms))

    @property
    def tileable(self):
        """Whether the gradient can be computed tile by tile: not for one neuron or one class score."""
        return all(kind in ("channel", "layer", "guided") for _, _, kind, _ in self.terms)

    @property
    def local(self):
        """Whether the gradient reaches only part of the picture (one neuron's receptive field)."""
        return all(kind == "neuron" for _, _, kind, _ in self.terms)

    def __call__(self, acts, shift=(0.0, 0.0), counts=None):
        """acts {layer: h} -> (L, {layer: dL/dh}). counts {layer: (C, H, W)} of the whole picture (tiles)."""
        total, grads = 0.0, {}
        for name, weight, kind, arg in self.terms:
            h = acts[name]
            value, dL_dh = self._term(h, kind, arg, shift, (counts or {}).get(name))
            total += weight * value
            if weight != 1.0:
                dL_dh *= dL_dh.dtype.type(weight)
            grads[name] = grads[name] + dL_dh if name in grads else dL_dh
        return total, grads

    @staticmethod
    def _term(h, kind, arg, shift, shape):
        spatial = None if shape is None else int(np.prod(shape[1:]))
        if kind == "neuron":
            c, fy, fx = arg
            Hl, Wl = h.shape[2:]
            i = int(min(max(fy + shift[0], 0.0), 1.0) * Hl)  # where the jitter moved it, kept
            j = int(min(max(fx + shift[1], 0.0), 1.0) * Wl)  # inside the picture
            return neuron(h, c, min(i, Hl - 1), min(j, Wl - 1))
        if kind == "channel":
            return channel(h, arg, spatial)
        if kind == "layer":
            return layer(h, None if shape is None else int(np.prod(shape)))
        if kind == "logit":
            return logit(h, arg)
        if kind == "belief":
            return belief(h, arg)
        if kind == "guided":
            return guided(h, arg, spatial)
        raise ValueError(f"unknown objective kind {kind!r}")


def neuron_position(i, j, layer_shape):
    """Layer indices (i, j) at the picture's full size -> the fractional position (fy, fx) of its centre."""
    _, Hl, Wl = layer_shape
    return (i + 0.5) / Hl, (j + 0.5) / Wl
