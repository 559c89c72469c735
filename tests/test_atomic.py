"""atomic_path: all or nothing, and the file gets the mode a plain open() would give it."""

import errno
import os
import stat

import pytest

from scratchdream.atomic import atomic_path
from scratchdream.errors import UserError


def test_complete_write_replaces_and_has_umask_mode(tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    old = os.umask(0o022)
    try:
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"new")
    finally:
        os.umask(old)
    assert dest.read_bytes() == b"new"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_failed_write_leaves_destination_and_no_temp(tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise KeyboardInterrupt
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize(
    "code, raised, text",
    [
        (errno.ENOSPC, UserError, r"^cannot write .*out\.bin: the disk is full or the file is too large"),
        (errno.EROFS, UserError, r"^cannot write .*out\.bin: permission denied"),
        (errno.EIO, OSError, r"Input/output error"),  # not the machine's known faults: passed on as it is
    ],
)
def test_os_errors_become_one_line_when_the_user_can_fix_them(tmp_path, code, raised, text):
    with pytest.raises(raised, match=text) as err:
        with atomic_path(tmp_path / "out.bin"):
            raise OSError(code, os.strerror(code))
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "where, text",
    [
        ("no/such/out.bin", r"the folder .*no/such does not exist"),
        ("/proc/out.bin", r"/proc is not writable"),
    ],
)
def test_a_folder_that_takes_no_file_is_one_line_before_the_block_runs(tmp_path, monkeypatch, where, text):
    monkeypatch.chdir(tmp_path)
    ran = []
    with pytest.raises(UserError, match=text):
        with atomic_path(where):
            ran.append(1)
    assert ran == [] and os.listdir(tmp_path) == []
