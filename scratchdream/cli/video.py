"""`scratchdream video IN.mp4 -o OUT.mp4`: a video dream, frame by frame, each frame blended with the last.

Order of work, so that a mistake costs nothing: the options -> the input clip (opened, its first frame
decoded) -> the net (its dream defaults complete the options, as for a picture) -> the output (OutputSet)
and the folder of dreamed frames -> the frames, each saved
as a PNG in that folder the moment it is done -> the video, encoded from them under a temporary name and
renamed at the end (with the input's audio). Ctrl-C, a crash or a dead machine keep the frames done, and
`--resume` continues from them (the folder's run.json must match the new command). With --workers or
--scheduler the chunks go to Dask (distributed.py); the same seed and --chunk give the same frames.
"""

import json
import os
import shutil
import sys
from dataclasses import asdict

from ..deepdream import defaults
from ..errors import UsageError
from ..image_io import load_image, note, save_image
from ..outputs import OutputSet
from .common import add_ascent_options, add_net_options, dream_options, given_settings, load_net, summary
from .flags import command, cores, reword, whole

VIDEO_SUFFIX = "_dream.mp4"


def _number(lo, hi, meaning):
    """An argparse type: a number from lo to hi (`meaning` says what), else argparse's one line."""
    import argparse

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {meaning}, got {text!r}")
        return value

    return parse


fraction = _number(0, 1, "a number from 0 to 1")
seconds = _number(0, 1e7, "a number of seconds >= 0")
rate = _number(0.01, 1000, "frames a second, from 0.01 to 1000")


def add_parser(subs):
    p = command(
        subs,
        "video",
        "dream on a video, frame by frame, each frame carrying the last one's dream",
        "scratchdream video clip.mp4 -o dream.mp4 --net toyworld --blend 0.5 --flow --workers 2",
    )
    add_net_options(p, steps=5, suffix=VIDEO_SUFFIX)
    reword(
        p,
        "image",
        f"the video to dream on (MP4, MKV, MOV, WebM, animated GIF; default output INPUT{VIDEO_SUFFIX})",
    )
    reword(p, "output", f"output video (default beside the input: INPUT{VIDEO_SUFFIX}; --resume goes on)")
    add_ascent_options(p, octaves=3)
    p.add_argument(
        "--blend",
        type=fraction,
        default=0.5,
        help="carry-over of the previous dream, 0 to 1 (default %(default)s)",
    )
    p.add_argument(
        "--flow",
        action="store_true",
        help="move the previous dream along the optical flow first (needs scratchdream[flow])",
    )
    p.add_argument(
        "--start", type=seconds, default=0.0, help="start this many seconds into the video (default 0)"
    )
    p.add_argument(
        "--frames",
        type=whole(1, None, "frames to dream"),
        help="dream this many frames (default: to the end)",
    )
    p.add_argument("--fps", type=rate, help="frame rate of the output (default: the input's)")
    p.add_argument(
        "--chunk",
        type=whole(1, 100_000, "frames per chunk"),
        default=24,
        help="frames per chunk of work, a task for one worker (default %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=whole(0, 1000, "warm-up frames"),
        default=4,
        help="frames dreamed and dropped before each chunk, so its seam does not show (default %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=whole(1, 4096, "worker processes"),
        help="dream on a local Dask cluster of this many processes "
        "(needs scratchdream[dask]; default: none, one process)",
    )
    p.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", help="dream on an existing Dask cluster (default: none)"
    )
    p.add_argument(
        "--frames-dir",
        help="where the dreamed frames are kept until the video is written (default OUTPUT_frames/)",
    )
    p.add_argument(
        "--keep-frames",
        action="store_true",
        help="keep the folder of dreamed PNG frames after the video is written",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its frames")


def run(args):
    from .. import distributed as dd
    from ..video_io import check_output, open_video

    options = dream_options(args)
    if args.workers and args.scheduler:
        raise UsageError(
            "give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both"
        )
    out = check_output(args.output or os.path.splitext(args.image)[0] + VIDEO_SUFFIX)
    clip = open_video(args.image, args.start, args.frames)
    net = load_net(args.net, args.weights_dir)  # parameters read lazily, as a dream needs them
    options = defaults.for_net(net, options, given_settings(args))  # the net's settings, then the flags
    fps = args.fps or clip.fps
    with OutputSet([args.image, args.net], force=args.force) as outs:
        outs.add(out)
        frames = FrameFolder(
            args.frames_dir or os.path.splitext(out)[0] + "_frames", _settings(args, clip, options)
        )
        # the cluster first: an unreachable scheduler is found before the frames' folder is made
        with dd.cluster(args.workers, args.scheduler, cores()) as client:
            frames.open(args.resume)
            try:
                _dream(args, net, clip, options, frames, client)
            except BaseException:
                frames.remove_if_empty()
                raise
        _encode(outs.temp(out), clip, fps, frames)
    if not args.keep_frames:
        frames.remove()
    layers = ", ".join(args.layer) if args.layer else "the suggested layer"
    summary(
        f"dreamed {clip.count} frames of {args.image} ({clip.size[0]}x{clip.size[1]}) on {layers} -> {out}"
    )
    return 0


def _settings(args, clip, options):
    """What a resumed run must share with the run it continues (run.json)."""
    return {
        "input": os.path.abspath(args.image),
        "input_bytes": os.path.getsize(args.image),
        "start_frame": clip.start,
        "frames": clip.count,
        "size": list(clip.size),
        "net": args.net,
        "options": json.loads(json.dumps(asdict(options), default=str)),
        "blend": args.blend,
        "flow": args.flow,
        "chunk": args.chunk,
        "warmup": args.warmup,
    }


def _dream(args, net, clip, options, frames, client):
    """Dream the frames not in the folder yet, here (client None) or on Dask, saving each as it is done."""
    from tqdm import tqdm

    from .. import distributed as dd

    done = frames.done(clip.count)
    warmup = args.warmup if args.blend > 0 else 0  # independent frames need no warm-up
    todo = dd.spans(clip.count, args.chunk, warmup, done)
    job = dd.Job(options, args.blend, args.flow)
    bar = tqdm(
        total=clip.count, initial=len(done), unit="frame", desc="video", file=sys.stderr, dynamic_ncols=True
    )

    def on_frame(k, dream):
        frames.save(k, dream)
        bar.update(1)

    try:
        pieces = dd.pieces(clip.frames(), todo, frames.load)
        if client is None:
            dd.run_serial(net, pieces, job, on_frame)
        else:
            dd.run_on_dask(client, dd.read_weights(args.net, args.weights_dir), pieces, job, on_frame)
    except KeyboardInterrupt:
        bar.close()
        note(
            f"{len(frames.done(clip.count))} of {clip.count} frames are kept in {frames.folder}/; "
            "add --resume to continue"
        )
        raise
    bar.close()


def _encode(path, clip, fps, frames):
    """The video at `path` from the saved frames, in order, with the input's audio over the same span."""
    from ..video_io import Encoder

    encoder = Encoder(path, clip.size, fps)
    try:
        for k in range(clip.count):
            encoder.add(frames.load(k))
        start_s = clip.start / clip.fps
        encoder.close(clip.path if clip.has_audio else None, start_s, clip.count / clip.fps)
    except BaseException:
        encoder.abandon()
        raise


class FrameFolder:
    """The dreamed frames of one run, frame_000001.png ..., and run.json, its settings."""

    def __init__(self, folder, settings):
        self.folder, self.settings = folder, settings
        self.run_file = os.path.join(folder, "run.json")

    def open(self, resume):
        """Check the folder against --resume, and make it (with run.json) for a new run."""
        self.made = False
        if os.path.exists(self.run_file):
            if not resume:
                raise UsageError(
                    f"{self.folder}/ holds the frames of an earlier run: add --resume to continue it, "
                    "or delete the folder"
                )
            self._check_same()
            return
        if os.path.lexists(self.folder) and (not os.path.isdir(self.folder) or os.listdir(self.folder)):
            raise UsageError(
                f"--frames-dir {self.folder} exists and is not a folder of frames; choose another"
            )
        if resume:
            note(f"no frames to resume in {self.folder}/; starting from the first frame")
        os.makedirs(self.folder, exist_ok=True)
        self.made = True
        with open(self.run_file, "w") as f:
            json.dump(self.settings, f, indent=1)

    def _check_same(self):
        with open(self.run_file) as f:
            before = json.load(f)
        changed = [key for key in self.settings if before.get(key) != self.settings[key]]
        if changed:
            raise UsageError(
                f"--resume: {self.folder}/ was dreamed with other settings ({', '.join(changed)}); run the "
                "same command again, or delete the folder to start afresh"
            )

    def path(self, k):
        return os.path.join(self.folder, f"frame_{k + 1:06d}.png")

    def done(self, count):
        return {k for k in range(count) if os.path.exists(self.path(k))}

    def save(self, k, dream):
        save_image(self.path(k), dream)  # atomic: a frame is whole or absent

    def load(self, k):
        return load_image(self.path(k), quiet=True)[0]

    def remove_if_empty(self):
        """A folder this run made and put no frame in goes again (a run that failed at its start)."""
        if self.made and not any(n.endswith(".png") for n in os.listdir(self.folder)):
            self.remove()

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)
