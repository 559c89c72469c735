"""Atomic file writes: the destination holds the old content or the complete new one, never half.

Write to a temporary file in the destination's folder, flush and fsync it, then rename it over the
destination (a rename within one file system is atomic). On any failure, Ctrl-C included, the
temporary file is removed and the destination is untouched.

The pieces (`temp_beside`, `finish`, `disk_error`, `remove_quietly`) are also what `outputs.py`
builds a whole run's outputs from.
"""

import contextlib
import errno
import os
import tempfile

from .errors import UserError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is fsynced and renamed onto `path`."""
    path = os.fspath(path)
    tmp = temp_beside(path)
    try:
        yield tmp
        finish(tmp)
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        error = disk_error(path, e)
        if error is None:
            raise
        raise error from None
    except BaseException:
        remove_quietly(tmp)
        raise


def temp_beside(path):
    """A new empty file `.NAME.XXXXXXXX.partEXT` in `path`'s folder (absolute path), or one UserError
    line if that folder is missing, is a file, or takes no new files."""
    folder = check_folder(path)
    base = os.path.basename(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part" + os.path.splitext(base)[1], dir=folder)
    except OSError as e:  # EACCES, EROFS, and ENOENT from /proc-like folders that take no files
        raise not_writable(path, folder, e) from None
    os.close(fd)
    return tmp


def check_folder(path):
    """The absolute folder `path` would be written in; UserError if it is missing or is a file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise UserError(
            f"cannot write {path}: the folder {folder} {problem}; create it or choose another output"
        )
    return folder


def not_writable(path, folder, e):
    """The one line for a folder that refused a new entry (os error `e`)."""
    return UserError(
        f"cannot write {path}: the folder {folder} is not writable ({e.strerror}); "
        "choose another output folder"
    )


def finish(tmp):
    """Flush a written temporary file to the disk and give it the mode a plain open() would have."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
        os.fchmod(f.fileno(), new_file_mode())  # mkstemp made it 0600


def disk_error(path, e):
    """The UserError line for an OSError that is the machine's fault (full disk, no permission), or None."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return UserError(
            f"cannot write {path}: the disk is full or the file is too large ({e.strerror}); "
            "free space and run again"
        )
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(f"cannot write {path}: permission denied; choose another output folder")
    return None


def new_file_mode(kind=0o666):
    """The mode open() (kind 0o666) or mkdir() (kind 0o777) would give a new entry: less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return kind & ~umask


def remove_quietly(tmp):
    with contextlib.suppress(OSError):
        os.remove(tmp)
