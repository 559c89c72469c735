"""The CLI commands `scratchdream dream | lecture | zoom`: check everything, load, dream, write atomically.

Order of work, so that a mistake costs nothing: options (one UsageError line each) -> output paths
(extension, not the input, not an existing file without --force) -> the network -> the picture ->
the dream -> the outputs, each written to a temporary file and renamed. The input is only ever read.
"""

import contextlib
import os
import sys
import time

from ..errors import UsageError, UserError
from ..image_io import load_image, output_format, save_gif, save_image, shrink
from . import lecture as lecture_mod
from .loop import check_neuron, check_options, default_layer, dream, min_input_side
from .zoom import zoom


# ---- the three commands ----------------------------------------------------------------------------
def cmd_dream(args):
    check_options(
        octaves=args.octaves,
        octave_scale=args.octave_scale,
        steps=args.steps,
        step_size=args.step_size,
        jitter=args.jitter,
        normalize=args.normalize,
        smooth=args.smooth,
        tile=args.tile,
        start=args.start,
    )
    neuron = parse_neuron(args.neuron)
    out = output_path(args.image, args.output, "_dream.png", args.force)
    gif = (
        None
        if args.gif is None
        else output_path(out, args.gif or None, ".gif", args.force, what="--gif", ext=".gif")
    )
    net = load_net(args.net, args.weights_dir)
    img, alpha = load_image(args.image)
    guide = load_image(args.guide)[0] if args.guide else None
    frames = []
    t0 = time.perf_counter()
    result = dream(
        net,
        img,
        layers=args.layer,
        channel=args.channel,
        neuron=neuron,
        octaves=args.octaves,
        octave_scale=args.octave_scale,
        steps=args.steps,
        step_size=args.step_size,
        jitter=args.jitter,
        normalize=args.normalize,
        smooth=args.smooth,
        tile=args.tile,
        tile_margin=args.tile_margin,
        guide=guide,
        start=args.start,
        seed=args.seed,
        progress=True,
        on_frame=(lambda f: frames.append(shrink(f))) if gif else None,
    )
    seconds = time.perf_counter() - t0
    save_image(out, result, alpha)
    if gif:
        save_gif(gif, [shrink(img)] + frames)
    layers = ", ".join(args.layer) if args.layer else default_layer(net)
    layers += (
        (f" channel {args.channel}" if args.channel is not None else "")
        + (f" neuron {args.neuron}" if args.neuron else "")
        + (f" guided by {args.guide}" if args.guide else "")
        + (f" from {args.start}" if args.start != "image" else "")
    )
    _summary(
        f"dreamed {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} {layers}, "
        f"{args.octaves} octaves x {args.steps} steps in {seconds:.1f} s -> {out}"
        + (f" and {gif}" if gif else "")
    )
    return 0


def cmd_lecture(args):
    if not isinstance(args.steps, int) or args.steps <= 0:
        raise UsageError(f"--steps must be a whole number > 0, got {args.steps}")
    if args.step_size is not None:
        check_options(step_size=args.step_size)
    neuron = parse_neuron(args.neuron)
    if args.layer and len(args.layer) > 1:
        raise UsageError("lecture follows one neuron of one layer; give --layer once")
    out = output_path(args.image, args.output, "_lecture.png", args.force)
    gif = output_path(out, args.gif, ".gif", args.force, what="--gif", ext=".gif")
    net = load_net(args.net, args.weights_dir)
    layer = (
        net.resolve(args.layer[0].rpartition(":")[0] or args.layer[0]) if args.layer else default_layer(net)
    )
    img, alpha = load_image(args.image)
    H, W = img.shape[:2]
    _check_size(net, layer, W, H)
    shape = net.shapes(H, W)[layer]
    if len(shape) != 3:
        raise UsageError(
            f"lecture needs a layer with a spatial output (channels x rows x columns); {layer} gives {shape}"
        )
    if args.channel is not None and not 0 <= args.channel < shape[0]:
        raise UsageError(
            f"--channel {args.channel} is out of range: {layer} has {shape[0]} channels, valid 0..{shape[0] - 1}"
        )
    if neuron is None:
        neuron = lecture_mod.most_active_neuron(net, img, layer, args.channel)
        print(
            f"neuron h_ij: channel {neuron[0]}, i = {neuron[1]}, j = {neuron[2]} of {layer} "
            f"(the most active one; choose another with --neuron C,Y,X)"
        )
    else:
        neuron = check_neuron(net, layer, shape, neuron, W, H)
    frames = []

    def on_step(t, h_ij, L, eta, picture):
        eta_text = "" if eta is None else f"   eta = {eta:.4g}"
        print(f"step {t:3d}   h_ij = {h_ij:12.6g}   L = h_ij^2 = {L:12.6g}{eta_text}", flush=True)
        frames.append(shrink(picture))

    t0 = time.perf_counter()
    result, history, eta = lecture_mod.lecture(
        net, img, layer, neuron, steps=args.steps, eta=args.step_size, on_step=on_step
    )
    seconds = time.perf_counter() - t0
    save_image(out, result, alpha)
    save_gif(gif, frames, duration_ms=200)
    _summary(
        f"lecture on {args.image} ({W}x{H}) with {net.name} {layer} neuron {neuron[0]},{neuron[1]},{neuron[2]}: "
        f"h_ij {history[0]:.4g} -> {history[-1]:.4g} in {args.steps} steps (eta {eta:.4g}), {seconds:.1f} s "
        f"-> {out} and {gif}"
    )
    return 0


def cmd_zoom(args):
    check_options(
        octaves=args.octaves,
        octave_scale=args.octave_scale,
        steps=args.steps,
        step_size=args.step_size,
        jitter=args.jitter,
        normalize=args.normalize,
        smooth=args.smooth,
        tile=args.tile,
    )
    if not isinstance(args.frames, int) or args.frames <= 0:
        raise UsageError(f"--frames must be a whole number > 0, got {args.frames}")
    if not (args.zoom == args.zoom and 1.0 < args.zoom < 2.0):
        raise UsageError(f"--zoom must be a factor between 1 and 2 (e.g. 1.05), got {args.zoom}")
    neuron = parse_neuron(args.neuron)
    gif = output_path(args.image, args.output, "_zoom.gif", args.force, ext=".gif")
    frames_dir = args.frames_dir or os.path.splitext(gif)[0] + "_frames"
    _check_frames_dir(frames_dir, args.force)
    net = load_net(args.net, args.weights_dir)
    img, _ = load_image(args.image)
    made_dir = not os.path.isdir(frames_dir)
    try:
        os.makedirs(frames_dir, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create the frames folder {frames_dir} ({e.strerror}); choose another --frames-dir"
        ) from None
    frames, written = [], []

    def on_frame(k, picture):
        written.append(os.path.join(frames_dir, f"frame_{k + 1:04d}.png"))
        save_image(written[-1], picture)
        frames.append(shrink(picture))

    t0 = time.perf_counter()
    try:
        zoom(
            net,
            img,
            frames=args.frames,
            factor=args.zoom,
            seed=args.seed,
            on_frame=on_frame,
            layers=args.layer,
            channel=args.channel,
            neuron=neuron,
            octaves=args.octaves,
            octave_scale=args.octave_scale,
            steps=args.steps,
            step_size=args.step_size,
            jitter=args.jitter,
            normalize=args.normalize,
            smooth=args.smooth,
            tile=args.tile,
            tile_margin=args.tile_margin,
        )
        save_gif(gif, frames)
    except BaseException:  # Ctrl-C, a full disk, a NaN: no half-made animation is left behind
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        if made_dir:
            with contextlib.suppress(OSError):
                os.rmdir(frames_dir)
        raise
    seconds = time.perf_counter() - t0
    layers = ", ".join(args.layer) if args.layer else default_layer(net)
    _summary(
        f"zoom on {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} {layers}: {args.frames} frames x "
        f"{args.octaves} octaves x {args.steps} steps in {seconds:.1f} s -> {gif} and {frames_dir}/"
    )
    return 0


# ---- shared checks ---------------------------------------------------------------------------------
def parse_neuron(text):
    """ "C,Y,X" -> (c, y, x) ints, or None."""
    if text is None:
        return None
    parts = str(text).replace(" ", "").split(",")
    try:
        c, y, x = (int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--neuron must be three whole numbers C,Y,X (channel, row, column), got {text!r}"
        ) from None
    return c, y, x


def output_path(source, given, suffix, force, what="-o/--output", ext=None):
    """The output path (given, or `source` without extension + suffix), checked before any work:
    known extension, not the input itself, not an existing file unless --force."""
    path = given if given else os.path.splitext(source)[0] + suffix
    if ext is not None:
        if os.path.splitext(path)[1].lower() != ext:
            raise UsageError(f"cannot write {path}: {what} must end in {ext}")
    else:
        output_format(path)
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a folder; give a file name")
    if os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
        raise UsageError(
            f"{what} {path} is the input itself; scratchdream never overwrites its input, choose another name"
        )
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it or choose another -o")
    _check_folder(path)
    return path


def _check_folder(path):
    """The output's folder exists and takes new files: found out now, not after a long dream."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise UserError(
            f"cannot write {path}: the folder {folder} {problem}; create it or choose another output"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".scratchdream-probe.", dir=folder)
    except OSError as e:  # EACCES, EROFS; ENOENT in /proc-like folders (root passes os.access)
        raise UserError(
            f"cannot write {path}: the folder {folder} is not writable ({e.strerror}); "
            "choose another output folder"
        ) from None
    os.close(fd)
    os.remove(probe)


def _check_frames_dir(path, force):
    if os.path.isfile(path):
        raise UsageError(f"--frames-dir {path} is a file; give a folder")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise UsageError(
            f"the frames folder {path} is not empty; pass --force to overwrite its frames or choose --frames-dir"
        )


def _check_size(net, layer, W, H):
    need = min_input_side(net, [layer])
    if min(W, H) < need:
        raise UserError(
            f"the picture is {W}x{H} px but {net.name} needs at least {need} px on each side to reach "
            f"{layer}; use a larger picture or an earlier layer"
        )


def load_net(name, weights_dir=None):
    """sd.load_net, with the offline way out added to a failed fetch of a zoo net."""
    import scratchdream as sd

    if weights_dir:
        os.environ["SCRATCHDREAM_WEIGHTS"] = weights_dir
    try:
        return sd.load_net(name)
    except UserError as e:
        is_file = os.path.exists(name) or str(name).endswith((".h5", ".hdf5"))
        if is_file or name == "toyworld" or "toyworld" in str(e):
            raise
        raise type(e)(f"{e}; or dream offline now with --net toyworld (make dream NET=toyworld)") from None


def _summary(line):
    print(f"scratchdream: {line}", file=sys.stdout, flush=True)
