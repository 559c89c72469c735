"""OutputSet, the output transaction: the input is never an output, an existing name needs force, and a
run that does not finish leaves every folder exactly as it found it (compared byte for byte)."""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scratchdream.errors import UsageError, UserError
from scratchdream.outputs import OutputSet, _signals_held

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = [f"frame_{k:04d}.png" for k in range(1, 6)]


def listing(folder):
    """Every entry under `folder`, hidden ones included: relative path -> what it is and holds."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                what = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                what = ("folder", stat.S_IMODE(info.st_mode))
            else:
                with open(path, "rb") as f:
                    what = ("file", f.read(), stat.S_IMODE(info.st_mode), info.st_ino)
            found[os.path.relpath(path, folder)] = what
    return found


def fill(outs, final, seed):
    """Write a few random bytes (never empty) to the temporary name of `final`; return them."""
    data = np.random.default_rng(seed).bytes(64)
    with open(outs.temp(final), "wb") as f:
        f.write(data)
    return data


@pytest.fixture
def pic(tmp_path):
    """An input picture (its bytes stand in for a real image: OutputSet never reads it)."""
    path = tmp_path / "pic.png"
    path.write_bytes(np.random.default_rng(0).bytes(100))
    return path


# ---- the input is never an output, even with force -----------------------------------------------
class TestInputIsNeverAnOutput:
    @pytest.mark.parametrize(
        "spelling",
        ["same name", "relative vs absolute", "through a sub-folder", "symlink to it", "hard link to it"],
    )
    def test_every_spelling_of_the_input_is_refused(self, tmp_path, pic, monkeypatch, spelling):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "sub").mkdir()
        name = {
            "same name": str(pic),
            "relative vs absolute": "pic.png",
            "through a sub-folder": "sub/../pic.png",
            "symlink to it": "link.png",
            "hard link to it": "hard.png",
        }[spelling]
        os.symlink("pic.png", "link.png")
        os.link("pic.png", "hard.png")
        before = listing(tmp_path)
        with pytest.raises(UsageError, match=r"^-o/--output .* is the input itself.*never the input"):
            with OutputSet(inputs=[pic], force=True) as outs:
                outs.add(name)
        assert listing(tmp_path) == before

    def test_the_guide_is_an_input_too(self, tmp_path, pic):
        guide = tmp_path / "guide.png"
        guide.write_bytes(b"guide")
        with pytest.raises(UsageError, match="--gif .*guide.png is the input itself"):
            with OutputSet(inputs=[pic, None, guide], force=True) as outs:
                outs.add(tmp_path / "out.png")
                outs.add(guide, "--gif")
        assert sorted(os.listdir(tmp_path)) == ["guide.png", "pic.png"]

    def test_a_frame_named_like_the_input_is_refused(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "frame_0001.png").write_bytes(b"the input")
        with pytest.raises(UsageError, match=r"--frames-dir \./frame_0001\.png is the input itself"):
            with OutputSet(inputs=["frame_0001.png"], force=True) as outs:
                outs.add("zoom.gif")
                outs.add_dir(".", FRAMES)
        assert os.listdir(tmp_path) == ["frame_0001.png"]
        assert (tmp_path / "frame_0001.png").read_bytes() == b"the input"


# ---- existing names, folders, two outputs on one file ---------------------------------------------
class TestExistingNames:
    def test_an_existing_file_needs_force(self, tmp_path):
        (tmp_path / "out.png").write_bytes(b"old")
        with pytest.raises(
            UsageError, match=r"out\.png already exists; pass --force .* another -o/--output$"
        ):
            with OutputSet() as outs:
                outs.add(tmp_path / "out.png")
        assert os.listdir(tmp_path) == ["out.png"] and (tmp_path / "out.png").read_bytes() == b"old"

    def test_a_dangling_symlink_needs_force(self, tmp_path):
        os.symlink("nowhere.png", tmp_path / "dangling.png")
        with pytest.raises(UsageError, match=r"dangling\.png already exists \(a symbolic link to nothing\)"):
            with OutputSet() as outs:
                outs.add(tmp_path / "dangling.png")
        assert listing(tmp_path) == {"dangling.png": ("symlink", "nowhere.png")}

    def test_force_replaces_the_link_itself_never_what_it_points_to(self, tmp_path):
        os.symlink("nowhere.png", tmp_path / "dangling.png")
        os.symlink("other.png", tmp_path / "link.png")
        (tmp_path / "other.png").write_bytes(b"other")
        with OutputSet(force=True) as outs:
            a = fill(outs, outs.add(tmp_path / "dangling.png"), seed=1)
            b = fill(outs, outs.add(tmp_path / "link.png"), seed=2)
        assert (tmp_path / "dangling.png").read_bytes() == a and not (tmp_path / "nowhere.png").exists()
        assert (tmp_path / "link.png").read_bytes() == b and not os.path.islink(tmp_path / "link.png")
        assert (tmp_path / "other.png").read_bytes() == b"other"
        assert sorted(os.listdir(tmp_path)) == ["dangling.png", "link.png", "other.png"]

    def test_a_folder_is_never_replaced_by_a_file(self, tmp_path):
        (tmp_path / "out.png").mkdir()
        with pytest.raises(UsageError, match=r"out\.png is a folder; give a file name"):
            with OutputSet(force=True) as outs:
                outs.add(tmp_path / "out.png")
        assert os.listdir(tmp_path) == ["out.png"] and os.listdir(tmp_path / "out.png") == []

    def test_an_existing_frame_needs_force_and_other_files_stay(self, tmp_path):
        folder = tmp_path / "z_frames"
        folder.mkdir()
        (folder / "notes.txt").write_bytes(b"mine")
        (folder / "frame_0003.png").write_bytes(b"old frame")
        with pytest.raises(UsageError, match=r"frame_0003\.png already exists; .* another --frames-dir$"):
            with OutputSet() as outs:
                outs.add_dir(folder, FRAMES)
        assert sorted(os.listdir(folder)) == ["frame_0003.png", "notes.txt"]

    def test_frames_dir_that_is_a_file_is_refused(self, tmp_path):
        (tmp_path / "z_frames").write_bytes(b"a file")
        with pytest.raises(UsageError, match=r"--frames-dir .*z_frames is a file; give a folder"):
            with OutputSet(force=True) as outs:
                outs.add_dir(tmp_path / "z_frames", FRAMES)


class TestFoldersAndClashes:
    @pytest.mark.parametrize(
        "where, text",
        [
            ("no/such/out.png", r"the folder .*no/such does not exist; create it"),
            ("afile/out.png", r"the folder .*afile is a file, not a folder"),
            ("/proc/out.png", r"the folder /proc is not writable"),  # refuses new files even for root
        ],
    )
    def test_a_folder_that_takes_no_file_is_refused_at_once(self, tmp_path, monkeypatch, where, text):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "afile").write_bytes(b"x")
        for add in (lambda outs: outs.add(where), lambda outs: outs.add_dir(where[:-4] + "_frames", FRAMES)):
            with pytest.raises(UserError, match=text):
                with OutputSet() as outs:
                    add(outs)
            assert sorted(os.listdir(tmp_path)) == ["afile"]

    def test_two_outputs_on_one_file_are_refused(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "sub").mkdir()
        with pytest.raises(
            UsageError, match=r"--gif sub/\.\./a\.gif and -o/--output a\.gif are the same file"
        ):
            with OutputSet() as outs:
                outs.add("a.gif")
                outs.add("sub/../a.gif", "--gif")
        with pytest.raises(UsageError, match=r"--frames-dir a\.gif and -o/--output a\.gif are the same file"):
            with OutputSet() as outs:
                outs.add("a.gif")
                outs.add_dir("a.gif", FRAMES)
        assert os.listdir(tmp_path) == ["sub"]


# ---- the commit ----------------------------------------------------------------------------------
class TestCommit:
    def test_outputs_appear_only_at_the_end_all_together(self, tmp_path):
        old = os.umask(0o022)
        try:
            with OutputSet() as outs:
                png, gif = outs.add(tmp_path / "out.png"), outs.add(tmp_path / "out.gif", "--gif")
                frames = outs.add_dir(tmp_path / "z_frames", FRAMES)
                data = {path: fill(outs, path, seed=k) for k, path in enumerate([png, gif, *frames])}
                assert not [n for n in os.listdir(tmp_path) if not n.startswith(".")]  # nothing final yet
        finally:
            os.umask(old)
        assert sorted(os.listdir(tmp_path)) == ["out.gif", "out.png", "z_frames"]
        assert sorted(os.listdir(tmp_path / "z_frames")) == FRAMES
        for path, content in data.items():
            with open(path, "rb") as f:
                assert f.read() == content
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        assert stat.S_IMODE(os.stat(tmp_path / "z_frames").st_mode) == 0o755

    def test_frames_join_an_existing_folder_and_force_replaces_old_ones(self, tmp_path):
        folder = tmp_path / "z_frames"
        folder.mkdir()
        for name in FRAMES:
            (folder / name).write_bytes(b"old " + name.encode())
        (folder / "notes.txt").write_bytes(b"mine")
        with OutputSet(force=True) as outs:
            frames = outs.add_dir(folder, FRAMES[:3])
            data = [fill(outs, path, seed=k) for k, path in enumerate(frames)]
        assert [(folder / n).read_bytes() for n in FRAMES[:3]] == data
        assert (folder / "frame_0004.png").read_bytes() == b"old frame_0004.png"  # not ours to delete
        assert sorted(os.listdir(folder)) == sorted(FRAMES + ["notes.txt"])

    def test_an_output_never_written_is_a_bug_and_nothing_appears(self, tmp_path):
        with pytest.raises(RuntimeError, match=r"out\.gif was added but never written"):
            with OutputSet() as outs:
                fill(outs, outs.add(tmp_path / "out.png"), seed=1)
                outs.add(tmp_path / "out.gif", "--gif")
        assert os.listdir(tmp_path) == []


class TestExclusiveCreation:
    """Two runs to one name, both past their checks: the first to end wins, the second refuses."""

    @pytest.mark.parametrize("hard_links", [True, False])
    def test_of_two_runs_racing_for_one_file_the_second_refuses(self, tmp_path, monkeypatch, hard_links):
        if not hard_links:  # a file system without hard links (FAT): the O_EXCL way must hold too
            monkeypatch.setattr(os, "link", _raise(errno.EPERM))
        first, second = OutputSet().__enter__(), OutputSet().__enter__()
        mine = fill(first, first.add(tmp_path / "out.png"), seed=1)
        fill(second, second.add(tmp_path / "out.png"), seed=2)
        first.__exit__(None, None, None)
        with pytest.raises(
            UserError, match=r"out\.png was created by someone else during this run; pass --force"
        ):
            second.__exit__(None, None, None)
        assert os.listdir(tmp_path) == ["out.png"]
        assert (tmp_path / "out.png").read_bytes() == mine

    def test_of_two_runs_racing_for_one_new_frames_folder_the_second_refuses(self, tmp_path):
        first, second = OutputSet().__enter__(), OutputSet().__enter__()
        mine = [fill(first, p, seed=k) for k, p in enumerate(first.add_dir(tmp_path / "z_frames", FRAMES))]
        for k, path in enumerate(second.add_dir(tmp_path / "z_frames", FRAMES)):
            fill(second, path, seed=10 + k)
        first.__exit__(None, None, None)
        with pytest.raises(UserError, match=r"z_frames was created by someone else during this run"):
            second.__exit__(None, None, None)
        assert os.listdir(tmp_path) == ["z_frames"]
        assert [(tmp_path / "z_frames" / n).read_bytes() for n in FRAMES] == mine


# ---- interrupted runs, failing writers, failing renames: the folder as found --------------------
def _old_outputs(folder):
    """An earlier run's outputs: out.png, out.gif and five frames, plus a file of the user's."""
    (folder / "out.png").write_bytes(b"old png")
    (folder / "out.gif").write_bytes(b"old gif")
    (folder / "z_frames").mkdir()
    for name in FRAMES:
        (folder / "z_frames" / name).write_bytes(b"old " + name.encode())
    (folder / "z_frames" / "notes.txt").write_bytes(b"mine")


def _run(folder, pic, force, stop=None):
    """A zoom-like run: out.png, out.gif and five frames; `stop(outs, frame)` is called before the 4th."""
    with OutputSet(inputs=[pic], force=force) as outs:
        png, gif = outs.add(folder / "out.png"), outs.add(folder / "out.gif", "--gif")
        frames = outs.add_dir(folder / "z_frames", FRAMES)
        fill(outs, png, seed=1)
        for k, path in enumerate(frames):
            if k == 3 and stop:
                stop(outs, path)
            fill(outs, path, seed=10 + k)
        fill(outs, gif, seed=2)


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.fixture
def ctrl_c_live():
    """Ctrl-C raises KeyboardInterrupt, whatever this process inherited: a test suite started in the
    background (`make test &`, `nohup`) inherits SIGINT ignored, and then Python never raises it, so the
    tests below would see no signal at all (they did, in such a run). Restored afterwards."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class TestInterruptedRunLeavesTheFolderAsFound:
    @pytest.mark.parametrize("force", [False, True])
    @pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit, ValueError])
    def test_stopped_in_the_middle(self, tmp_path, pic, force, stop):
        if force:
            _old_outputs(tmp_path)
        before = listing(tmp_path)

        def interrupt(outs, frame):
            raise stop

        with pytest.raises(stop):
            _run(tmp_path, pic, force, interrupt)
        assert listing(tmp_path) == before

    @pytest.mark.parametrize("force", [False, True])
    def test_a_writer_on_a_full_disk(self, tmp_path, pic, monkeypatch, force):
        """save_image / save_gif write through atomic_path: its one line names the final file."""
        from scratchdream.atomic import atomic_path

        if force:
            _old_outputs(tmp_path)
        before = listing(tmp_path)

        def full_disk(outs, frame):
            with atomic_path(outs.temp(frame)):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        with pytest.raises(UserError) as err:
            _run(tmp_path, pic, force, full_disk)
        frame = tmp_path / "z_frames" / "frame_0004.png"
        assert str(err.value).startswith(f"cannot write {frame}: the disk is full"), err.value
        assert "\n" not in str(err.value) and ".part" not in str(err.value)
        assert listing(tmp_path) == before

    @pytest.mark.parametrize(
        "force, call, nth, code",
        [
            (False, "link", 2, errno.EIO),  # the GIF's exclusive link, after the PNG's
            (False, "rename", 1, errno.ENOSPC),  # the new frames folder, after the PNG and the GIF
            (True, "rename", 2, errno.EIO),  # setting aside the old GIF
            (True, "link", 2, errno.ENOSPC),  # placing the new GIF, the old one already aside
            (True, "link", 4, errno.EIO),  # the second frame, replacing an old one
        ],
    )
    def test_a_rename_fails_midway_and_is_undone(self, tmp_path, pic, monkeypatch, force, call, nth, code):
        if force:
            _old_outputs(tmp_path)
        before = listing(tmp_path)
        real, calls = getattr(os, call), []

        def nth_fails(*args, **kwargs):
            calls.append(args)
            if len(calls) == nth:
                raise OSError(code, os.strerror(code))
            return real(*args, **kwargs)

        monkeypatch.setattr(os, call, nth_fails)
        with pytest.raises(UserError if code == errno.ENOSPC else OSError):
            _run(tmp_path, pic, force)
        assert len(calls) >= nth
        assert listing(tmp_path) == before

    def test_a_signal_during_the_commit_undoes_it(self, tmp_path, pic, monkeypatch, ctrl_c_live):
        _old_outputs(tmp_path)
        before = listing(tmp_path)
        real = os.link

        def link_and_interrupt(*args, **kwargs):
            signal.raise_signal(signal.SIGINT)  # Ctrl-C between two renames: held, then undone
            return real(*args, **kwargs)

        monkeypatch.setattr(os, "link", link_and_interrupt)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path, pic, force=True)
        assert listing(tmp_path) == before
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def test_signals_are_held_then_delivered_once(self, ctrl_c_live):
        with pytest.raises(KeyboardInterrupt):
            with _signals_held() as held:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)  # Ctrl-C twice: the block still runs to its end
                reached_the_end = True
        assert reached_the_end and held == [signal.SIGINT, signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---- a real process: SIGTERM mid-run, a file-size limit --------------------------------------------
CHILD = """
import os, resource, signal, sys, time
import numpy as np
from scratchdream.errors import UserError
from scratchdream.image_io import save_gif, save_image
from scratchdream.outputs import OutputSet

folder, mode = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(3)
if mode == "limit":  # a disk that takes 64 KB per file: the PNG fits, the GIF does not
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    with OutputSet(inputs=[os.path.join(folder, "pic.png")], force=True) as outs:
        png = outs.add(os.path.join(folder, "out.png"))
        gif = outs.add(os.path.join(folder, "out.gif"), "--gif")
        frames = outs.add_dir(os.path.join(folder, "z_frames"), [f"frame_{k:04d}.png" for k in range(1, 6)])
        save_image(outs.temp(png), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        for path in frames[:3]:
            save_image(outs.temp(path), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        if mode == "sigterm":
            print("under way", flush=True)
            time.sleep(60)
        save_gif(outs.temp(gif), [rng.integers(0, 256, (200, 200, 3), dtype=np.uint8) for _ in range(8)])
except UserError as e:
    print(e, file=sys.stderr)
    sys.exit(1)
"""


def _child(folder, mode):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(folder), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )


class TestARealProcess:
    def test_sigterm_mid_run_leaves_the_folder_as_found(self, tmp_path, pic):
        _old_outputs(tmp_path)
        before = listing(tmp_path)
        child = _child(tmp_path, "sigterm")
        assert child.stdout.readline() == "under way\n", child.stderr.read()
        assert any(n.startswith(".") for n in os.listdir(tmp_path))  # its temporaries exist now
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 128 + signal.SIGTERM, child.stderr.read()
        assert listing(tmp_path) == before

    def test_a_file_size_limit_leaves_no_png_behind(self, tmp_path, pic):
        before = listing(tmp_path)
        child = _child(tmp_path, "limit")
        out, err = child.communicate(timeout=120)
        assert child.returncode == 1, err
        assert err.count("\n") == 1 and ".part" not in err, err
        assert err.startswith(
            f"cannot write {tmp_path / 'out.gif'}: the disk is full or the file is too large"
        )
        assert listing(tmp_path) == before
