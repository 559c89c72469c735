"""scratchdream: Deep Dream from scratch in NumPy and Numba, read beside the CS7015 lecture (slides 34-35).

import scratchdream as sd
net = sd.load_net("toyworld")           # an HDF5 weights file, or a zoo name
a = net.forward(x, upto="conv3")        # activations h
dx = net.backward(2 * a)                # dL/dI for L = sum h^2: the chain rule back to the pixels
out = sd.dream(net, img, steps=10)      # the whole dream (scratchdream/deepdream/)
"""

import os

from .numba_threads import wait_passively

wait_passively()  # before Numba loads its OpenMP layer: waiting threads sleep instead of spinning

from .deepdream.loop import dream  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    """sd.Net, sd.save_net and sd.use_kernels are imported on first use, so `scratchdream --help` and a
    mistyped option answer at once instead of after loading Numba and every layer (about a second)."""
    if name == "Net":
        from .nets.graph import Net

        return Net
    if name == "save_net":
        from .weights_io import save_net

        return save_net
    if name == "use_kernels":  # "fast" (Numba, the default) or "reference" (scratchdream/layers/, NumPy)
        from .layers import use_kernels

        return use_kernels
    raise AttributeError(f"module 'scratchdream' has no attribute {name!r}")


def load_net(name_or_path, weights_dir=None):
    """A Net from an HDF5 weights file, or from a zoo name (fetched and converted on first use into
    `weights_dir`, by default weights/ or $SCRATCHDREAM_WEIGHTS); net.dream_defaults holds the settings that
    suit it (deepdream/defaults.py)."""
    from .nets.zoo import with_dream_defaults
    from .weights_io import load_file

    if os.path.exists(os.fspath(name_or_path)) or str(name_or_path).endswith((".h5", ".hdf5")):
        return with_dream_defaults(load_file(name_or_path))
    from .fetch import ensure_weights

    return with_dream_defaults(load_file(ensure_weights(str(name_or_path), weights_dir)))


__all__ = ["Net", "load_net", "save_net", "dream", "use_kernels"]
