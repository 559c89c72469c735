"""atomic_path: all or nothing, and the file gets the mode a plain open() would give it."""

import os
import stat

import pytest

from scratchdream.atomic import atomic_path


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
