"""The dream settings that suit a net, carried in its weights file.

A small robust net and GoogLeNet do not want the same dream: the layer, the number of octaves, the step
size and the gradient normalisation that draw recognisable shapes differ from net to net. The weights file
carries them as one root attribute, `dream_defaults`: a JSON object whose keys are DreamOptions fields
(deepdream/options.py) and whose values are plain JSON (layers as ["name", "name:weight", ...]), so that
DreamOptions(**defaults) is the net's dream. The command line reads it (a flag you give wins); here the
toy world writes it after training and reads it for its demonstration.
"""

import json

ATTRIBUTE = "dream_defaults"


def write(path, defaults):
    """Add (or replace) the `dream_defaults` attribute of the weights file at `path`."""
    import h5py

    with h5py.File(path, "r+") as f:
        f.attrs[ATTRIBUTE] = json.dumps(defaults, sort_keys=True)


def read(path):
    """The `dream_defaults` of the weights file at `path` as a dict ({} when it has none)."""
    import h5py

    with h5py.File(path, "r") as f:
        text = f.attrs.get(ATTRIBUTE)
    if text is None:
        return {}
    return json.loads(text.decode() if isinstance(text, bytes) else text)
