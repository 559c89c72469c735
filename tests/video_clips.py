"""Synthetic videos for the video tests, made here (no outside files): a yellow square crossing a blue
picture, `step` pixels a frame, encoded by the ffmpeg inside imageio-ffmpeg; optionally with a sine tone."""

import subprocess

import numpy as np

BLUE, YELLOW = (40, 90, 160), (230, 200, 40)


def square_frames(n=24, W=64, H=48, step=(0, 2), side=16, at=(10, 6)):
    """n uint8 (H, W, 3) frames; frame k has the square's top-left corner at (at + k * step) (y, x)."""
    frames = []
    for k in range(n):
        f = np.empty((H, W, 3), np.uint8)
        f[:] = BLUE
        y, x = at[0] + k * step[0], at[1] + k * step[1]
        f[y : y + side, x : x + side] = YELLOW
        frames.append(f)
    return frames


def square_x(frame):
    """The left edge of the yellow square in a (decoded, slightly lossy) frame."""
    yellow = (frame[..., 0] > 150) & (frame[..., 2] < 110)
    return int(np.argmax(yellow.any(axis=0)))


def write_clip(path, frames, fps=12, audio=False):
    """An H.264 MP4 of `frames` at `fps`; audio: with a 440 Hz AAC tone as long as the clip."""
    import imageio_ffmpeg

    H, W = frames[0].shape[:2]
    tone = None
    if audio:
        tone = str(path) + ".m4a"
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi"]
        cmd += ["-i", f"sine=frequency=440:duration={len(frames) / fps}", tone]
        subprocess.run(cmd, check=True)
    pipe = imageio_ffmpeg.write_frames(
        str(path), (W, H), fps=fps, macro_block_size=2, ffmpeg_log_level="error", audio_path=tone,
        audio_codec="copy" if tone else None,
    )  # fmt: skip
    pipe.send(None)
    for f in frames:
        pipe.send(np.ascontiguousarray(f).tobytes())
    pipe.close()
    return path


def video_meta(path):
    """(frames, the first frame's metadata) of a video file, read back by ffmpeg."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    n = sum(1 for _ in reader)
    return n, meta
