"""The README's video dream, made by scratchdream itself from a generated clip: `make video-gif`.

A camera pans across a toy-world sky (toyworld/scenes.py, no outside file); the clip is written as an MP4,
dreamed by `scratchdream video` on the toy-world net with blending and optical flow, and the input and the
dream are put side by side in a small looping GIF (docs/img/video_dream.gif, well under 500 KB).

    python docs/make_video_gif.py [--out docs/img/video_dream.gif] [--frames 24] [--workers N]
"""

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

from scratchdream import cli  # noqa: E402
from scratchdream.image_io import load_image, save_gif  # noqa: E402
from scratchdream.toyworld import scenes  # noqa: E402
from scratchdream.video_io import Encoder, open_video  # noqa: E402

H, W, PAN = 72, 96, 3  # frame size, pixels the camera moves each frame
DREAM = ["--net", "toyworld", "--octaves", "3", "--steps", "8", "--step-size", "3", "--jitter", "8"]


def pan_clip(path, frames, seed=0):
    """An MP4 of `frames` frames: a W x H window sliding right across a wide generated sky."""
    sky = scenes.plain_background("sky", size=H, seed=seed, width=W + PAN * frames)
    video = Encoder(path, (W, H), fps=12)
    for k in range(frames):
        video.add(sky[:, PAN * k : PAN * k + W])
    video.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, "img", "video_dream.gif"))
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--workers", type=int)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clip, dream = os.path.join(tmp, "pan.mp4"), os.path.join(tmp, "pan_dream.mp4")
        pan_clip(clip, args.frames)
        more = ["--workers", str(args.workers)] if args.workers else []
        argv = ["video", clip, "-o", dream, "--blend", "0.6", "--flow", "--keep-frames", *DREAM, *more]
        if cli.main(argv) != 0:
            return 1
        folder = os.path.join(tmp, "pan_dream_frames")
        dreams = [load_image(os.path.join(folder, f"frame_{k + 1:06d}.png"))[0] for k in range(args.frames)]
        pairs = [np.concatenate([a, b], axis=1) for a, b in zip(open_video(clip).frames(), dreams)]
        save_gif(args.out, pairs, duration_ms=100)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
