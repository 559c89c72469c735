"""Videos in and out, one frame at a time: decoding and encoding are ffmpeg's, through imageio-ffmpeg.

    open_video(path, start, frames) -> Clip: fps, size (W, H), count, has_audio; clip.frames() yields
                                       (H, W, 3) uint8 RGB frames one by one, never the whole clip
    Encoder(path, size, fps): .add(frame) streams each frame to ffmpeg; .close(audio_from=...) finishes
                              the file and copies the source's audio track into it when there is one

An animated GIF is read by Pillow frame by frame (its fps from the frames' mean duration); everything
else by ffmpeg, whose binary ships inside the imageio-ffmpeg package (`pip install scratchdream[video]`).
A file ffmpeg cannot open, one with no frames, or one whose codec it cannot decode is one UserError line,
found before any dreaming: the first frame is decoded when the clip is opened.
"""

import os
import subprocess
from dataclasses import dataclass

import numpy as np

from .errors import UsageError, UserError

VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm")  # outputs ffmpeg writes; .gif goes through Pillow


def ffmpeg():
    """The imageio_ffmpeg module, or one line naming the extra that installs it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UserError(
            "video needs imageio-ffmpeg: pip install 'scratchdream[video]' (it ships the ffmpeg binary)"
        ) from None
    return imageio_ffmpeg


@dataclass
class Clip:
    """The frames [start, start + count) of a video file (start in frames, at `fps`)."""

    path: str
    fps: float
    size: tuple  # (W, H)
    count: int
    start: int
    has_audio: bool

    def frames(self):
        """The clip's frames in order, (H, W, 3) uint8, decoded one at a time."""
        source = _gif_frames(self.path) if _is_gif(self.path) else _ffmpeg_frames(self.path, self.size)
        given = 0
        try:
            for k, frame in enumerate(source):
                if given == self.count:
                    break
                if k >= self.start:
                    given += 1
                    yield frame
        finally:
            source.close()
        if given < self.count:
            raise UserError(f"{self.path}: the video ended {self.count - given} frames early (damaged?)")


def open_video(path, start_s=0.0, frames=None):
    """The Clip of `path` from `start_s` seconds in, `frames` long (None: to the end), its first frame
    decoded."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not a video; give a video file")
    if not os.path.isfile(path):
        raise UserError(f"{path} not found; check the path")
    fps, size, total, audio = _gif_header(path) if _is_gif(path) else _ffmpeg_header(path)
    if total == 0:
        raise UserError(f"{path} has no video frames; give a video with at least one frame")
    start = round(start_s * fps)
    if start >= total:
        raise UsageError(f"--start is past the end of {path}: it has {total} frames ({total / fps:.2f} s)")
    count = total - start if frames is None else min(frames, total - start)
    clip = Clip(path, fps, size, count, start, audio)
    _first_frame(clip)
    return clip


def _first_frame(clip):
    """Decode one frame now, so that a codec ffmpeg cannot decode is refused before any work."""
    probe = Clip(clip.path, clip.fps, clip.size, 1, 0, False)
    for _ in probe.frames():
        return


# ---- ffmpeg ---------------------------------------------------------------------------------------
def _ffmpeg_header(path):
    """(fps, (W, H), frames, has_audio) of a file ffmpeg can open, else one UserError line."""
    iio = ffmpeg()
    reader = iio.read_frames(path)
    try:
        meta = next(reader)
        total, _ = iio.count_frames_and_secs(path)
    except (OSError, RuntimeError, StopIteration, ValueError) as e:
        raise _refusal(path, str(e)) from None
    finally:
        reader.close()
    fps = float(meta.get("fps") or 0) or 25.0  # a stream without a rate: ffmpeg's own default
    return fps, tuple(meta["size"]), total, bool(meta.get("audio_codec"))


def _refusal(path, log):
    """The UserError for a file ffmpeg refused, from what ffmpeg said."""
    if "no decoder found" in log or "unknown codec" in log:
        codec = log.split("Video: ", 1)[-1].split(",", 1)[0].strip() if "Video: " in log else "?"
        return UserError(
            f"{path}: ffmpeg has no decoder for its video codec ({codec[:40]}); re-encode it, e.g. "
            "ffmpeg -i IN -c:v libx264 OUT.mp4"
        )
    if "Input #0" in log and ("not contain any stream" in log or "matches no streams" in log):
        return UserError(
            f"{path} has no video frames (no video stream); give a video with at least one frame"
        )
    return UserError(
        f"{path} is not a video ffmpeg can read ({_first_line(log)}); give an MP4, MKV, WebM, ..."
    )


def _ffmpeg_frames(path, size):
    """A generator of the file's frames as (H, W, 3) uint8; a frame ffmpeg cannot decode: UserError."""
    W, H = size
    reader = ffmpeg().read_frames(path)
    try:
        next(reader)  # the header
        k = 0
        while True:
            try:
                data = next(reader)
            except StopIteration:
                return
            except RuntimeError as e:
                raise UserError(
                    f"{path}: frame {k + 1} cannot be decoded ({_first_line(e)}); is the codec one ffmpeg "
                    "decodes? re-encode the video, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
                ) from None
            yield np.frombuffer(data, np.uint8).reshape(H, W, 3)
            k += 1
    finally:
        reader.close()


def _first_line(e):
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Could not", "==="))]
    return ((useful or lines or [type(e).__name__])[-1])[:120]


# ---- animated GIF (Pillow) -----------------------------------------------------------------------
def _is_gif(path):
    with open(path, "rb") as f:
        return f.read(6) in (b"GIF87a", b"GIF89a")


def _gif_header(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            total = getattr(im, "n_frames", 1)
            durations = []
            for k in range(total):
                im.seek(k)
                durations.append(im.info.get("duration") or 100)
            size = im.size
    except Exception as e:
        raise UserError(f"{path} cannot be decoded as a GIF ({_first_line(e)}); re-save it") from None
    return 1000.0 / (sum(durations) / len(durations)), size, total, False


def _gif_frames(path):
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        for frame in ImageSequence.Iterator(im):
            yield np.asarray(frame.convert("RGB"), dtype=np.uint8).copy()


# ---- writing --------------------------------------------------------------------------------------
def check_output(path, what="-o/--output"):
    """UsageError unless `path` ends in an extension we write a video to."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_EXTS + (".gif",):
        raise UsageError(f"cannot write {path}: {what} must end in {', '.join(VIDEO_EXTS)} or .gif")
    return path


class Encoder:
    """A video file written frame by frame by ffmpeg (H.264 in MP4), or a GIF by Pillow (kept small)."""

    def __init__(self, path, size, fps):
        self.path, self.size, self.fps = os.fspath(path), tuple(size), float(fps)
        self.gif = [] if self.path.lower().endswith(".gif") else None
        if self.gif is None:
            self.video_only = self.path + ".noaudio" + os.path.splitext(self.path)[1]
            self._pipe = ffmpeg().write_frames(
                self.video_only,
                self.size,
                fps=self.fps,
                quality=8,
                macro_block_size=2,
                ffmpeg_log_level="error",
            )
            self._pipe.send(None)  # start ffmpeg

    def add(self, frame):
        if self.gif is not None:
            from .image_io import shrink

            self.gif.append(shrink(frame))
        else:
            self._pipe.send(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())

    def close(self, audio_from=None, start_s=0.0, seconds=None):
        """Finish the file; audio_from: a video whose audio (from start_s, `seconds` long) is copied in."""
        if self.gif is not None:
            from .image_io import save_gif

            return save_gif(self.path, self.gif, duration_ms=round(1000 / self.fps))
        self._pipe.close()
        try:
            _mux(self.video_only, audio_from, start_s, seconds, self.path)
        finally:
            if os.path.exists(self.video_only):
                os.remove(self.video_only)

    def abandon(self):
        """Stop ffmpeg and delete what was written (an interrupted or failed run)."""
        if self.gif is None:
            self._pipe.close()
            for p in (self.video_only, self.path):
                if os.path.exists(p):
                    os.remove(p)


def _mux(video_only, audio_from, start_s, seconds, out):
    """out = the video stream of `video_only` (copied) + the audio of `audio_from`, if any (re-encoded
    AAC, cut to the same start and length); without audio the file is just renamed."""
    if audio_from is None:
        os.replace(video_only, out)
        return
    cmd = [ffmpeg().get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", video_only, "-ss", f"{start_s:.6f}"]
    cmd += (["-t", f"{seconds:.6f}"] if seconds else []) + ["-i", audio_from]
    cmd += ["-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", "-shortest", out]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"ffmpeg could not copy the audio of {audio_from} ({_first_line(done.stderr)})")
