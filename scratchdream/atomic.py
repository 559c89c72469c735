"""Atomic file writes: the destination holds the old content or the complete new one, never half.

Write to a temporary file in the destination's folder, flush and fsync it, then rename it over the
destination (a rename within one file system is atomic). On any failure, Ctrl-C included, the
temporary file is removed and the destination is untouched.
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
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise UserError(
            f"cannot write {path}: the folder {folder} {problem}; create it or choose another output"
        )
    base = os.path.basename(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part" + os.path.splitext(base)[1], dir=folder)
    except OSError as e:  # EACCES, EROFS, and ENOENT from /proc-like folders that take no files
        raise UserError(
            f"cannot write {path}: the folder {folder} is not writable ({e.strerror}); "
            "choose another output folder"
        ) from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _new_file_mode())  # mkstemp made it 0600; give it the usual mode
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise UserError(
                f"cannot write {path}: the disk is full or the file is too large ({e.strerror}); free space and run again"
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise UserError(f"cannot write {path}: permission denied; choose another output folder") from None
        raise
    except BaseException:
        _remove(tmp)
        raise


def _new_file_mode():
    """The mode open() would give a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove(tmp):
    with contextlib.suppress(OSError):
        os.remove(tmp)
