"""Readers for the publishers' checkpoint files, written by hand: no torch, Caffe or TensorFlow.

    pth.load_state_dict(path)          PyTorch .pth (zip, or the legacy pre-1.6 pickle stream)
                                       -> OrderedDict[str, np.ndarray]
    caffemodel.read_caffemodel(path)   Caffe .caffemodel (V1 `layers` or V2 `layer`)
                                       -> OrderedDict[layer name, list[np.ndarray]]
    caffemodel.read_caffemodel_layers  the same with each layer's type, bottoms, tops and parameters
    prototxt.parse_prototxt(text)      Caffe's text format (deploy.prototxt) -> nested dicts
    keras_h5.read_keras_weights(path)  Keras .h5 weights -> OrderedDict[layer name, list[np.ndarray]]
Helpers: protobuf.py (the wire format), pickle_safe.py (unpickling without running code),
torch_objects.py (the stand-ins a checkpoint's pickle gets instead of torch's classes).

Every file here is untrusted input. The readers share four rules: no code from the file ever runs
(pickle_safe.py allows a short list of harmless globals); every length is checked against the bytes
that remain before anything is allocated; time and memory grow no faster than the file's size, with
counts (instructions, layers, blobs) bounded by what the largest real network needs; and any damage
ends in one UserError line that names the file and the fix, never in another exception.
"""

import os
import reprlib
import stat

from ...errors import UserError

MAX_OUTPUT_BYTES = 4 << 30  # no published net comes near 4 GiB of weights; refuse before allocating


def check_file(path, what):
    """Return the size of `path` after checking it is a readable regular file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not a {what}; give the path of the file itself")
    try:
        st = os.stat(path)  # stat first: opening a named pipe would block
        if not stat.S_ISREG(st.st_mode):  # a pipe or a device could stream forever
            raise UserError(f"{path} is not a regular file; give the {what} itself")
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found; check the path or run `scratchdream fetch NAME`") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path} ({e.strerror}); check its permissions") from None
    return st.st_size


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


def short(value):
    """repr(value) in a few dozen characters, however large or deep the value (for error messages)."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int too long to print
        return f"<{type(value).__name__}>"


def damaged(path, what, detail):
    """The one error every reader raises for a file that is not what it claims to be."""
    return UserError(f"{path} is not a readable {what} ({detail}); download or convert it again")
