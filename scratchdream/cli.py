"""The command line: `scratchdream dream | lecture | zoom | layers | fetch | convert | bench | toyworld`.

Every option and its default lives here, in one place. Each subcommand hands its parsed arguments
to one function in the module that does the work (see COMMANDS). User mistakes arrive here as
UserError and leave as one line on stderr with exit code 2 (usage) or 1; Ctrl-C exits 130.
"""

import argparse
import importlib
import signal
import sys

from .errors import UsageError, UserError

COMMANDS = {  # subcommand -> "module:function(args)"
    "dream": "scratchdream.deepdream.run:cmd_dream",
    "lecture": "scratchdream.deepdream.run:cmd_lecture",
    "zoom": "scratchdream.deepdream.run:cmd_zoom",
    "layers": "scratchdream.nets.zoo:cmd_layers",
    "fetch": "scratchdream.fetch:cmd_fetch",
    "convert": "scratchdream.nets.convert:cmd_convert",
    "bench": "scratchdream.bench:cmd_bench",
    "toyworld": "scratchdream.toyworld.cli:cmd_toyworld",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own mistakes become one line, exit 2
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _sub(subs, name, help, example):
    return subs.add_parser(
        name, help=help, description=f"{help}\n\nexample:\n  {example}", formatter_class=_formatter
    )


def _whole(text, what="a whole number >= 0"):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _seed(text):
    """argparse type for --seed: numpy's generators take whole numbers >= 0 only."""
    return _whole(text)


def _jobs(text):
    """argparse type for toyworld train --jobs: 1 (one net after the other) or 2 (side by side)."""
    value = _whole(text, "1 or 2")
    if value not in (1, 2):
        raise argparse.ArgumentTypeError(f"must be 1 or 2, got {text!r}")
    return value


def _margin(text):
    """argparse type for --tile-margin: pixels >= 0, or 'exact' for one receptive field."""
    return text if text == "exact" else _whole(text, "a whole number of pixels >= 0 or 'exact'")


def _dream_options(p, steps=10):
    """Options shared by dream, lecture and zoom."""
    p.add_argument(
        "--net",
        default="googlenet",
        help="zoo name or weights .h5 file (default: googlenet; toyworld works offline)",
    )
    p.add_argument(
        "--layer",
        action="append",
        metavar="NAME[:WEIGHT]",
        help="layer to amplify, repeatable with weights (default: the net's suggested layer)",
    )
    p.add_argument("--channel", type=int, help="amplify one channel of the layer (mean of its squares)")
    p.add_argument("--neuron", metavar="C,Y,X", help="amplify one neuron h_ij of the layer (slide 34)")
    p.add_argument(
        "--steps", type=int, default=steps, help=f"gradient-ascent steps per octave (default {steps})"
    )
    p.add_argument(
        "--step-size",
        type=float,
        default=1.5,
        help="step size: mean pixel change per step in grey levels "
        "(default 1.5, as the original notebook); lecture: eta itself (default: chosen at the first step)",
    )
    p.add_argument(
        "--seed", type=_seed, default=0, help="random seed >= 0: same seed, same bytes (default 0)"
    )
    p.add_argument(
        "-o",
        "--output",
        help="output image (default beside the input: INPUT_dream.png, INPUT_lecture.png, INPUT_zoom.gif)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument(
        "--weights-dir", help="folder of converted weights (default: weights/ or $SCRATCHDREAM_WEIGHTS)"
    )


def _ascent_options(p, octaves):
    """Options shared by dream and zoom: octaves, jitter, normalisation, tiling."""
    p.add_argument("--octaves", type=int, default=octaves, help=f"number of scales (default {octaves})")
    p.add_argument("--octave-scale", type=float, default=1.4, help="ratio between scales, > 1 (default 1.4)")
    p.add_argument(
        "--jitter", type=int, default=32, help="random roll in pixels each step, 0 = off (default 32)"
    )
    p.add_argument(
        "--normalize",
        choices=["mean", "std", "laplacian"],
        default="mean",
        help="gradient normalisation (default mean, as the original)",
    )
    p.add_argument(
        "--smooth", type=float, default=0.0, help="gradient smoothing sigma in pixels (default 0 = off)"
    )
    p.add_argument(
        "--tile", type=int, default=1024, help="tile size for big images, 0 = never tile (default 1024)"
    )
    p.add_argument(
        "--tile-margin",
        type=_margin,
        help="context around each tile in pixels, or 'exact' (one receptive "
        "field: exact gradients, about 3x the work); default: the widest that adds at most 10%% work",
    )


def build_parser():
    parser = _Parser(
        prog="scratchdream",
        description="Deep Dream from scratch (NumPy + Numba), beside the CS7015 lecture.",
        formatter_class=_formatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _sub(
        subs,
        "dream",
        "dream on an image (octaves, jitter, tiling, guides)",
        "scratchdream dream sky.jpg --net toyworld --octaves 4",
    )
    p.add_argument("image")
    _dream_options(p)
    _ascent_options(p, octaves=4)
    p.add_argument(
        "--guide", metavar="IMG", help="guided dream: maximise the dot product with this image's features"
    )
    p.add_argument(
        "--from",
        dest="start",
        choices=["image", "noise", "grey"],
        default="image",
        help="start from the image, noise or grey",
    )
    p.add_argument(
        "--gif",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write the dream's progress as an animated GIF",
    )

    p = _sub(
        subs,
        "lecture",
        "the slides exactly: L = h_ij^2, dL/di_mn by the chain rule, i_mn += eta dL/di_mn, repeat",
        "scratchdream lecture sky.jpg --net toyworld --layer conv3 --neuron 5,8,8",
    )
    p.add_argument("image")
    _dream_options(p, steps=20)
    p.set_defaults(step_size=None)
    p.add_argument("--gif", metavar="PATH", help="GIF of the steps (default: beside the output, .gif)")

    p = _sub(
        subs,
        "zoom",
        "the classic zoom animation: dream, zoom in a little, dream again",
        "scratchdream zoom sky.jpg --net toyworld --frames 30",
    )
    p.add_argument("image")
    _dream_options(p, steps=5)
    p.add_argument("--frames", type=int, default=30, help="number of frames (default 30)")
    p.add_argument("--zoom", type=float, default=1.05, help="zoom factor per frame (default 1.05)")
    _ascent_options(p, octaves=2)
    p.add_argument(
        "--frames-dir", help="numbered PNG frames go here (default: beside the GIF, OUTPUT_frames/)"
    )

    p = _sub(
        subs,
        "layers",
        "list a network's layers with output shapes",
        "scratchdream layers googlenet --size 224",
    )
    p.add_argument("net")
    p.add_argument(
        "--size", default="224", metavar="H[xW]", help="image size to compute shapes for (default 224)"
    )
    p.add_argument("--weights-dir")

    p = _sub(
        subs,
        "fetch",
        "download a pretrained network, verify it and convert it to HDF5",
        "scratchdream fetch googlenet",
    )
    p.add_argument("name")
    p.add_argument("--weights-dir")

    p = _sub(
        subs,
        "convert",
        "convert a checkpoint you already have (.caffemodel, .pth, Keras .h5)",
        "scratchdream convert vgg16-397923af.pth -o weights/vgg16.h5",
    )
    p.add_argument("file")
    p.add_argument("--net", help="which architecture (default: recognised from the file)")
    p.add_argument("-o", "--output")
    p.add_argument("--force", action="store_true")
    p.add_argument("--prototxt", help="Caffe only: also check the architecture against this deploy.prototxt")

    p = _sub(
        subs, "bench", "time one dream step against PyTorch on this CPU", "scratchdream bench --sizes 224,512"
    )
    p.add_argument("--nets", default="googlenet,vgg16")
    p.add_argument("--sizes", default="224,512,1024")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument(
        "--threads", type=int, default=0, help="threads for Numba, BLAS and torch (default: all cores)"
    )
    p.add_argument(
        "--layer-size", type=int, default=224, help="image size of the per-conv-layer table (0: skip it)"
    )
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip the Numba compile-time probe"
    )
    p.add_argument(
        "--no-tiling",
        dest="tiling",
        action="store_false",
        help="skip the tiling rows (the largest size untiled vs in tiles of half that size, scratchdream only)",
    )
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time (default), or CPU time of the process: fair on a busy machine with --threads 1",
    )

    p = _sub(
        subs,
        "toyworld",
        "the offline toy world: train its network, or run the lecture's demonstration",
        "scratchdream toyworld demo",
    )
    p.add_argument("action", choices=["train", "demo"])
    p.add_argument("--seed", type=_seed, default=0, help="seed for scenes, weights and dreams (default 0)")
    p.add_argument(
        "-o",
        "--output",
        help="train: weights file (default weights/toyworld.h5, control beside it); "
        "demo: output folder (default docs/img/)",
    )
    p.add_argument("--steps", type=int, help="train: minibatches per net (default: toyworld.train.STEPS)")
    p.add_argument(
        "--jobs",
        type=_jobs,
        help="train: processes, 2 trains the net and its control at the same time "
        "on one core each (default: 2 if the machine has 2 cores)",
    )
    p.add_argument(
        "--no-control", action="store_true", help="train: skip the control net (backgrounds shuffled)"
    )
    p.add_argument("--control-only", action="store_true", help="train: only the control net")
    return parser


def main(argv=None):
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit then gives EFBIG, which we report, not a silent kill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if (
        hasattr(signal, "SIGUSR1") and argv is None
    ):  # `kill -USR1 PID` prints where a stuck run is (tests use it)
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            raise UsageError(
                "scratchdream: give a command, e.g. `scratchdream dream sky.jpg --net toyworld` (see --help)"
            )
        module, func = COMMANDS[args.command].split(":")
        return getattr(importlib.import_module(module), func)(args) or 0
    except UserError as e:
        print(f"scratchdream: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("scratchdream: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line unless --debug
        if debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:200]  # numba's messages run to dozens of lines
        print(
            f"scratchdream: internal error: {type(e).__name__}: {first} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
