"""What the replay and resume tests share: a folder of inputs (two tiny nets with the same architecture and
other weights, two pictures) and the command line run in-process inside that folder."""

import os

from dream_pictures import sky
from nets_for_tests import tiny_inception_net
from PIL import Image

import scratchdream as sd
from scratchdream import cli


def dream_files(d, H, W):
    """Into folder `d`: tiny.h5 and other.h5 (the same tiny net, weights of seed 0 and 1), sky.png and
    cloud.png (H x W skies of seed 0 and 1). Returns d."""
    sd.save_net(tiny_inception_net(0), d / "tiny.h5")
    sd.save_net(tiny_inception_net(1), d / "other.h5")
    Image.fromarray(sky(H, W, seed=0)).save(d / "sky.png")
    Image.fromarray(sky(H, W, seed=1)).save(d / "cloud.png")
    return d


def main_in(folder, argv):
    """cli.main(argv) run from `folder` (its outputs' default names land there); returns its exit code."""
    here = os.getcwd()
    os.chdir(folder)
    try:
        return cli.main([str(a) for a in argv])
    finally:
        os.chdir(here)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
