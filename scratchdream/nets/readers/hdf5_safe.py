"""The datasets of an untrusted HDF5 file, read defensively: for weights_io.py (ours) and keras_h5.py.

HDF5 is a small file system, and a dataset's numbers need not be where they seem:
    external storage  the dataset's creation properties list other files holding its bytes (/etc/passwd,
                      /dev/zero, a named pipe that blocks forever);
    virtual dataset   its elements are mapped from datasets in other files;
    external link     a name in the file leads to an object in another file; a soft link leads to another
                      path, which may itself be an external link;
    unwritten chunks  a chunked dataset declares its shape, but chunks never written read as the fill value:
                      a 400 KB file can declare 4 GB, allocated when read;
    filters           compression expands the stored bytes by any factor.
Neither our writer nor Keras makes any of these: their datasets are contiguous, uncompressed and reached by
hard links. So `Datasets.get` follows hard links only, and `Datasets.read` refuses every dataset whose
declared bytes are not stored in this file before it allocates anything: the bytes stored must cover the
declared size, lie inside the file, and all datasets read together hold at most the file's size.

libhdf5 itself is not hardened against damaged files. One fault the fuzz tests met is checked before
h5py opens the file (`check_global_heaps`): a global heap collection (where variable-length strings,
such as our attributes, live) whose object of index 0 has size 0 makes libhdf5 2.0.0 loop forever in
H5HG__cache_heap_deserialize, in C, where no signal handler of ours can stop it.
"""

import os

import numpy as np

from ...errors import UserError
from . import damaged

MAX_HEAP_OBJECTS = 100_000  # collections and objects in all: ours have one heap of six strings


def check_global_heaps(path, what):
    """Walk every global heap collection in the file as libhdf5 will ("GCOL", version 1, its size, then
    objects: index u16, references u16, 4 reserved bytes, size u64, data padded to 8 bytes; index 0 is the
    free space, its size counting its own header) and refuse one on which libhdf5 would never finish.
    The file is read SCAN_BLOCK bytes at a time (a memory map of a 550 MB file would count all of it in
    the process's resident memory once searched)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        objects = 0
        for at in _occurrences(f, size, b"GCOL\x01"):
            objects += 1  # a collection counts as one object too
            end = min(at + _u64(_read_at(f, at + 8, 8)), size)
            p = at + 16
            while p + 16 <= end:  # a shorter tail is free space to libhdf5
                head = _read_at(f, p, 16)
                index, length = int.from_bytes(head[0:2], "little"), _u64(head[8:16])
                step = length if index == 0 else 16 + (length + 7) // 8 * 8
                if step == 0:
                    raise damaged(path, what, f"global heap at byte {at} has an empty free-space object")
                objects += 1
                if objects > MAX_HEAP_OBJECTS:
                    raise damaged(path, what, f"more than {MAX_HEAP_OBJECTS:,} global heap objects")
                p += step


SCAN_BLOCK = 16 << 20


def _occurrences(f, size, needle):
    """Every offset of `needle` in the file, in order (overlapping ones too), reading block by block."""
    at, carry = 0, b""  # carry: the previous block's last len(needle) - 1 bytes, for a match across blocks
    while at < size:
        block = _read_at(f, at, SCAN_BLOCK)
        if not block:
            return
        data, base = carry + block, at - len(carry)
        i = data.find(needle)
        while i >= 0:
            yield base + i
            i = data.find(needle, i + 1)
        carry, at = data[len(data) - (len(needle) - 1) :], at + len(block)


def _read_at(f, offset, n):
    f.seek(offset)
    return f.read(n)


def _u64(b):
    return int.from_bytes(b.ljust(8, b"\0"), "little")


class Datasets:
    """The datasets of one open h5py.File `f` at `path`, read as described above."""

    def __init__(self, f, path, what):
        self.path, self.what = path, what
        self.file_size = os.path.getsize(path)
        self.left = self.file_size  # bytes all datasets read so far may still take

    def refuse(self, name, why):
        return UserError(
            f"refusing to read {self.path}: {name[:200]} {why}, which weight files never do "
            "(nothing was read); fetch or convert the weights again"
        )

    def get(self, group, name):
        """group[name] for a '/'-separated name, through hard links only; None when a part is missing."""
        import h5py

        node = group
        for part in name.split("/"):
            if not part:
                continue
            if not isinstance(node, h5py.Group):
                return None
            link = node.get(part, getlink=True)
            if link is None:
                return None
            if not isinstance(link, h5py.HardLink):
                kind = "an external" if isinstance(link, h5py.ExternalLink) else "a soft"
                raise self.refuse(name, f"is {kind} link (to another place or file)")
            node = node[part]
        return node

    def read(self, ds, name):
        """The numbers of dataset `ds` as an array of its own dtype, after the checks above."""
        self.check(ds, name)
        try:
            return np.asarray(ds[()])
        except OSError:
            raise UserError(
                f"{self.path}: {name[:200]} cannot be read (truncated file?); fetch or convert it again"
            ) from None

    def check(self, ds, name):
        """Everything `read` checks, without reading: the numbers are stored in this file, unfiltered, and
        all datasets checked so far fit in it (a lazy reader checks every dataset first, reads later)."""
        if ds.dtype.kind not in "biuf":
            raise self.refuse(name, f"holds {ds.dtype} values, not numbers")
        dcpl = ds.id.get_create_plist()
        if dcpl.get_external_count():
            raise self.refuse(name, "keeps its numbers in other files (external storage)")
        if ds.is_virtual:
            raise self.refuse(name, "is a virtual dataset (made of other files' data)")
        if dcpl.get_nfilters():
            raise self.refuse(name, f"is stored through filters ({self._filters(dcpl)})")
        if ds.shape is None:
            raise self.refuse(name, "has no shape (a null dataspace)")
        declared = ds.size * ds.id.get_type().get_size()
        stored = ds.id.get_storage_size()
        if declared > stored:
            raise self.refuse(name, f"declares {declared:,} bytes but stores {stored:,}")
        offset = ds.id.get_offset()  # None unless contiguous and written
        if stored > self.file_size or (offset is not None and offset + stored > self.file_size):
            raise self.refuse(name, f"claims {stored:,} bytes outside this {self.file_size:,}-byte file")
        self.left -= ds.size * ds.dtype.itemsize
        if self.left < 0:
            raise damaged(self.path, self.what, "its datasets add up to more bytes than the file holds")

    @staticmethod
    def _filters(dcpl):
        return ", ".join(dcpl.get_filter(i)[3].decode("ascii", "replace") for i in range(dcpl.get_nfilters()))
