"""What a dream of one picture is given, the same for `dream IMG` and `dream A B ... -o DIR/` (batch.py):
the settings completed by the net's dream defaults, the recipe and --class; the tile that keeps it under
--max-memory; the picture shrunk to --max-size."""

import dataclasses

from ..deepdream import budget, defaults
from ..image_io import note, shrink
from ..nets import classes, memory, zoo
from .common import given_settings


def settled(args, net, options, recipe=None):
    """options with the net's dream defaults, then the recipe's settings, put in where the user gave none
    (deepdream/defaults.py), and --class made the objective."""
    given = given_settings(args) | ({"layers", "channel"} if args.dream_class is not None else set())
    options = defaults.for_net(net, options, given, recipe)
    if args.dream_class is not None:  # L = h_k, the class's score before the softmax
        k = classes.find(net, args.dream_class, zoo.class_names(net))
        options = dataclasses.replace(options, layers=[classes.logits_layer(net)], channel=k)
    return options


def under_memory(args, net, options, H, W):
    """options with the tile that keeps an HxW dream under --max-memory (unchanged without it)."""
    if args.max_memory is None:
        return options
    memory.keep_low()  # a cap asked for: freed pages go back to the system after each big layer
    return dataclasses.replace(options, tile=budget.tile_under(net, options, H, W, args.max_memory))


def fitted(picture, name, max_size):
    """The picture (and its alpha) shrunk to --max-size; a note when a big one is dreamed at full size."""
    img, alpha = picture
    H, W = img.shape[:2]
    if max_size and max(H, W) > max_size:
        img = shrink(img, max_side=max_size)
        note(f"{name} is {W}x{H}; dreaming at {img.shape[1]}x{img.shape[0]} (--max-size {max_size})")
    elif not max_size and H * W > BIG_PICTURE:
        mp = f"{H * W / 1e6:.0f}"
        note(
            f"{name} is {W}x{H} ({mp} MP): a dream costs about its pixel count, so this one takes {mp}x "
            "as long as a 1 MP picture; --max-size 1024 dreams it smaller"
        )
    return img, alpha  # save_image fits the alpha to the picture's size


BIG_PICTURE = 4_000_000  # pixels: a 12 MP phone photo is 3x that
