"""dream's --checkpoint FILE and --resume FILE: the checks before any work, the Checkpoint, the clean-up.

The state itself, and how a checkpoint is written and read, is deepdream/checkpoint.py's; here the
command line meets it. A checkpoint belongs to one run: the sha256 of the run's settings, weights and
input (from its manifest, scratchdream/manifest.py) is its key, so that --resume refuses another run's.
"""

import contextlib
import os

from ..deepdream.checkpoint import Checkpoint, run_key
from ..errors import UsageError


def check_checkpoint(args, others):
    """One line, before any work, for a --checkpoint or --resume that cannot be: with --gif, on a file of
    the run (`others`: its inputs and outputs), over an existing file without --force, a missing --resume."""
    path = args.checkpoint or args.resume
    if path is None:
        return
    if args.gif is not None:
        raise UsageError(
            "--gif cannot be combined with --checkpoint or --resume (a resumed run has no frames of the "
            "octaves before it); leave out --gif"
        )
    for other in others:
        if other is not None and _same_file(path, other):
            raise UsageError(f"--checkpoint {path} is {other}, a file of this run; choose another name")
    if args.resume and not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume} not found; check the path, or start without --resume")
    fresh = args.resume is None or not _same_file(path, args.resume)
    if fresh and os.path.lexists(path) and not args.force:
        raise UsageError(f"--checkpoint {path} already exists; pass --force to overwrite it, or --resume it")


def checkpoint_of(args, stamp):
    """The Checkpoint of this run (its key from the manifest `stamp`), or None without either flag."""
    path = getattr(args, "checkpoint", None) or getattr(args, "resume", None)
    if path is None:
        return None
    same = {name: stamp[name] for name in ("scratchdream", "command", "settings", "guide", "kernels")}
    key = run_key(same, stamp["net"]["sha256"], stamp["input"]["sha256"])
    return Checkpoint(path, key, resume=args.resume)


def spent(args):
    """The run is done: its checkpoint is of no more use."""
    path = args.checkpoint or args.resume
    if path is not None:
        with contextlib.suppress(OSError):
            os.remove(path)


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
