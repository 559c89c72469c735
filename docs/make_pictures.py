"""The pictures of docs/lecture.md and the README, made by scratchdream itself: `make docs-pictures`.

Every picture is drawn by the package's own functions on the offline toy-world network
(weights/toyworld.h5, `sd.load_net("toyworld")`), from a plain generated sky (toyworld/scenes.py), so the
whole set is remade in well under a minute on a laptop CPU, without a download. If the toy-world weights
are missing, a network of the same architecture with random weights stands in, and every picture says so
in its caption (random weights still show what octaves, jitter, normalisation and tiling do; they cannot
show the dataset bias, so that picture is left out).

    python docs/make_pictures.py [--out docs/img] [--seed 0]

Pictures (each a small PNG, upscaled 2x with nearest-neighbour so the pixels stay visible):
    lecture_hero.png       a sky before and after a dream (the README's first picture)
    lecture_steps.png/gif  slides 34-35 exactly: h_ij rising as the image is updated and fed back, for
                           the centre neuron, its receptive-field square drawn on every panel
    lecture_field.png      dh_ij/di_mn = net.backward(one-hot) for a centre neuron of two layers, with squares
    lecture_octaves.png    one scale vs several scales with detail re-injection
    lecture_jitter.png     without and with the random roll
    lecture_normalize.png  the raw gradient's size at two layers vs the normalised step
    lecture_tiling.png     one pass vs tiles on a fixed grid vs a shifted grid, without and with a margin
    lecture_bias.png       trained net vs control net on a plain sky (only with the trained weights)
    lecture_survey.png     `scratchdream survey`: the sky dreamed briefly at each layer, classes that rose
    lecture_explain.png    `scratchdream dream --explain --compare-net`: "why dogs?", net and control
    lecture_examples.png   the training scenes that excite most the channel a sky-dream grows most

`--only steps,field` remakes just those pictures (the names of the functions below).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

import scratchdream as sd  # noqa: E402
from scratchdream.deepdream import field as fields  # noqa: E402
from scratchdream.deepdream import lecture, objectives, plan  # noqa: E402
from scratchdream.deepdream.ascent import ascent_step, gradient  # noqa: E402
from scratchdream.deepdream.tiling import Tiler, default_margin, exact_margin, jump  # noqa: E402
from scratchdream.image_io import save_gif  # noqa: E402
from scratchdream.manifest import save_options, with_output  # noqa: E402
from scratchdream.toyworld import scenes  # noqa: E402

TOY = dict(
    octaves=3, octave_scale=1.4, steps=12, step_size=3.0, jitter=8
)  # toy-net scale (toyworld/demo.py's)
H, W = 96, 144  # the sky every picture starts from
STAMP = None  # the manifest every picture carries (main: the seed and both bundled nets' sha256)


# ---- the network and the starting picture ---------------------------------------------------------
def toy_net(seed=0):
    """(net, trained): the toy-world net, or the same architecture with random weights if it is missing."""
    from scratchdream.nets import zoo

    if os.path.isfile(zoo.weights_path("toyworld")):
        return sd.load_net("toyworld"), True
    from scratchdream.toyworld.train import init_params, toyworld_spec

    spec = toyworld_spec()
    return sd.Net(spec, init_params(spec, np.random.default_rng(seed))), False


def sky(seed=0, h=H, w=W):
    return scenes.plain_background("sky", size=h, width=w, seed=seed)


# ---- drawing ----------------------------------------------------------------------------------------
def _big(img, k=2):
    from PIL import Image

    return Image.fromarray(img).resize((img.shape[1] * k, img.shape[0] * k), Image.NEAREST)


def panel(pictures, captions, title, k=2):
    """Pictures side by side, a caption (one or two lines) under each, a title above: uint8 RGB."""
    from PIL import Image, ImageDraw

    ims = [_big(p, k) for p in pictures]
    gap, top, foot = 6, 16, 30
    width = sum(im.width for im in ims) + gap * (len(ims) + 1)
    height = max(im.height for im in ims) + top + foot
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((gap, 2), title, fill=(0, 0, 0))
    x = gap
    for im, caption in zip(ims, captions):
        canvas.paste(im, (x, top))
        for j, line in enumerate(caption.split("\n")):
            draw.text((x, top + im.height + 3 + 12 * j), line, fill=(0, 0, 0))
        x += im.width + gap
    return np.asarray(canvas)


def _note(trained):
    return "" if trained else "  [RANDOM-WEIGHT toy net: weights/toyworld.h5 missing]"


def _dream(net, img, **opts):
    return sd.dream(net, img, progress=False, **dict(TOY, **opts))


# ---- the pictures -----------------------------------------------------------------------------------
def hero(net, trained, out, seed):
    before = sky(seed)
    after = _dream(net, before, seed=seed)
    own = getattr(net, "dream_defaults", None) or {}  # sd.dream puts the net's defaults in (defaults.py)
    if "belief" in own:
        how = f"dreamed: its belief at {own['layers'][0]}"
    else:
        how = f"dreamed at {(own.get('layers') or net.spec['dream_layers'])[0]}"
    return _save(
        out,
        "lecture_hero.png",
        panel(
            [before, after],
            ["a plain sky", how],
            "scratchdream on the toy-world net" + _note(trained),
        ),
    )


def steps(net, trained, out, seed, n=30):
    """Slides 34-35 and nothing else (deepdream/lecture.py): the neuron's value at every step."""
    img = sky(seed)
    layer = net.spec["dream_layers"][0]
    neuron = fields.centre_neuron(net, img, layer)  # a centre neuron: its square lies inside the picture
    box = fields.square(net, layer, *neuron[1:])
    shown, frames = {}, []

    def on_step(t, h_ij, L, eta, picture):
        picture = picture.copy()
        fields.draw_square(picture, *box)  # the receptive field: where the pattern can appear
        frames.append(picture)  # at 1x: the GIF stays under 300 KB
        if t in (0, n // 3, 2 * n // 3, n):
            shown[t] = (picture, h_ij)

    lecture.lecture(net, img, layer, neuron, steps=n, on_step=on_step)
    pics = [shown[t][0] for t in sorted(shown)]
    caps = [f"step {t}\nh_ij = {shown[t][1]:.3g}" for t in sorted(shown)]
    c, i, j = neuron
    title = (
        f"L(I) = h_ij^2 at {layer}, centre neuron {c},{i},{j} (square: its {box[2]} px receptive field): "
        "update, feed back, repeat" + _note(trained)
    )
    gif = os.path.join(out, "lecture_steps.gif")
    save_gif(gif, frames, duration_ms=150, max_side=W, manifest=STAMP and with_output(STAMP, "gif"))
    os.chmod(gif, 0o644)
    return _save(out, "lecture_steps.png", panel(pics, caps, title))


def field(net, trained, out, seed, layers=("conv2", "conv4")):
    """dh_ij/di_mn = net.backward(one-hot) for the centre neuron of two layers, squares drawn (field.py)."""
    img = sky(seed)
    pics, caps = [], []
    for layer in layers:
        c, i, j = fields.centre_neuron(net, img, layer)
        dh_dI = fields.field(net, img, layer, (c, i, j))
        box = fields.square(net, layer, i, j)
        nonzero, above = fields.support(dh_dI)
        pics.append(fields.heat_map(img, dh_dI, box))
        caps.append(
            f"{layer} neuron {c},{i},{j}: field {box[2]} px\n"
            f"!= 0 on {nonzero[0]}x{nonzero[1]} px, > {fields.RELATIVE_FLOOR:g} max on {above[0]}x{above[1]}"
        )
    title = "|dh_ij/di_mn| = |net.backward(one-hot)| on the sky; square: the receptive field" + _note(trained)
    return _save(out, "lecture_field.png", panel(pics, caps, title))


def octaves(net, trained, out, seed):
    img = sky(seed)
    one = _dream(net, img, octaves=1, steps=3 * TOY["steps"], seed=seed)
    many = _dream(net, img, seed=seed)
    return _save(
        out,
        "lecture_octaves.png",
        panel(
            [img, one, many],
            [
                "start",
                f"1 octave x {3 * TOY['steps']} steps",
                f"{TOY['octaves']} octaves x {TOY['steps']} steps",
            ],
            "octaves: patterns at several sizes (same number of steps)" + _note(trained),
        ),
    )


def grid_contrast(before, after, step):
    """How much the dreamed change follows the stride grid: the mean |change| at each position modulo
    `step`, its spread over those step x step positions relative to its mean (0: no grid at all)."""
    change = np.abs(after.astype(np.float64) - before).mean(axis=2)
    H, W = (change.shape[0] // step) * step, (change.shape[1] // step) * step
    phase = change[:H, :W].reshape(H // step, step, W // step, step).mean(axis=(0, 2))
    return float(phase.std() / max(phase.mean(), 1e-12))


def jitter(net, trained, out, seed):
    """Without and with jitter: the dreams, an enlarged corner of each, and how grid-bound each change is."""
    img = sky(seed)
    layer = net.spec["dream_layers"][0]
    step = jump(net, [layer])
    still = _dream(net, img, jitter=0, seed=seed)
    rolled = _dream(net, img, seed=seed)
    rows, cols = slice(H // 2, H // 2 + 32), slice(W // 2 - 24, W // 2 + 24)  # where the patterns grow
    crops = [np.asarray(_big(p[rows, cols], 3)) for p in (still, rolled)]
    g0, g1 = grid_contrast(img, still, step), grid_contrast(img, rolled, step)
    return _save(
        out,
        "lecture_jitter.png",
        panel(
            [img, still, rolled, *crops],
            [
                "start",
                f"jitter 0: grid {g0:.2f}",
                f"jitter {TOY['jitter']} px: grid {g1:.2f}",
                "jitter 0, centre x3",
                f"jitter {TOY['jitter']}, centre x3",
            ],
            f"jitter: without and with a random shift each step; grid = how much the change follows "
            f"{layer}'s {step} px stride grid (0: not at all)" + _note(trained),
        ),
    )


def _raw_ascent(net, img, layer, eta, n):
    """Slide 35 with a fixed eta and the raw gradient (no normalisation): i_mn += eta * dL/di_mn."""
    x = net.preprocess(img)
    lo, hi = net.input_range()
    objective = objectives.Objective([(layer, 1.0, "layer", None)])
    sizes = []
    for _ in range(n):
        _, g = gradient(net, x, objective)
        sizes.append(float(np.mean(np.abs(g))))
        x = np.clip(x + np.float32(eta) * g, lo, hi)
    return net.deprocess(x), sizes


def normalize(net, trained, out, seed, n=24):
    """One eta for two layers: the raw gradient's size differs by orders of magnitude; mean|g| fixes it."""
    img = sky(seed)
    deep, shallow = net.spec["dream_layers"][0], "conv2"
    lo, hi = net.input_range()
    grey = float(np.min(hi - lo)) / 255.0
    _, (first,) = _raw_ascent(net, img, deep, 0.0, 1)
    eta = TOY["step_size"] * grey / first  # the right eta for the deep layer's first step ...
    raw_deep, deep_sizes = _raw_ascent(net, img, deep, eta, n)
    raw_shallow, shallow_sizes = _raw_ascent(net, img, shallow, eta, n)  # ... and the same for the other
    opts = dict(octaves=1, steps=n, jitter=0, seed=seed)
    norm_deep = _dream(net, img, layers=[deep], **opts)
    norm_shallow = _dream(net, img, layers=[shallow], **opts)
    caps = [
        f"raw g, {deep}: mean|g|\n{deep_sizes[0]:.2g} -> {deep_sizes[-1]:.2g}",
        f"raw g, {shallow}, same eta:\nmean|g| {shallow_sizes[0]:.2g} -> {shallow_sizes[-1]:.2g}",
        f"g / mean|g|, {deep}",
        f"g / mean|g|, {shallow}",
    ]
    return _save(
        out,
        "lecture_normalize.png",
        panel(
            [raw_deep, raw_shallow, norm_deep, norm_shallow],
            caps,
            f"{n} steps, fixed eta: the raw step changes size as h grows and from layer to layer; "
            "g / mean|g| does not" + _note(trained),
        ),
    )


class _FixedGrid:
    """Stands in for the Tiler's random generator: grid offset always 0 (what the project never does)."""

    @staticmethod
    def integers(lo, hi, size=None):
        return np.zeros(size, np.int64)


def _tiled(net, img, tiler, n, layer, eta_grey=TOY["step_size"]):
    """n ascent steps (no jitter, one octave) whose gradient comes from `tiler` (None: one pass)."""
    x = net.preprocess(img)
    lo, hi = net.input_range()
    objective = plan.build_objective(net, [(layer, 1.0)], *img.shape[:2])
    eta = np.float32(eta_grey) * (hi - lo) / np.float32(255.0)
    for _ in range(n):
        ascent_step(net, x, objective, eta, lo, hi, "mean", 0.0, (0, 0), tiler)
    return net.deprocess(x)


def tiling(net, trained, out, seed, n=12, tile=48):
    img = sky(seed, 3 * H // 2, 3 * W // 2)
    layer = net.spec["dream_layers"][0]
    step = jump(net, [layer])
    whole = _tiled(net, img, None, n, layer)
    fixed = _tiled(net, img, Tiler(tile, 0, _FixedGrid(), step=step), n, layer)
    margin = default_margin(net, [layer], tile)  # 0 px for tiles this small
    shifted = _tiled(net, img, Tiler(tile, margin, np.random.default_rng(seed), step=step), n, layer)
    exact = exact_margin(net, [layer])
    covered = _tiled(net, img, Tiler(tile, exact, np.random.default_rng(seed), step=step), n, layer)
    caps = [
        "one pass (no tiles)",
        f"{tile} px tiles, fixed grid,\nno margin: seams",
        f"grid shifted each step,\nmargin {margin} px (the default here)",
        f"grid shifted each step,\nmargin {exact} px (one field): exact",
    ]
    return _save(
        out,
        "lecture_tiling.png",
        panel([whole, fixed, shifted, covered], caps, f"tiling: {n} steps at {layer}" + _note(trained)),
    )


def bias(net, trained, out, seed):
    """The lecture's explanation, checked: plain skies dreamed by the trained net and by the control, each
    with its own dream_defaults, and p(castle) as the control judges every dream (toyworld/demo.py)."""
    from scratchdream.nets import zoo
    from scratchdream.toyworld import demo

    path = zoo.weights_path("toyworld")
    control_path = os.path.join(os.path.dirname(path), "toyworld_control.h5")
    if not trained or not os.path.isfile(control_path):
        return None
    control = sd.load_net(control_path)
    k, pics, caps = control.labels.index("castle"), [], []
    for name, n in (("toyworld", net), ("control", control)):
        for s in [seed + s for s in demo.SEEDS][:3]:  # one dream is one draw: three skies per net
            plain, dreamed, p = demo.judged_dream(n, control, "sky", n.dream_defaults, seed=s, size=H)
            if not pics:
                pics.append(plain)
                caps.append("plain sky")
            pics.append(dreamed)
            caps.append(f"{name}, sky {s}\ncontrol: castle {p[k]:.2f}")
    title = "plain skies dreamed by each net with its dream_defaults; p(castle) as the control judges it"
    return _save(out, "lecture_bias.png", panel(pics, caps, title, k=1))


def survey_sheet(net, trained, out, seed):
    """`scratchdream survey`: the sky dreamed briefly at each trunk layer, the classes that rose below."""
    from scratchdream.cli.survey import survey_sheet as sheet
    from scratchdream.deepdream.survey import survey

    small, cells = survey(net, sky(seed), seed=seed)
    return _save(
        out, "lecture_survey.png", sheet(net, small, cells, "a plain sky, toy-world net" + _note(trained))[0]
    )


def explained(net, trained, out, seed):
    """`scratchdream dream --explain --compare-net`: the classes the dream made likelier, for two nets."""
    from scratchdream import explain
    from scratchdream.nets import zoo

    control = os.path.join(os.path.dirname(zoo.weights_path("toyworld")), "toyworld_control.h5")
    nets = [net] + ([sd.load_net(control)] if trained and os.path.isfile(control) else [])
    img = sky(seed)
    after = _dream(net, img, seed=seed)
    return _save(out, "lecture_explain.png", explain.panel(img, after, explain.explain(nets, img, after)))


def examples(net, trained, out, seed, layer="conv3"):
    """The training scenes that excite most the channel a dream on a plain sky grows most (examples.py);
    what `scratchdream toyworld examples --layer conv3 --dreamed sky` writes."""
    from scratchdream.toyworld import examples as dataset

    if not trained:
        return None
    channel = int(dataset.grown_channels(net, layer, "sky", seed=seed, top=1)[0][0])
    picture, classes = dataset.examples_strip(net, layer, channel, seed=seed)
    return _save(out, "lecture_examples.png", picture)


PICTURES = [hero, steps, field, octaves, jitter, normalize, tiling, bias, survey_sheet, explained, examples]


def _save(out, name, img):
    """A 256-colour PNG (the pictures stay well under 300 KB), written atomically, readable by all, with
    the manifest STAMP: tests/test_docs.py holds its weights' sha256 to the bundled files, so a retrained
    net with pictures not remade fails there."""
    from PIL import Image

    from scratchdream.atomic import atomic_path

    path = os.path.join(out, name)
    with atomic_path(path) as tmp:
        Image.fromarray(img).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            tmp, format="PNG", optimize=True, **save_options("PNG", STAMP)
        )
    os.chmod(path, 0o644)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description="make the pictures of docs/lecture.md and the README")
    p.add_argument("--out", default=os.path.join(HERE, "img"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="comma-separated picture names (default: all): " + ", ".join(
        f.__name__ for f in PICTURES))  # fmt: skip
    args = p.parse_args(argv)
    chosen = [f for f in PICTURES if args.only is None or f.__name__ in args.only.split(",")]
    os.makedirs(args.out, exist_ok=True)
    net, trained = toy_net(args.seed)
    if not trained:
        print("note: weights/toyworld.h5 is missing (`make toyworld`); using random weights", file=sys.stderr)
    else:
        from scratchdream.cli.toyworld import CONTROL, demo_manifest

        global STAMP
        STAMP = demo_manifest(args.seed, net, CONTROL if os.path.isfile(CONTROL) else None)
    for make in chosen:
        t = time.perf_counter()
        path = make(net, trained, args.out, args.seed)
        if path:
            print(
                f"{path}  ({os.path.getsize(path) / 1024:.0f} KB, {time.perf_counter() - t:.1f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
