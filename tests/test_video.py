"""Video dreams (scratchdream/video.py, video_io.py, distributed.py's chunks, cli/video.py), serially.

Every clip is made by the test (video_clips.py): a 64x48 square crossing the picture, 24 frames, dreamed
by the toy-world net at 1 octave and 2 steps, so a whole clip dreams in seconds. The Dask runs are in
test_video_dask.py.
"""

import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from video_clips import square_frames, square_x, video_meta, write_clip

import scratchdream as sd
from scratchdream import cli
from scratchdream import distributed as dd
from scratchdream.cli import video as cli_video
from scratchdream.deepdream import loop
from scratchdream.deepdream.options import DreamOptions
from scratchdream.video import dream_frames, flow, warp
from scratchdream.video_io import open_video

FAST = ["--net", "toyworld", "--octaves", "1", "--steps", "2", "--jitter", "4"]
OPTIONS = DreamOptions(octaves=1, steps=2, jitter=4, seed=3)


@pytest.fixture(scope="module")
def net():
    return sd.load_net("toyworld")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", square_frames(), audio=True)


def _frames(path, start=0.0, n=None):
    return list(open_video(path, start, n).frames())


# ---- reading -----------------------------------------------------------------------------------------
def test_clip_is_streamed_whole_and_in_order(clip):
    c = open_video(clip)
    assert (c.count, c.size, c.fps, c.has_audio) == (24, (64, 48), 12.0, True)
    frames = _frames(clip)
    assert len(frames) == 24 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert [square_x(f) for f in frames] == [6 + 2 * k for k in range(24)]  # the square moves 2 px a frame


def test_start_and_frames_cut_the_clip(clip):
    frames = _frames(clip, start=0.5, n=5)  # 0.5 s at 12 frames/s: frame 6
    assert [square_x(f) for f in frames] == [6 + 2 * k for k in range(6, 11)]


def test_animated_gif_is_read_frame_by_frame(tmp_path):
    originals = square_frames(n=5, step=(0, 6))
    ims = [Image.fromarray(f) for f in originals]
    ims[0].save(tmp_path / "a.gif", save_all=True, append_images=ims[1:], duration=50, loop=0)
    c = open_video(tmp_path / "a.gif")
    assert (c.count, c.size, c.fps) == (5, (64, 48), 20.0)
    for got, want in zip(c.frames(), originals):  # two colours: the GIF palette keeps them exactly
        np.testing.assert_array_equal(got, want)


# ---- the dream of a sequence -------------------------------------------------------------------------
def test_blend_zero_equals_per_frame_dreams(net):
    frames = square_frames(n=4)
    got = list(dream_frames(net, frames, OPTIONS, blend=0.0))
    for k, frame in enumerate(frames):
        alone = loop.run(net, frame, replace(OPTIONS, seed=3 + k), progress=False)  # the same settings alone
        assert got[k][0] == k
        np.testing.assert_array_equal(got[k][1], alone)


def test_blend_starts_each_frame_from_the_last_dream(net):
    frames = square_frames(n=2)
    (_, d0), (_, d1) = dream_frames(net, frames, OPTIONS, blend=0.25)
    start = np.rint(0.25 * d0.astype(np.float64) + 0.75 * frames[1]).astype(np.uint8)  # within 1 grey level
    assert not np.array_equal(start, frames[1])
    want = loop.run(net, start, replace(OPTIONS, seed=4), progress=False)
    assert np.abs(d1.astype(int) - want.astype(int)).max() <= 2  # float32 vs float64 mix: one level at most
    assert np.mean(d1 != loop.run(net, frames[1], replace(OPTIONS, seed=4), progress=False)) > 0.1


def _textured_square(y, x, seed=0):
    """A 64x80 frame: a smooth random texture, 20 px square, at (y, x) on flat blue (texture gives the
    flow something to follow inside the square; a flat square only shows its motion at the edges)."""
    noise = np.random.default_rng(seed).integers(0, 256, (20, 20, 3)).astype(np.float64)
    smooth = sum(np.roll(noise, (dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9  # 3x3 mean
    frame = np.empty((64, 80, 3), np.uint8)
    frame[:] = (40, 90, 160)
    frame[y : y + 20, x : x + 20] = np.rint(smooth).astype(np.uint8)
    return frame


def test_flow_moves_a_translated_square_by_the_flow():
    a, b = _textured_square(20, 20), _textured_square(23, 26)  # the square moves down 3, right 6
    f = flow(a, b)
    inside = f[26:40, 29:43]  # well inside the square in frame b: it came from 3 up, 6 left
    np.testing.assert_allclose(inside[..., 0], -6, atol=0.25)
    np.testing.assert_allclose(inside[..., 1], -3, atol=0.25)
    moved = warp(a, f)  # frame a (say, the previous dream) moved along the flow lands on frame b
    assert np.abs(moved[26:40, 29:43].astype(int) - b[26:40, 29:43]).mean() < 3
    assert np.abs(a[26:40, 29:43].astype(int) - b[26:40, 29:43]).mean() > 20  # without the flow, it does not


# ---- chunks ------------------------------------------------------------------------------------------
def test_spans_cut_chunks_with_a_warmup_and_resume_at_the_first_missing_frame():
    assert dd.spans(14, 6, 4) == [dd.Span(0, 0, 6), dd.Span(2, 6, 12), dd.Span(8, 12, 14)]
    done = set(range(0, 6)) | {6, 7}
    assert dd.spans(14, 6, 4, done) == [dd.Span(7, 8, 12, resumed=True), dd.Span(8, 12, 14)]


def test_pieces_hold_the_right_frames():
    frames = [np.full((2, 2, 3), k, np.uint8) for k in range(14)]
    todo = dd.spans(14, 6, 4, {0, 1, 2, 3, 4, 5, 6})
    got = list(dd.pieces(iter(frames), todo, load_dream=lambda k: f"dream {k}"))
    assert [[int(f[0, 0, 0]) for f in p.inputs] for p in got] == [[7, 8, 9, 10, 11], [8, 9, 10, 11, 12, 13]]
    assert got[0].prev[0] == "dream 6" and int(got[0].prev[1][0, 0, 0]) == 6 and got[1].prev is None
    late = dd.spans(18, 6, 4, set(range(11)))  # resumed at frame 11; the next warm-up reaches back to 8
    assert late == [dd.Span(10, 11, 12, resumed=True), dd.Span(8, 12, 18)]
    got = list(dd.pieces(iter(frames + frames[:4]), late, load_dream=lambda k: k))
    assert [[int(f[0, 0, 0]) for f in p.inputs] for p in got] == [[11], [8, 9, 10, 11, 12, 13, 0, 1, 2, 3]]


def test_chunked_run_keeps_each_frame_once_in_order(net):
    frames = square_frames(n=10)
    seen = []
    todo = dd.pieces(iter(frames), dd.spans(10, 4, 2), None)
    dd.run_serial(net, todo, dd.Job(OPTIONS, 0.5, False), lambda k, d: seen.append((k, d)))
    assert [k for k, _ in seen] == list(range(10))
    whole = list(dream_frames(net, frames[:4], OPTIONS, blend=0.5))  # the first chunk has no warm-up
    for (_, d), (_, e) in zip(whole, seen[:4]):
        np.testing.assert_array_equal(d, e)


# ---- the command -------------------------------------------------------------------------------------
def _listing(folder):
    return sorted(os.listdir(folder))


def _pngs(folder):
    return [
        np.asarray(Image.open(os.path.join(folder, n)))
        for n in sorted(os.listdir(folder))
        if n.endswith(".png")
    ]


def test_video_command_end_to_end_with_audio(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(["video", str(clip), "-o", str(out), "--chunk", "6", "--flow", *FAST]) == 0
    n, meta = video_meta(out)
    assert n == 24 and tuple(meta["size"]) == (64, 48) and meta.get("audio_codec")
    assert _listing(tmp_path) == ["out.mp4"]  # the frames' folder is gone
    assert "dreamed 24 frames of" in capsys.readouterr().out


def test_video_frames_get_the_nets_dream_defaults_as_a_picture_does(clip, tmp_path, net):
    """A frame with no frame before it is the dream sd.dream makes of it: the flags over the net's own
    dream defaults (toyworld's layer and normalisation), the seed of frame 0."""
    out = tmp_path / "two.mp4"
    assert cli.main(["video", str(clip), "-o", str(out), "--frames", "2", "--keep-frames", *FAST]) == 0
    first = next(open_video(clip, 0.0, 1).frames())
    want = sd.dream(net, first, octaves=1, steps=2, jitter=4, seed=0, progress=False)
    np.testing.assert_array_equal(_pngs(tmp_path / "two_frames")[0], want)


def test_interrupted_run_keeps_its_frames_and_resume_finishes_the_same(clip, tmp_path, monkeypatch, capsys):
    args = ["video", str(clip), "--chunk", "6", "--frames", "14", *FAST]
    assert cli.main([*args, "-o", str(tmp_path / "ref.mp4"), "--keep-frames"]) == 0
    reference = _pngs(tmp_path / "ref_frames")
    save, calls = cli_video.FrameFolder.save, []

    def save_then_stop(self, k, dream):
        calls.append(k)
        if len(calls) == 9:  # Ctrl-C in the middle of the second chunk
            raise KeyboardInterrupt
        save(self, k, dream)

    monkeypatch.setattr(cli_video.FrameFolder, "save", save_then_stop)
    out = tmp_path / "cut.mp4"
    assert cli.main([*args, "-o", str(out)]) == 130
    assert not out.exists() and len(_pngs(tmp_path / "cut_frames")) == 8
    assert "8 of 14 frames are kept" in capsys.readouterr().err
    monkeypatch.setattr(cli_video.FrameFolder, "save", save)
    assert cli.main([*args, "-o", str(out), "--blend", "0.3", "--resume"]) == 2  # other settings: refused
    assert "was dreamed with other settings (blend)" in capsys.readouterr().err
    assert cli.main([*args, "-o", str(out)]) == 2  # without --resume: refused, nothing lost
    assert "add --resume" in capsys.readouterr().err
    assert cli.main([*args, "-o", str(out), "--resume", "--keep-frames"]) == 0
    for got, want in zip(_pngs(tmp_path / "cut_frames"), reference, strict=True):
        np.testing.assert_array_equal(got, want)
    assert video_meta(out)[0] == 14


def _not_a_video(d):
    (d / "text.mp4").write_text("hello, not a video\n")
    return ["text.mp4"], "is not a video ffmpeg can read"


def _no_frames(d):
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1"]
    subprocess.run([*cmd, str(d / "tone.m4a")], check=True)
    return ["tone.m4a"], "has no video frames"


def _unknown_codec(d):
    import subprocess

    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=10",
    ]
    subprocess.run([*cmd, "-frames:v", "3", "-c:v", "ffv1", str(d / "f.avi")], check=True)
    data = (d / "f.avi").read_bytes()
    (d / "f.avi").unlink()
    (d / "odd.avi").write_bytes(data.replace(b"FFV1", b"ZZZ9"))  # a codec tag no decoder knows
    return ["odd.avi"], "ffmpeg has no decoder for its video codec"


def _usage(argv, words):
    def make(d):
        write_clip(d / "c.mp4", square_frames(n=3))
        return ["c.mp4", *argv], words

    return make


BAD = {
    "not a video": (_not_a_video, 1),
    "zero frames": (_no_frames, 1),
    "unreadable codec": (_unknown_codec, 1),
    "--workers 0": (_usage(["--workers", "0"], "--workers: must be a whole number from 1"), 2),
    "--blend 2": (_usage(["--blend", "2"], "--blend: must be a number from 0 to 1"), 2),
    "--fps 0": (_usage(["--fps", "0"], "--fps: must be frames a second"), 2),
    "workers and scheduler": (_usage(["--workers", "2", "--scheduler", "tcp://x:1"], "not both"), 2),
    "bad extension": (_usage(["-o", "out.txt"], "must end in .mp4"), 2),
    "start past the end": (_usage(["--start", "9"], "--start is past the end"), 2),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    make, code = BAD[case]
    argv, words = make(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = {p: (tmp_path / p).read_bytes() for p in _listing(tmp_path)}
    assert cli.main(["video", *argv, *FAST]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scratchdream") and words in err, err
    assert {p: (tmp_path / p).read_bytes() for p in _listing(tmp_path)} == before


def test_zoom_writes_a_video_with_o_mp4(tmp_path):
    Image.fromarray(square_frames(n=1)[0]).save(tmp_path / "sq.png")
    out = tmp_path / "zoom.mp4"
    argv = ["zoom", str(tmp_path / "sq.png"), "-o", str(out), "--frames", "3", *FAST]
    assert cli.main(argv) == 0
    n, meta = video_meta(out)
    assert n == 3 and tuple(meta["size"]) == (64, 48)
    assert sorted(os.listdir(tmp_path / "zoom_frames")) == [
        "frame_0001.png",
        "frame_0002.png",
        "frame_0003.png",
    ]
    assert sorted(os.listdir(tmp_path)) == ["sq.png", "zoom.mp4", "zoom_frames"]  # no temporary left


def test_readme_video_gif_is_small():
    gif = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "img", "video_dream.gif"
    )
    assert os.path.getsize(gif) < 500 * 1024, "docs/img/video_dream.gif is over 500 KB: make video-gif"
    with Image.open(gif) as im:
        assert im.n_frames >= 12
