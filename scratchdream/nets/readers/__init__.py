"""Readers for the publishers' checkpoint files, written by hand: no torch, Caffe or TensorFlow.

    pth.load_state_dict(path)          PyTorch .pth (zip, or the legacy pre-1.6 pickle stream)
                                       -> OrderedDict[str, np.ndarray]
    caffemodel.read_caffemodel(path)   Caffe .caffemodel (V1 `layers` or V2 `layer`)
                                       -> OrderedDict[layer name, list[np.ndarray]]
    caffemodel.read_caffemodel_layers  the same with each layer's type, bottoms, tops and parameters
    prototxt.parse_prototxt(text)      Caffe's text format (deploy.prototxt) -> nested dicts
    prototxt.read_prototxt(path)       the same from a file
    keras_h5.read_keras_weights(path)  Keras .h5 weights -> OrderedDict[layer name, list[np.ndarray]]
    onnx.read_onnx(path)               ONNX .onnx -> OnnxGraph (nodes, initializers, inputs, outputs);
                                       nets/onnx_graph.py makes the architecture from it
Helpers: protobuf.py (the wire format), pickle_safe.py (unpickling without running code),
torch_objects.py (the stand-ins a checkpoint's pickle gets instead of torch's classes),
hdf5_safe.py (HDF5 datasets that must lie in the file itself; also used by weights_io.py).

Every file here is untrusted input. The readers share four rules: no code from the file ever runs
(pickle_safe.py allows a short list of harmless globals); every length is checked against the bytes
that remain before anything is allocated; time and memory grow no faster than the file's size, with
counts (instructions, layers, blobs) bounded by what the largest real network needs; and any damage
ends in one UserError line that names the file and the fix, never in another exception.

Worst cost measured per byte of input, on files crafted to be as costly as each reader's limits allow
(CPU time; peak memory on top of the reader's own): .pth legacy 1.7 us, 72 B; .pth zip 7 us, 513 B (its
data.pkl may inflate 8x; 1 s and 71 MB at most); .caffemodel 0.5 us, 21 B; .prototxt 0.8 us, 91 B
(4 MB at most); Keras .h5 0.13 us, 5 B; our .h5 0.28 us, 5 B; .onnx 1.0 us, 16 B (unpacked floats cost
the time, float16 varints the memory; measured on a busy machine). tests/test_readers_limits.py has the
crafted files that go past the limits.
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
