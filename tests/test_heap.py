"""layers/fast/heap.py: glibc's malloc thresholds raised once at import, a no-op without glibc's mallopt."""

import pytest

from scratchdream.layers.fast import heap


class _Libc:
    """A C library whose mallopt records its calls and accepts or refuses every one."""

    def __init__(self, accept):
        self.calls, self.accept = [], accept

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1 if self.accept else 0


@pytest.mark.skipif(heap._glibc() is None, reason="not glibc Linux")
def test_importing_the_fast_kernels_raised_glibcs_thresholds():
    assert heap.APPLIED == {"M_MMAP_THRESHOLD": 1 << 30, "M_TRIM_THRESHOLD": 1 << 30}


def test_apply_calls_mallopt_with_glibcs_parameters():
    libc = _Libc(accept=True)
    assert heap.apply(libc) == {
        "M_MMAP_THRESHOLD": heap.MMAP_THRESHOLD,
        "M_TRIM_THRESHOLD": heap.TRIM_THRESHOLD,
    }
    assert libc.calls == [(-3, 1 << 30), (-1, 1 << 30)]
    assert heap.apply(_Libc(accept=False)) == {}  # refused: nothing claimed


def test_without_mallopt_it_is_a_no_op(monkeypatch):
    assert heap.apply(object()) == {}  # a C library without mallopt (musl, macOS's, Windows's)
    monkeypatch.setattr(heap.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(heap.sys, "platform", "linux")
    assert heap._glibc() is None and heap.apply() == {}
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap._glibc() is None
