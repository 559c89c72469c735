"""`scratchdream zoom IMAGE`: the classic zoom animation, dream, zoom in a little, dream again.

Writes the GIF and every frame as a numbered PNG; an interrupted or failed run removes the frames it
wrote (and the folder, if it made it).
"""

import contextlib
import os
import time

from ..deepdream.options import check
from ..deepdream.plan import default_layer
from ..deepdream.zoom import run as run_zoom
from ..errors import UserError
from ..image_io import load_image, save_gif, save_image, shrink
from .common import add_ascent_options, add_net_options, dream_options, load_net, span, summary
from .flags import command
from .paths import ZOOM_SUFFIX, check_frames_dir, frames_folder, output_path


def add_parser(subs):
    p = command(
        subs,
        "zoom",
        "the classic zoom animation: dream, zoom in a little, dream again",
        "scratchdream zoom sky.jpg --net toyworld --frames 30",
    )
    add_net_options(p, steps=5)
    p.add_argument(
        "--frames", type=int, default=30, help=f"number of frames, {span('frames')} (default %(default)s)"
    )
    p.add_argument(
        "--zoom",
        type=float,
        default=1.05,
        help=f"zoom factor per frame, {span('factor')} (default %(default)s)",
    )
    add_ascent_options(p, octaves=2)
    p.add_argument(
        "--frames-dir", help="numbered PNG frames go here (default: beside the GIF, OUTPUT_frames/)"
    )


def run(args):
    options = dream_options(args)
    frames, factor = check("frames", args.frames), check("factor", args.zoom)
    gif = output_path(args.image, args.output, ZOOM_SUFFIX, args.force, ext=".gif")
    frames_dir = frames_folder(gif, args.frames_dir)
    check_frames_dir(frames_dir, args.force)
    net = load_net(args.net, args.weights_dir)
    img, _ = load_image(args.image)
    made_dir = _make_folder(frames_dir)
    pictures, written = [], []

    def on_frame(k, picture):
        written.append(os.path.join(frames_dir, f"frame_{k + 1:04d}.png"))
        save_image(written[-1], picture)
        pictures.append(shrink(picture))

    t0 = time.perf_counter()
    try:
        run_zoom(net, img, options, frames, factor, on_frame=on_frame)
        save_gif(gif, pictures)
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
    summary(
        f"zoom on {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} {layers}: {frames} frames x "
        f"{args.octaves} octaves x {args.steps} steps in {seconds:.1f} s -> {gif} and {frames_dir}/"
    )
    return 0


def _make_folder(path):
    """Create the frames folder if need be; True when this run made it (so a failed run removes it)."""
    made = not os.path.isdir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create the frames folder {path} ({e.strerror}); choose another --frames-dir"
        ) from None
    return made
