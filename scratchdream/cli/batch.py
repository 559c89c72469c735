"""`scratchdream dream *.jpg -o outdir/`: many pictures, each dreamed on its own, here or on Dask workers.

Each picture becomes outdir/NAME_dream.png. All the outputs are checked before any work and appear
together at the end (the output transaction, outputs.py), as for one picture. With --workers N (a local
Dask cluster) or --scheduler ADDRESS the pictures are the tasks: the weights go once to each worker and
each worker loads the net once (distributed.py); the pictures travel to the workers, so the other
machines need no shared folder. Each picture is dreamed with the settings one picture would get (the
net's dream defaults, then the recipe, then the flags: deepdream/defaults.py), and its PNG carries the
manifest of its own dream, so `scratchdream replay` rebuilds any one of them alone.
"""

import itertools
import os
import sys
from argparse import Namespace

from ..errors import UsageError
from ..image_io import load_image
from ..outputs import OutputSet
from . import explain
from .common import load_net, save_picture, summary
from .flags import cores, whole
from .manifests import dream_settings, for_run, net_record
from .paths import DREAM_SUFFIX
from .settle import fitted, settled, under_memory


def add_options(p):
    """dream's options for many pictures: the extra picture names, --workers, --scheduler."""
    p.add_argument("more", nargs="*", metavar="IMAGE", help="more pictures: then -o names a folder")
    p.add_argument(
        "--workers",
        type=whole(1, 4096, "worker processes"),
        help="dream the pictures on a local Dask cluster of this many processes "
        "(needs scratchdream[dask]; default: none, one process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="dream the pictures on an existing Dask cluster (default: none)",
    )


def wanted(args):
    """Whether a dream command line is for this module: several pictures, -o a folder, or Dask."""
    return bool(args.more) or _is_folder(args.output) or bool(args.workers or args.scheduler)


def _is_folder(out):
    return bool(out) and (out.endswith(("/", os.sep)) or os.path.isdir(out))


def run(args, options, recipe=None):
    """Dream every picture of the command line into the folder -o (default: beside each picture), each
    with `options` completed by the net's dream defaults and the `recipe` as for one picture."""
    from .. import distributed as dd

    if args.gif is not None:
        raise UsageError("--gif is for one picture; leave it out when dreaming many")
    if args.workers and args.scheduler:
        raise UsageError(
            "give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both"
        )
    for flag, given in (("--explain", explain.wanted(args)), ("--checkpoint", args.checkpoint)):
        if given:
            raise UsageError(f"{flag} is for one picture; leave it out when dreaming many")
    if args.resume:
        raise UsageError("--resume is for one picture; dream the pictures not yet done again instead")
    images = [args.image, *args.more]
    with OutputSet([*images, args.guide, args.net], force=args.force) as outs:
        outs_by_image = [outs.add(path) for path in _outputs(images, args.output)]
        net = load_net(args.net, args.weights_dir)  # parameters read lazily, as a dream needs them
        options = settled(args, net, options, recipe)
        with dd.cluster(args.workers, args.scheduler, cores()) as client:
            _dream_all(args, net, options, images, outs, outs_by_image, client)
    summary(f"dreamed {len(images)} pictures -> {os.path.dirname(outs_by_image[0]) or '.'}/")
    return 0


def _outputs(images, given):
    """NAME_dream.png in the folder -o, or beside each picture; -o a file only for a single picture."""
    if _is_folder(given):
        return [os.path.join(given, os.path.splitext(os.path.basename(i))[0] + DREAM_SUFFIX) for i in images]
    if given and len(images) > 1:
        raise UsageError(f"-o {given}: for {len(images)} pictures -o names a folder; end it with /")
    return [given] if given else [os.path.splitext(i)[0] + DREAM_SUFFIX for i in images]


def _dream_all(args, net, options, images, outs, paths, client):
    from tqdm import tqdm

    from .. import distributed as dd

    alphas, settings = {}, {}
    net_rec = net_record(args.net, args.weights_dir, net)

    def items():  # each picture is read only when its turn comes
        for k, image in enumerate(images):
            img, alphas[k] = fitted(load_image(image), image, args.max_size)
            mine = under_memory(args, net, options, *img.shape[:2])
            settings[k] = dream_settings(mine, args.max_size)
            yield k, img, mine

    todo = items()
    first = next(todo)  # the first picture read and settled before the bar: a mistake in it is one line
    todo = itertools.chain([first], todo)
    bar = tqdm(total=len(images), unit="picture", desc="dream", file=sys.stderr, dynamic_ncols=True)

    def on_result(result):
        k, dream = result
        alone = Namespace(**{**vars(args), "image": images[k]})  # the command line of this picture alone
        stamp = for_run("dream", settings.pop(k), alone, net, args.guide, net_rec)
        save_picture(outs, paths[k], dream, alphas.pop(k), stamp)
        bar.update(1)

    if client is None:
        for item in todo:
            on_result(dream_task(net, item))
    else:
        dd.map_on_dask(client, dd.read_weights(args.net, args.weights_dir), dream_task, todo, on_result)
    bar.close()


def dream_task(net, item):
    """One picture's dream (here or on a worker): (k, dream)."""
    from ..deepdream.loop import run as run_dream

    k, img, options = item
    return k, run_dream(net, img, options, progress=False)
