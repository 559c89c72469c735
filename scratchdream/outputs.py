"""The output transaction: a run's outputs appear together when it succeeds, and not at all otherwise.

    with OutputSet(inputs=[image, guide], force=force) as outs:
        png = outs.add(out, "-o/--output")                    # every check now, before any work
        frames = outs.add_dir(folder, names, "--frames-dir")  # numbered frames, each name checked
        ...                                                   # the long work
        save_image(outs.temp(png), picture)                   # writers write temporary names only
    # left normally: every output is renamed to its final name, together; left by an exception,
    # Ctrl-C or SIGTERM: the temporaries are deleted and each folder is exactly as it was found

Checked when an output is added:
  - an output (or a frame) that is an input, by resolved path or by os.path.samefile (a symlink, a
    hard link), is refused even with --force: --force overwrites an earlier output, never the input;
  - two outputs of one run may not be the same file;
  - a name that exists in any form (file, folder, dangling symlink) needs --force, and a folder is
    never replaced by a file;
  - the folder exists and takes new files: the temporary file is created there at once.
The commit: without --force each final name is created exclusively (a hard link fails if the name
exists), so of two identical runs racing for one name the second refuses; with --force an old file
is set aside under a hidden name and deleted only once every output is in place. If a step fails,
or a signal comes meanwhile, the steps already done are undone in reverse.
"""

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading
from typing import NamedTuple

from .atomic import check_folder, disk_error, finish, new_file_mode, not_writable, remove_quietly, temp_beside
from .errors import UsageError, UserError

_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)  # FAT, some network shares


class _Move(NamedTuple):
    """One rename of the commit: the temporary file (or new folder) `tmp` becomes `final`."""

    tmp: str
    final: str
    label: str  # the flag that named it, for messages
    is_dir: bool


class OutputSet:
    """The outputs of one run: checked when added, written under temporary names, committed together."""

    def __init__(self, inputs=(), force=False):
        self.inputs = [os.fspath(p) for p in inputs if p is not None]
        self.force = force
        self._temps = {}  # final path as given -> the temporary file its writer fills
        self._moves = []  # _Move records, in the order of the commit
        self._scratch = []  # temporary files and staging folders, deleted at the end
        self._claimed = {}  # resolved path -> (label, path as given): no two outputs on one file
        self._old_sigterm = None

    def add(self, path, label="-o/--output"):
        """Check one output file now and give it a temporary name beside it; returns `path`."""
        path = os.fspath(path)
        self._check_name(path, label)
        tmp = temp_beside(path)  # also proves, before any work, that the folder takes new files
        self._scratch.append(tmp)
        self._temps[path] = tmp
        self._moves.append(_Move(tmp, path, label, False))
        return path

    def add_dir(self, folder, names, label="--frames-dir"):
        """Check a folder of outputs (numbered frames) now, each name as add() would; returns their paths.

        A new folder is filled under a hidden name beside it and renamed at the commit; in a folder
        that exists, the files wait in a hidden sub-folder and are renamed one by one."""
        folder = os.fspath(folder)
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise UsageError(f"{label} {folder} is a file; give a folder")
        self._claim(folder, label)
        finals = []
        for name in names:
            if os.path.basename(name) != name:
                raise ValueError(f"add_dir takes plain file names, got {name!r}")
            finals.append(os.path.join(folder, name))
            self._check_name(finals[-1], label)
        exists = os.path.isdir(folder)
        staging = _staging_folder(folder if exists else check_folder(folder), folder)
        self._scratch.append(staging)
        for final in finals:
            self._temps[final] = os.path.join(staging, os.path.basename(final))
            if exists:
                self._moves.append(_Move(self._temps[final], final, label, False))
        if not exists:
            self._moves.append(_Move(staging, folder, label, True))
        return finals

    def temp(self, final):
        """The temporary path to write `final`'s content to (same folder, same extension)."""
        return self._temps[os.fspath(final)]

    # ---- the checks --------------------------------------------------------------------------------
    def _check_name(self, path, label):
        for source in self.inputs:
            if _same_file(path, source):
                also = "" if path == source else f" ({source})"
                raise UsageError(
                    f"{label} {path} is the input itself{also}; --force overwrites an earlier output, "
                    "never the input: choose another name"
                )
        self._claim(path, label)
        if os.path.isdir(path):
            raise UsageError(f"{label} {path} is a folder; give a file name")
        if os.path.lexists(path) and not self.force:
            dangling = "" if os.path.exists(path) else " (a symbolic link to nothing)"
            raise UsageError(
                f"{path} already exists{dangling}; pass --force (with make: FORCE=1) to overwrite it or "
                f"choose another {label}"
            )

    def _claim(self, path, label):
        key = os.path.realpath(path)
        if key in self._claimed:
            other_label, other = self._claimed[key]
            raise UsageError(f"{label} {path} and {other_label} {other} are the same file; give two names")
        self._claimed[key] = (label, path)

    # ---- the end of the run ------------------------------------------------------------------------
    def __enter__(self):
        self._old_sigterm = _exit_on_sigterm()
        return self

    def __exit__(self, kind, error, tb):
        try:
            with _signals_held() as held:
                try:
                    if kind is None:
                        self._commit(held)
                finally:
                    self._clean()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
        if isinstance(error, UserError) and self._final_names(str(error)) != str(error):
            # a writer named the temporary file; the user knows the final one (a SettingError, whose
            # message the CLI words again with its flags, names no file and is left as it is)
            kind = UsageError if isinstance(error, UsageError) else UserError
            raise kind(self._final_names(str(error))) from None
        return False

    def _commit(self, held):
        """Rename every temporary onto its final name, or (on any failure, or a signal) none of them."""
        missing = [final for final, tmp in self._temps.items() if not _has_content(tmp)]
        if missing:
            raise RuntimeError(f"OutputSet: {missing[0]} was added but never written ({len(missing)} in all)")
        for tmp in self._temps.values():
            finish(tmp)
        for move in self._moves:
            if move.is_dir:
                os.chmod(move.tmp, new_file_mode(0o777))  # mkdtemp made it 0700
        done = []  # (move, the old entry set aside or None)
        try:
            for move in self._moves:
                done.append((move, self._publish(move)))
        except BaseException as e:
            _undo(done)
            error = disk_error(move.final, e) if isinstance(e, OSError) else None
            if error is None:
                raise
            raise error from None
        if held:  # Ctrl-C or SIGTERM during the renames: the run counts as interrupted, so undo it
            _undo(done)
            return
        for _, old in done:
            if old is not None:
                remove_quietly(old)

    def _publish(self, move):
        """Give `move.tmp` its final name; returns the old entry set aside (with --force), or None."""
        old = None
        if self.force and not move.is_dir and os.path.lexists(move.final) and not os.path.isdir(move.final):
            old = _set_aside(move.final)
        try:
            _create(move.tmp, move.final, move.is_dir)
        except OSError as e:
            if old is not None:
                with contextlib.suppress(OSError):
                    os.rename(old, move.final)
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise UserError(
                    f"{move.final} was created by someone else during this run; pass --force to overwrite "
                    f"it or choose another {move.label}"
                ) from None
            raise
        return old

    def _clean(self):
        for path in self._scratch:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                remove_quietly(path)

    def _final_names(self, text):
        for move in self._moves:  # each temporary file, or the hidden folder the frames are in
            text = text.replace(move.tmp, move.final)
        return text


# ---- the file-system steps -------------------------------------------------------------------------
def _same_file(a, b):
    """True if `a` and `b` name one file: the same resolved path, or the same inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _has_content(tmp):
    return os.path.isfile(tmp) and os.path.getsize(tmp) > 0


def _staging_folder(where, path):
    """A new hidden folder `.NAME.XXXXXXXX.part` in the folder `where` (absolute path)."""
    try:
        staging = tempfile.mkdtemp(
            prefix=f".{os.path.basename(os.path.abspath(path))}.", suffix=".part", dir=where
        )
    except OSError as e:
        raise not_writable(path, where, e) from None
    return os.path.abspath(staging)


def _create(tmp, final, is_dir):
    """Give `tmp` the new name `final`; OSError EEXIST (for a folder ENOTEMPTY, ENOTDIR) if it is taken."""
    if is_dir:
        os.rename(tmp, final)  # atomic; takes the place of an empty folder at most
        return
    try:
        os.link(tmp, final)  # fails if `final` exists in any form: the exclusive create
    except OSError as e:
        if e.errno not in _NO_HARD_LINKS:
            raise
        os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL))  # claim the name, then fill it
        os.replace(tmp, final)


def _set_aside(final):
    """Rename an existing entry to a hidden name beside it, to wait there until the commit is done."""
    fd, old = tempfile.mkstemp(prefix=f".{os.path.basename(final)}.", suffix=".old", dir=check_folder(final))
    os.close(fd)
    try:
        os.rename(final, old)  # takes the place of the empty file mkstemp made
    except BaseException:
        remove_quietly(old)
        raise
    return old


def _undo(done):
    """Take back published moves, last first: each final name holds again what it held before."""
    for move, old in reversed(done):
        with contextlib.suppress(OSError):
            if old is not None:
                os.rename(old, move.final)  # the old file takes its name back, in place of ours
            elif move.is_dir:
                os.rename(move.final, move.tmp)
            else:
                os.remove(move.final)


# ---- signals ---------------------------------------------------------------------------------------
def _exit_on_sigterm():
    """While the run works, SIGTERM raises SystemExit (exit code 143), so the clean-up runs. Returns the
    handler to restore, or None when left alone (a handler of the caller's own, or not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_held():
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block ends, so that a commit or a clean-up is never
    cut in half; yields the list of those that came meanwhile, which are delivered afterwards."""
    held, old = [], {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(s) not in (signal.SIG_IGN, None):
                old[s] = signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(held):  # each once, in the order they came
            signal.raise_signal(s)
