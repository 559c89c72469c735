"""Parameters read when first used: a dream on conv4_3 of VGG16 never reads its classifier.

VGG16 holds 138 M parameters, 124 M of them in the three fully connected layers that a dream on a
convolution never reaches; read eagerly they are 500 MB of a dream's peak memory. `LazyParams` is the
{layer: {"weight": w, "bias": b}} mapping a Net keeps, whose values are read from the weights file the
first time a layer asks for them (Net.forward asks only for the layers its plan runs) and then kept.
Reading a weights file (weights_io.py) still checks everything first: the architecture, every dataset's
name, shape, type and storage; what waits is only the reading of the numbers (checked again then, and for
NaN). `loaded()` says which layers have been read (the test of the classifier-free dream reads it).
"""

from collections.abc import Mapping


class LazyParams(Mapping):
    """layer -> {"weight": .., "bias": ..}, each layer read by `read_layer(layer)` on first access."""

    def __init__(self, shapes, read_layer):
        self.shapes = {layer: dict(keys) for layer, keys in shapes.items() if keys}  # layers with params
        self._read_layer = read_layer
        self._read = {}

    def __getitem__(self, layer):
        if layer not in self.shapes:
            raise KeyError(layer)
        if layer not in self._read:
            self._read[layer] = self._read_layer(layer)
        return self._read[layer]

    def __iter__(self):
        return iter(self.shapes)

    def __len__(self):
        return len(self.shapes)

    def loaded(self):
        """The layers whose parameters have been read so far, in the order they were read."""
        return list(self._read)
