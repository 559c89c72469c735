"""Where a command writes, checked before any work: the default names beside the input, the extension,
never the input itself, never an existing name without --force, a folder that takes new files.

These are today's checks, moved here unchanged from dream/run.py and nets/convert.py, so that the output
transaction that replaces them (all outputs written to temporary names and renamed together) is wired
in in this one module.
"""

import os

from ..errors import UsageError, UserError
from ..image_io import output_format

DREAM_SUFFIX = "_dream.png"  # dream's output beside the input: INPUT_dream.png (and INPUT_dream.gif)
LECTURE_SUFFIX = "_lecture.png"  # lecture's: INPUT_lecture.png and INPUT_lecture.gif
ZOOM_SUFFIX = "_zoom.gif"  # zoom's animation: INPUT_zoom.gif, its frames in INPUT_zoom_frames/
FRAMES_SUFFIX = "_frames"


def frames_folder(gif, given=None):
    """zoom's folder of numbered frames: --frames-dir, else beside the GIF, OUTPUT_frames/."""
    return given or os.path.splitext(gif)[0] + FRAMES_SUFFIX


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


def check_frames_dir(path, force):
    """zoom's frames folder: a folder (or nothing yet), empty unless --force."""
    if os.path.isfile(path):
        raise UsageError(f"--frames-dir {path} is a file; give a folder")
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise UsageError(
            f"the frames folder {path} is not empty; pass --force to overwrite its frames "
            "or choose --frames-dir"
        )


def check_weights_output(out, source, force):
    """convert's output: not the checkpoint it reads, not an existing file without --force."""
    if os.path.abspath(out) == os.path.abspath(source):
        raise UsageError(f"-o {out} is the input file; choose another output")
    if os.path.exists(out) and not force:
        raise UsageError(f"{out} already exists; pass --force to overwrite it or choose another -o")
