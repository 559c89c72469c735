"""`scratchdream zoom IMAGE`: the classic zoom animation, dream, zoom in a little, dream again.

Writes the GIF (with `-o zoom.mp4`, a video) and every frame as a numbered PNG, through the output
transaction (OutputSet): each frame is saved under a temporary name as it is made, and the animation and
the frames take their names together when the last frame is done. An interrupted or failed run leaves the
folders as it found them.
"""

import os
import time

from ..deepdream import defaults
from ..deepdream.options import check
from ..deepdream.plan import default_layer
from ..deepdream.zoom import run as run_zoom
from ..image_io import load_image, save_gif, save_image, shrink
from ..manifest import with_output
from ..outputs import OutputSet
from .common import (
    add_ascent_options,
    add_net_options,
    dream_options,
    given_settings,
    load_net,
    span,
    summary,
)
from .flags import command
from .manifests import for_run, zoom_settings
from .paths import ZOOM_SUFFIX, frame_names, frames_folder, main_output

GIF_FRAME_MS = 120  # each frame shows for 120 ms (8.3 frames a second), in the GIF or the video


def _animation_path(args):
    """-o: a GIF (the default, INPUT_zoom.gif, numbered when taken) or, with a video extension (.mp4, ...),
    a video."""
    from ..video_io import VIDEO_EXTS

    if args.output and os.path.splitext(args.output)[1].lower() in VIDEO_EXTS:
        return args.output
    folder = (lambda name: ()) if args.frames_dir else (lambda name: [frames_folder(name)])
    return main_output(args.image, args.output, ZOOM_SUFFIX, args.force, folder, ext=".gif")


def add_parser(subs):
    p = command(
        subs,
        "zoom",
        "the classic zoom animation: dream, zoom in a little, dream again",
        "scratchdream zoom sky.jpg --net toyworld --frames 30",
    )
    add_net_options(p, steps=5, suffix=ZOOM_SUFFIX)
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
        "--frames-dir",
        help="numbered PNG frames go here (default: beside the GIF, OUTPUT_frames/); a folder that exists "
        "keeps its other files, an existing frame_NNNN.png needs --force",
    )


def run(args):
    options, frames, factor = settings_of(args)
    inputs = [args.image, args.net]  # --net: when it names a weights file, it is read too
    with OutputSet(inputs, force=args.force) as outs:
        gif = outs.add(_animation_path(args))
        frames_dir = frames_folder(gif, args.frames_dir)
        paths = outs.add_dir(frames_dir, frame_names(frames), "--frames-dir")
        done = _zoom(args, options, factor, outs, gif, paths)
    summary(f"{done} -> {gif} and {frames_dir}/")
    return 0


def settings_of(args):
    """The DreamOptions, frame count and zoom factor of a zoom command line, checked."""
    return dream_options(args), check("frames", args.frames), check("factor", args.zoom)


def _zoom(args, options, factor, outs, gif, paths, stamp=None):
    """Load the net and the picture, dream one frame per path in `paths` (None: a frame not written),
    each saved to its temporary name as it is made, then the GIF (if any), each with the manifest
    `stamp` (by default this run's own); returns what was done, in words."""
    net = load_net(args.net, args.weights_dir)
    options = defaults.for_net(net, options, given_settings(args))  # the net's settings, unless given
    img, _ = load_image(args.image)
    stamp = stamp or for_run("zoom", zoom_settings(options, len(paths), factor), args, net)
    pictures, video = [], None
    if gif and not gif.lower().endswith(".gif"):  # -o zoom.mp4: each frame is streamed to ffmpeg as made
        from ..video_io import Encoder

        video = Encoder(outs.temp(gif), img.shape[1::-1], fps=1000 / GIF_FRAME_MS)

    def on_frame(k, picture):
        if paths[k]:
            save_image(outs.temp(paths[k]), picture, manifest=with_output(stamp, "frame", k + 1))
        if video:
            video.add(picture)
        else:
            pictures.append(shrink(picture))

    t0 = time.perf_counter()
    try:
        run_zoom(net, img, options, len(paths), factor, on_frame=on_frame)
        if video:
            video.close()
        elif gif:
            save_gif(outs.temp(gif), pictures, duration_ms=GIF_FRAME_MS, manifest=with_output(stamp, "gif"))
    except BaseException:
        if video:
            video.abandon()
        raise
    seconds = time.perf_counter() - t0
    layers = ", ".join(args.layer) if args.layer else default_layer(net)
    return (
        f"zoom on {args.image} ({img.shape[1]}x{img.shape[0]}) with {net.name} {layers}: {len(paths)} frames "
        f"x {args.octaves} octaves x {args.steps} steps in {seconds:.1f} s"
    )
