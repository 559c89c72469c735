"""The names a command writes: the defaults beside the input, and the extension each output must have.

Everything else about an output is the output transaction's (scratchdream/outputs.py, OutputSet), which
each command opens before any work: never an input, however spelt (a link, `x/../`); an existing name
only with --force; a folder that takes new files; and all of a run's outputs appear together at its end,
or none of them. A default name that is taken is numbered here instead (main_output: sky_dream-2.png).
"""

import os

from ..errors import UsageError
from ..image_io import note, output_format

DREAM_SUFFIX = "_dream.png"  # dream's output beside the input: INPUT_dream.png (and INPUT_dream.gif)
LECTURE_SUFFIX = "_lecture.png"  # lecture's: INPUT_lecture.png and INPUT_lecture.gif
FIELD_SUFFIX = "_field.png"  # lecture --show-field: INPUT_field.png, the heat map of dh_ij/di_mn
ZOOM_SUFFIX = "_zoom.gif"  # zoom's animation: INPUT_zoom.gif, its frames in INPUT_zoom_frames/
FRAMES_SUFFIX = "_frames"
SURVEY_SUFFIX = "_survey.png"  # survey's contact sheet: INPUT_survey.png
EXPLAIN_SUFFIX = "_explain.png"  # dream --explain's panel, beside the dream: OUTPUT_explain.png


def frames_folder(gif, given=None):
    """zoom's folder of numbered frames: --frames-dir, else beside the GIF, OUTPUT_frames/."""
    return given or os.path.splitext(gif)[0] + FRAMES_SUFFIX


def frame_names(frames):
    """The file names of zoom's numbered frames: frame_0001.png, frame_0002.png, ..."""
    return [f"frame_{k:04d}.png" for k in range(1, frames + 1)]


def output_path(source, given, suffix, what="-o/--output", ext=None):
    """The output's name: `given`, or `source` without its extension + `suffix`; its extension must be
    `ext` (or, when ext is None, one save_image knows)."""
    path = given if given else os.path.splitext(source)[0] + suffix
    if ext is None:
        output_format(path)
    elif os.path.splitext(path)[1].lower() != ext:
        raise UsageError(f"cannot write {path}: {what} must end in {ext}")
    return path


def main_output(source, given, suffix, force, companions=lambda name: (), ext=None):
    """A command's main output: output_path, and when no -o was given and that name is taken (by an earlier
    run, or by the dream of sky.tif when this is sky.webp), the next free one, sky_dream-2.png, -3, ...; a
    name counts as taken when it or one of its `companions` (the GIF beside it, its frames folder) exists.
    --force replaces the default name instead."""
    path = output_path(source, given, suffix, ext=ext)
    if given or force:
        return path
    stem, extension = os.path.splitext(path)
    for k in range(1, MAX_NUMBERED + 1):
        name = path if k == 1 else f"{stem}-{k}{extension}"
        if not any(os.path.lexists(n) for n in (name, *companions(name))):
            if k > 1:
                note(f"{path} already exists; writing {name} (--force replaces it, -o chooses the name)")
            return name
    raise UsageError(f"{path} and {MAX_NUMBERED - 1} numbered names after it exist; choose a name with -o")


MAX_NUMBERED = 1000  # sky_dream-2.png ... sky_dream-1000.png: past that, a folder needs tidying, not a name
