"""Training the toy world's network with scratchdream's own layers: forward, cross-entropy, backward, step.

The network is plain data (a spec) and a `Net`, exactly like the pretrained nets we dream with; training
only adds three things: parameter gradients (`net.backward(dL_dlogits, params=True)`), a loss written by
hand, and an optimiser (`optim.py`). Every minibatch is freshly drawn from the scene generator, so the net
never sees a scene twice and the whole run (data and weights) is fixed by one seed.

    softmax cross-entropy, z (N, K) logits, y (N,) labels:
        p = softmax(z);  L = -1/N sum_n log p[n, y_n];  dL/dz = (p - onehot(y)) / N
"""

import time

import numpy as np

from ..nets.graph import Net
from . import robust as robustness
from . import scenes
from .optim import OPTIMISERS, cosine_lr

WIDTHS = (16, 32, 64, 128)  # channels of the four conv blocks (98k parameters)
# `make toyworld`: 2,400 minibatches of 64; 51,200 scenes seen 3 times
STEPS, BATCH, EPOCHS, LR = 2400, 64, 3, 2e-3
# the net's suggested layers (spec dream_layers): a dream given --channel or --neuron without --layer
# takes the first
DREAM_LAYERS = ["conv4", "conv3"]
# the class of an empty scene: left out of the belief the dream pushes, and what a belief that says little
# dreams instead (the weights file's belief_prior names it: objectives.belief_weights)
EMPTY = "nothing"
# the dream settings that suit these nets, saved with the weights (net.dream_defaults); chosen by measurement
# (docs/toyworld.md): the belief objective at the logits (each object class pushed as hard as the net
# believed in it on the first octave, the background class "nothing" left out), four octaves,
# Laplacian-normalised gradient
DREAM_DEFAULTS = {
    "layers": ["fc"],
    "belief": [EMPTY],
    "octaves": 4,
    "octave_scale": 1.5,
    "steps": 20,
    "step_size": 1.5,
    "jitter": 8,
    "normalize": "laplacian",
    "smooth": 1.0,
}

# the net's belief on empty scenes, saved with the weights (net.belief_prior; objectives.belief_weights
# divides the belief by its square root): plain backgrounds of every kind, seeds that neither training
# (pairs [seed, k]), the tuning of the objective (plain backgrounds 0-7) nor the demo (300-307) uses,
# read at 76 x 76 px, the first octave of a 256 x 256 picture with the dream defaults above; every dream's
# belief is read at that square too (plan.belief_view): the bundled biased net's belief about an empty sky
# changes with the picture's height (docs/toyworld.md, "Skies it never drew"), so the picture the user
# gives, at whatever size, is shown to the net as the prior's pictures were
PRIOR_SEEDS = tuple(range(200, 208))
PRIOR_SIDE = 76


def belief_prior(net, layer="fc", seeds=PRIOR_SEEDS, side=PRIOR_SIDE):
    """{"layer": layer, "p": q, "empty": "nothing", "side": side}: q_k, the mean over plain backgrounds
    (every kind, 256 px, shrunk to side x side as the first octave shrinks a picture) of the net's
    probability for class k at `layer`; "empty", the class a belief with little evidence hands its weight
    to (objectives.py); "side", the square every dream's belief is then read at too (plan.belief_view)."""
    from ..image_io import resize

    ps = []
    for kind in scenes.BACKGROUND_PAINTERS:
        for seed in seeds:
            x = resize(net.preprocess(scenes.plain_background(kind, size=256, seed=seed)), (side, side))
            z = net.forward(x, upto=layer, keep=False)[0].astype(np.float64)
            p = np.exp(z - z.max())
            ps.append(p / p.sum())
    q = np.maximum(np.mean(ps, axis=0), 1e-12)  # a probability of 0 would divide by zero
    prior = {"layer": layer, "p": [float(v) for v in q / q.sum()]}
    if net.labels and EMPTY in net.labels:
        prior["empty"] = EMPTY
    prior["side"] = side
    return prior


# ---- the network as data ----------------------------------------------------------------------
def toyworld_spec(
    widths=WIDTHS,
    labels=scenes.CLASSES,
    size=64,
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    name="toyworld",
):
    """Four conv(3x3)+ReLU blocks, max-pool between them, global average pooling, a linear classifier."""
    layers, src = [], "data"
    for i, k in enumerate(widths, 1):
        layers.append(
            {
                "name": f"conv{i}",
                "kind": "conv",
                "inputs": [src],
                "hp": {"out": int(k), "kernel": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "relu": True},
            }
        )
        src = f"conv{i}"
        if i < len(widths):
            layers.append(
                {
                    "name": f"pool{i}",
                    "kind": "maxpool",
                    "inputs": [src],
                    "hp": {"kernel": [2, 2], "stride": [2, 2]},
                }
            )
            src = f"pool{i}"
    layers += [
        {"name": "gap", "kind": "adaptive_avgpool", "inputs": [src], "hp": {"size": [1, 1]}},
        {"name": "flat", "kind": "flatten", "inputs": ["gap"], "hp": {}},
        {"name": "fc", "kind": "linear", "inputs": ["flat"], "hp": {"out": len(labels)}},
        {"name": "prob", "kind": "softmax", "inputs": ["fc"], "hp": {}},
    ]
    return {
        "name": name,
        "input": {
            "name": "data",
            "order": "RGB",
            "scale": 1.0,
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "size": [size, size],
        },
        "layers": layers,
        "labels": list(labels),
        "dream_layers": [name for name in DREAM_LAYERS if name in {layer["name"] for layer in layers}],
        "aliases": {"logits": "fc"},
    }


def init_params(spec, rng, dtype=np.float32):
    """He-normal weights (std sqrt(2 / fan_in), right for ReLU), zero biases."""
    net = Net(spec)
    params = {}
    for layer, shapes in net.param_shapes.items():
        if not shapes:
            continue
        w_shape = shapes["weight"]
        fan_in = int(np.prod(w_shape[1:]))
        params[layer] = {"weight": (rng.standard_normal(w_shape) * np.sqrt(2.0 / fan_in)).astype(dtype)}
        if "bias" in shapes:
            params[layer]["bias"] = np.zeros(shapes["bias"], dtype)
    return params


# ---- the loss ---------------------------------------------------------------------------------
def cross_entropy(logits, labels):
    """(mean softmax cross-entropy, its gradient dL/dlogits); logits (N, K), labels (N,) ints."""
    z = logits - logits.max(axis=1, keepdims=True)  # shift: same softmax, no overflow
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -logp[np.arange(n), labels].mean()
    dz = np.exp(logp)
    dz[np.arange(n), labels] -= 1.0
    return float(loss), dz / n


# ---- one step, and many -----------------------------------------------------------------------
def train_step(net, opt, x, y):
    """Forward to the logits, loss, backward with parameter gradients, optimiser step; returns the loss.

    The optimiser updates net.params in place (float32 for training, float64 in the torch-oracle test)."""
    logits = net.forward(x, upto="fc", weight_grads=True)
    loss, dz = cross_entropy(logits, y)
    _, grads = net.backward(dz, params=True)
    opt.step(net.params, grads)
    return loss


def to_input(net, images):
    """uint8 scenes (N, H, W, 3) -> the net's input (N, 3, H, W) float32 (its preprocessing, batched)."""
    pre = net.spec["input"]
    mean = np.asarray(pre["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(pre["std"], np.float32).reshape(1, 3, 1, 1)
    x = images.astype(np.float32).transpose(0, 3, 1, 2) * (float(pre.get("scale", 1.0)) / 255.0)
    return np.ascontiguousarray((x - mean) / std)


def channel_stats(settings, seed, n=1000):
    """Per-channel mean and std of the scenes in 0..1, rounded: the net's input normalisation."""
    img, _, _ = scenes.make_scenes(np.random.default_rng([seed, 7]), n, settings)
    px = img.reshape(-1, 3) / 255.0
    return [round(float(v), 3) for v in px.mean(0)], [round(float(v), 3) for v in px.std(0)]


def make_pool(settings, seed, n, progress=True, chunk=500):
    """The training scenes: n of them, drawn in chunks from the seed (same seed, same bytes)."""
    rng = np.random.default_rng([seed, 2])
    size = int(settings["size"])
    img, y = np.empty((n, size, size, 3), np.uint8), np.empty(n, np.int64)
    bar = _bar(n, "draw scenes", progress)
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        img[i : i + m], y[i : i + m], _ = scenes.make_scenes(rng, m, settings)
        bar.update(m)
    bar.close()
    return img, y


def train(
    settings=None,
    seed=0,
    steps=STEPS,
    batch=BATCH,
    epochs=EPOCHS,
    widths=WIDTHS,
    optimiser="adam",
    lr=LR,
    weight_decay=1e-4,
    warmup=50,
    name="toyworld",
    progress=True,
    log_every=50,
    robust=None,
):
    """Train a toy-world net from nothing; returns (net, history) with history = [(step, mean loss), ...].

    The scenes are drawn once (steps * batch / epochs of them) and shown `epochs` times, in a new
    order and randomly mirrored each time. `robust` (a dict like robust.ROBUST, None: plain training):
    each batch is also randomly transformed and then attacked (robust.py) before the step.
    """
    settings = settings or scenes.DEFAULT_SETTINGS
    size = int(settings["size"])
    mean, std = channel_stats(settings, seed)
    spec = toyworld_spec(widths, settings["classes"], size, mean, std, name)
    net = Net(spec, init_params(spec, np.random.default_rng([seed, 1])))
    opt = OPTIMISERS[optimiser](lr=lr, weight_decay=weight_decay, decay_bias=False)
    pool_img, pool_y = make_pool(settings, seed, max(batch, steps * batch // max(epochs, 1)), progress)
    order_rng = np.random.default_rng([seed, 4])
    order = np.empty(0, np.int64)
    history, running = [], []
    bar = _bar(steps, f"train {name}", progress)
    for step in range(steps):
        if len(order) < batch:  # a new epoch: a new order
            order = np.concatenate([order, order_rng.permutation(len(pool_y))])
        idx, order = order[:batch], order[batch:]
        img = pool_img[idx]
        flip = order_rng.random(batch) < 0.5
        img[flip] = img[flip, :, ::-1]
        opt.lr = cosine_lr(lr, step, steps, warmup)
        x = to_input(net, img)
        if robust:
            x = hardened(net, x, pool_y[idx], robust, order_rng)
        running.append(train_step(net, opt, x, pool_y[idx]))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            history.append((step + 1, float(np.mean(running))))
            bar.set_postfix(loss=f"{history[-1][1]:.3f}")
            running = []
        bar.update(1)
    bar.close()
    return net, history


def hardened(net, x, y, robust, rng):
    """The batch x as robust training shows it: randomly transformed, then attacked (robust.py)."""
    if robust.get("transform", True):
        x = robustness.transform(rng, x)
    if not robust.get("steps"):
        return x
    std = np.asarray(net.spec["input"]["std"], np.float32).reshape(1, 3, 1, 1)
    lo, hi = net.input_range()
    opts = {k: robust[k] for k in ("norm", "eps", "steps", "alpha") if k in robust}
    return robustness.attack(net, x, y, cross_entropy, rng, std=std, lo=lo, hi=hi, **opts)


# ---- held-out evaluation ------------------------------------------------------------------------
def predict(net, images, batch=200):
    """Class probabilities (N, K) for uint8 scenes (N, H, W, 3)."""
    out = [
        net.forward(to_input(net, images[i : i + batch]), upto="prob", keep=False)
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out)


def evaluate(net, settings=None, seed=12345, n=1200):
    """Accuracy and confusion matrix (true x predicted) on n freshly generated scenes, never used in
    training."""
    settings = settings or scenes.DEFAULT_SETTINGS
    img, y, _ = scenes.make_scenes(np.random.default_rng([seed, 3]), n, settings)
    pred = predict(net, img).argmax(axis=1)
    k = len(settings["classes"])
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y, pred), 1)
    return float((pred == y).mean()), confusion


def provenance(
    settings, seed, steps, batch, optimiser, lr, history, accuracy, seconds, cpu_seconds=None, robust=None
):
    """What the weights file records about how it was made: enough to make it again."""
    return {
        "source_url": "generated locally: `scratchdream toyworld train` (make toyworld)",
        "source_sha256": None,
        "converter_version": "toyworld-train/1",
        "generator": settings,
        "co_occurrence": background_table_dict(settings),
        "training": {
            "seed": seed,
            "steps": steps,
            "batch": batch,
            "optimiser": optimiser,
            "lr": lr,
            "final_loss": history[-1][1] if history else None,
            "seconds": round(seconds, 1),
            "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 1),
            "widths": list(WIDTHS),
            "robust": robust,
        },
        "heldout_accuracy": accuracy,
    }


def background_table_dict(settings):
    table = scenes.background_table(settings)
    return {
        c: {b: round(float(table[i, j]), 4) for j, b in enumerate(settings["backgrounds"])}
        for i, c in enumerate(settings["classes"])
    }


def _bar(total, desc, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t
