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
"""

import os

import numpy as np

from ...errors import UserError
from . import damaged


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
        try:
            return np.asarray(ds[()])
        except OSError:
            raise UserError(
                f"{self.path}: {name[:200]} cannot be read (truncated file?); fetch or convert it again"
            ) from None

    @staticmethod
    def _filters(dcpl):
        return ", ".join(dcpl.get_filter(i)[3].decode("ascii", "replace") for i in range(dcpl.get_nfilters()))
