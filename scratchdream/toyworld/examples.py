"""Dataset examples: the training scenes that excite one channel most (`scratchdream toyworld examples`).

Distill's Feature Visualization shows a channel two ways: the picture an ascent paints for it, and the
real pictures that make it fire. The toy world can do the second exactly, because its training scenes
are drawn from a seed: `training_scenes` draws them as `toyworld train` does (train.make_pool's
generator), `top_scenes` ranks them by the channel's mean activation, and `strip` lays out the best ones
with their class and background. `grown_channels` names the channels a dream amplifies most on a plain
background, so the lecture's question "why castles in the sky?" becomes: what do the training scenes
that excite the sky-dream's channels show?

Works on any toy-world net file (the scenes are 64 px; the net ends in global pooling).
"""

import numpy as np

from . import scenes

TOP = 8  # scenes in a strip
SCENES = 1000  # training scenes ranked
BATCH = 100  # scenes per forward pass


def training_scenes(seed=0, n=SCENES, settings=None, chunk=500):
    """(images (n, S, S, 3) uint8, labels (n,), backgrounds (n,)): the first n scenes of the training pool
    of `seed`, drawn as train.make_pool draws them (np.random.default_rng([seed, 2]), in chunks of 500)."""
    rng = np.random.default_rng([seed, 2])
    parts = [scenes.make_scenes(rng, min(chunk, n - i), settings) for i in range(0, n, chunk)]
    return tuple(np.concatenate(p) for p in zip(*parts))


def channel_means(net, images, layer, batch=BATCH):
    """(n, C): every channel's mean activation at `layer` for each picture, in batches."""
    out = []
    for k in range(0, len(images), batch):
        x = np.concatenate([net.preprocess(img) for img in images[k : k + batch]])
        h = net.forward(x, upto=layer, keep=False)  # (b, C, Hl, Wl)
        out.append(h.reshape(h.shape[0], h.shape[1], -1).mean(axis=2))
    return np.concatenate(out)


def top_scenes(net, layer, channel, seed=0, n=SCENES, top=TOP):
    """The `top` scenes of the first n training scenes whose mean activation of `channel` is largest:
    (indices, scores, images, labels, backgrounds), best first."""
    images, labels, backgrounds = training_scenes(seed, n)
    score = channel_means(net, images, layer)[:, channel]
    best = np.argsort(-score, kind="stable")[:top]
    return best, score[best], images[best], labels[best], backgrounds[best]


def grown_channels(net, layer, background="sky", seed=0, top=3):
    """The `top` channels of `layer` whose mean activation a dream on a plain `background` raised most
    (demo.dream_on: the net's own dream settings, with the layer objective at `layer`): (channels, before,
    after)."""
    from . import demo

    before = scenes.plain_background(background, size=demo.SIZE, seed=seed)
    own = {k: v for k, v in (getattr(net, "dream_defaults", None) or {}).items() if k != "belief"}
    after = demo.dream_on(net, before, dict(own, layers=[layer]), seed)
    means = channel_means(net, np.stack([before, after]), layer)
    best = np.argsort(-(means[1] - means[0]), kind="stable")[:top]
    return best, means[0, best], means[1, best]


def strip(images, captions, title, k=2):
    """Pictures in a row, upscaled k times, a caption under each and a title above: uint8 RGB."""
    from PIL import Image, ImageDraw

    size, gap, top, foot = images[0].shape[0] * k, 4, 16, 28
    canvas = Image.new("RGB", (len(images) * (size + gap) + gap, size + top + foot), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((gap, 2), title, fill=(0, 0, 0))
    for n, (img, caption) in enumerate(zip(images, captions)):
        x = gap + n * (size + gap)
        canvas.paste(Image.fromarray(img).resize((size, size), Image.NEAREST), (x, top))
        for j, line in enumerate(caption.split("\n")):
            draw.text((x, top + size + 2 + 12 * j), line, fill=(0, 0, 0))
    return np.asarray(canvas)


def examples_strip(net, layer, channel, seed=0, n=SCENES, top=TOP):
    """The strip of `channel`'s top training scenes, each captioned with its class, background and score;
    returns (picture, [class of each scene])."""
    _, score, images, labels, backgrounds = top_scenes(net, layer, channel, seed, n, top)
    world = scenes.DEFAULT_SETTINGS  # the names the scene labels and backgrounds index
    classes = [world["classes"][int(y)] for y in labels]
    places = [world["backgrounds"][int(b)] for b in backgrounds]
    captions = [f"{c} on {b}\nmean h {s:.3g}" for c, b, s in zip(classes, places, score)]
    count = ", ".join(f"{classes.count(c)} {c}" for c in dict.fromkeys(classes))
    title = (
        f"{net.name} {layer} channel {channel}: the {top} of {n} training scenes that excite it most: {count}"
    )
    return strip(list(images), captions, title), classes
